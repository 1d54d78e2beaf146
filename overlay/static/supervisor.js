"use strict";
// The supervisor console: the board of every call (sent by the server as `calls`, flagged
// calls first), one followed call's prompts and transcript live, and listen / whisper /
// barge buttons that go to the server's call control.

const $ = (id) => document.getElementById(id);
const MODES = ["listen", "whisper", "barge", "off"];
const follow = { call: null, prompts: new Map(), partials: {} };
let board = [];

const conn = new AssistConn({
  all: false,
  onEvent: followed,
  onMessage: (m) => {
    if (m.type === "hello") $("who").textContent = m.name;
    else if (m.type === "calls") { board = m.calls; render(); }
    else if (m.type === "error") notice(m.error, true);
  },
  onStatus: (s) => {
    $("status").textContent = I18N.t(s);
    $("status").className = s === "live" ? "ok" : "down";
  },
});
window.assist = { conn, follow, board: () => board };

function render() {
  const body = $("calls");
  body.replaceChildren();
  if (!board.length) {
    const tr = el("tr");
    const td = el("td", "muted", I18N.t("no_calls"));
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const c of board) {
    const tr = el("tr", "call");
    tr.dataset.call = c.call_id;
    tr.classList.toggle("flagged", c.flagged);
    tr.classList.toggle("ended", !c.live);
    tr.classList.toggle("selected", c.call_id === follow.call);
    const state = el("td");
    if (c.flagged) state.append(el("span", "flagtag", I18N.t(`flag_${c.flag_reason}`)));
    const agent = el("td");
    agent.append(el("div", "", c.agent || "?"), el("div", "muted", `${c.call_id} · ${I18N.t(c.live ? "status_live" : "status_ended")}`));
    const flags = el("td");
    for (const f of c.flags) {
      const chip = el("span", `chip ${f.severity}`, f.rule);
      chip.title = f.text;
      flags.append(chip);
    }
    const last = el("td", "", c.last_prompt ? c.last_prompt.text : "");
    const mood = el("td", "", c.mood ? I18N.t(`mood_${c.mood}`) : "—");
    const actions = el("td", "actions");
    for (const mode of MODES) {
      const b = el("button", mode === c.supervisor ? "on" : "", I18N.t(mode));
      b.dataset.mode = mode;
      b.onclick = (e) => { e.stopPropagation(); supervise(c.call_id, mode); };
      actions.append(b);
    }
    tr.append(state, agent, el("td", "", fmtTime(c.duration_s)), flags, last, mood, actions);
    tr.onclick = () => startFollowing(c.call_id, c.lang);
    body.append(tr);
  }
}

async function supervise(callId, mode) {
  notice(`${I18N.t(mode)} ${callId}…`);
  try {
    const r = await conn.request({ type: "supervise", call_id: callId, mode });
    notice(`${I18N.t(mode)}: ${r.message}`);
  } catch (err) {
    notice(`${I18N.t(mode)}: ${err.message}`, true);
  }
}

function notice(text, bad) {
  $("notice").textContent = text;
  $("notice").className = bad ? "error" : "ok";
}

function startFollowing(callId, lang) {
  if (follow.call === callId) return;
  if (follow.call) conn.forget(follow.call);
  follow.call = callId;
  follow.prompts.clear();
  follow.partials = {};
  $("f-prompts").replaceChildren();
  $("f-transcript").replaceChildren();
  $("f-meters").textContent = "";
  $("f-action").textContent = "";
  if (!I18N.forced && lang) I18N.set(lang);
  $("f-title").textContent = `${I18N.t("following")}: ${callId}`;
  conn.forget(callId); // the whole history of the call, not just what is new
  conn.subscribe(callId);
  render();
}

function followed(ev) {
  if (ev.call_id !== follow.call) return;
  const d = ev.data;
  if (ev.type === "prompt") {
    if (follow.prompts.has(d.prompt_id)) return;
    const p = el("div", `p ${d.severity}`, `${fmtTime(ev.t)} ${d.text}`);
    p.dataset.id = d.prompt_id;
    follow.prompts.set(d.prompt_id, p);
    $("f-prompts").prepend(p);
  } else if (ev.type === "prompt_cleared") {
    const p = follow.prompts.get(d.prompt_id);
    if (p) p.classList.add("cleared");
  } else if (ev.type === "meters") {
    const share = Math.round(100 * d.agent.talk_share);
    $("f-meters").textContent = `${I18N.t("silence")} ${d.silence_s.toFixed(1)} s · ${I18N.t("talk_share")} ${I18N.t("agent")} ${share}% · ${I18N.t("mood")} ${d.mood ? I18N.t(`mood_${d.mood}`) : "—"}`;
  } else if (ev.type === "transcript") {
    const box = $("f-transcript");
    let line = follow.partials[d.speaker];
    if (!line) {
      line = el("div", `line ${d.speaker}`);
      line.append(el("b", "", `${I18N.t(d.speaker)}: `), el("span", "words"));
      box.append(line);
    }
    line.querySelector(".words").textContent = d.text;
    line.classList.toggle("partial", d.kind === "partial");
    follow.partials[d.speaker] = d.kind === "partial" ? line : null;
    box.scrollTop = box.scrollHeight;
  } else if (ev.type === "supervisor_action") {
    $("f-action").textContent = `${fmtTime(ev.t)} ${d.supervisor}: ${I18N.t(d.mode)} — ${d.message}`;
  }
}

I18N.set();
conn.start();
