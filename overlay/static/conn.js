"use strict";
// The websocket connection shared by the agent overlay and the supervisor console
// (protocol: docs/protocol.md). Takes the token from ?token=, reconnects by itself with
// backoff, resumes from the last seq it saw of each call, and never hands the page the same
// event twice. Requests (feedback, supervise) carry an id; their result or error resolves
// the promise `request()` returned.

class AssistConn {
  constructor({ onEvent, onMessage, onStatus, all = true, latest = false }) {
    const params = new URLSearchParams(location.search);
    this.token = params.get("token") || "";
    this.onEvent = onEvent;
    this.onMessage = onMessage || (() => {});
    this.onStatus = onStatus || (() => {});
    this.lastSeq = {};        // call id -> last seq handled
    this.callId = null;       // subscribe to one call, or null: every call the token sees
    this.all = all;           // with no callId: subscribe to every call (false: wait for one)
    this.latest = latest;     // replay only the newest call besides those being resumed
    this.backoff = 500;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, timer}
    this.duplicates = 0;      // events received twice and dropped (tests read it)
    this.connects = 0;
    this.ws = null;
  }

  start() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const url = `${proto}://${location.host}/ws?token=${encodeURIComponent(this.token)}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.onStatus("connecting");
    ws.onopen = () => { this.connects += 1; this.subscribe(); };
    ws.onmessage = (m) => this._receive(m.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error("disconnected")); }
      this.pending.clear();
      if (e.code === 4401) { this.onStatus("denied"); return; }
      this.onStatus("reconnecting");
      setTimeout(() => this.start(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  subscribe(callId) {
    if (callId !== undefined) this.callId = callId;
    if (!this.callId && !this.all) return;
    const msg = { type: "subscribe", since: { ...this.lastSeq }, latest: this.latest };
    if (this.callId) msg.call_id = this.callId;
    this.send(msg);
  }

  forget(callId) { delete this.lastSeq[callId]; }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(msg)); return true; }
    return false;
  }

  request(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...msg, id })) { reject(new Error("not connected")); return; }
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error("no answer")); }, 15000);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  _receive(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (typeof msg.seq === "number") {
      const last = this.lastSeq[msg.call_id] ?? -1;
      if (msg.seq <= last) { this.duplicates += 1; return; }
      this.lastSeq[msg.call_id] = msg.seq;
      this.onEvent(msg);
      return;
    }
    if (msg.type === "hello") { this.backoff = 500; this.onStatus("live"); }
    if ((msg.type === "result" || msg.type === "error") && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === "result") p.resolve(msg); else p.reject(new Error(msg.error));
      return;
    }
    this.onMessage(msg);
  }
}

function fmtTime(s) {
  s = Math.max(0, Math.floor(s || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Put a transcript line in `box` by its start time (audio seconds), whatever order finals
 * arrive in: before the first line that started later, else at the end. */
function placeLine(box, line, start) {
  line.dataset.start = String(start ?? 0);
  const t = Number(line.dataset.start);
  const next = [...box.querySelectorAll(":scope > .line")]
    .find((l) => l !== line && Number(l.dataset.start) > t);
  if (next) { if (line.nextSibling !== next) box.insertBefore(line, next); }
  else if (line !== box.lastElementChild) box.append(line);
}
