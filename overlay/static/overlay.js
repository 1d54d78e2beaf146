"use strict";
// The agent overlay: prompt cards (newest first), meters, live transcript of the agent's
// current call. Follows the newest call the token sees; a reconnect resumes where it left off.

const $ = (id) => document.getElementById(id);
const MAX_LINES = 300;
const CLEAR_MS = 900; // fade-out before a cleared card leaves the page

const view = { call: null, cards: new Map(), partials: {}, ended: false };

const conn = new AssistConn({
  latest: true, // a fresh overlay shows the agent's newest call, not the whole shift
  onEvent: handle,
  onMessage: (m) => {
    if (m.type === "error") toast(m.error, true);
    if (m.type === "hello") $("dial").hidden = !m.telephony; // no phone in demo mode
  },
  onStatus: (s) => {
    const st = $("status");
    st.textContent = I18N.t(s);
    st.className = s === "live" ? "ok" : "down";
  },
});
window.assist = { conn, view }; // for tests and debugging

function reset(callId, data) {
  view.call = callId;
  view.ended = false;
  view.cards.clear();
  view.partials = {};
  $("prompts").replaceChildren();
  $("transcript").replaceChildren();
  I18N.set(data.lang);
  $("call").textContent = `${data.agent || ""} · ${callId}`;
  // which speech engine hears this call (a fallback says so), or that word cues are off
  view.asr = data.asr || "";
  $("engine").textContent = data.asr ? `${I18N.t("speech")}: ${data.asr}` : I18N.t("no_speech");
  callState(null); // SIP calls report their state in call_state events
}

// The softphone's own buttons (SIP calls): answer a ringing inbound call, hang up, dial.
function callState(state, direction) {
  view.state = state;
  $("call-state").textContent = state ? I18N.t(`st_${state}`) : "";
  $("answer").hidden = !(state === "ringing" && direction === "inbound");
  $("hangup").hidden = !(state === "ringing" || state === "confirmed" || state === "held");
}

async function control(msg) {
  try {
    const reply = await conn.request(msg);
    toast(reply.message);
  } catch (err) {
    toast(`${I18N.t("failed")}: ${err.message}`, true);
  }
}

$("answer").addEventListener("click", () => control({ type: "answer", call_id: view.call }));
$("hangup").addEventListener("click", () => control({ type: "hangup", call_id: view.call }));
$("dial").addEventListener("submit", (e) => {
  e.preventDefault();
  const uri = $("dial-uri").value.trim();
  if (uri) control({ type: "dial", uri });
});

function handle(ev) {
  const d = ev.data;
  if (ev.type === "call_started") {
    if (ev.call_id !== view.call) reset(ev.call_id, d);
    return;
  }
  if (ev.call_id !== view.call) return;
  switch (ev.type) {
    case "prompt": addCard(ev); break;
    case "prompt_cleared": clearCard(d.prompt_id); break;
    case "feedback": { const c = view.cards.get(d.prompt_id); if (c) c.classList.add("sent"); break; }
    case "meters": meters(d); break;
    case "call_state": callState(d.state, d.direction); break;
    case "transcript": transcript(d); break;
    case "speech": if (d.state === "start" && view.asr) listening(d.speaker); break;
    case "call_ended":
      view.ended = true;
      callState(null);
      $("call").textContent += ` · ${I18N.t("ended")} (${fmtTime(d.duration_s)})`;
      for (const id of [...view.cards.keys()]) clearCard(id);
      break;
    case "error": toast(d.message, true); break;
  }
}

function addCard(ev) {
  const d = ev.data;
  if (view.cards.has(d.prompt_id)) return; // never two cards for one prompt
  const card = el("div", `card ${d.severity}`);
  card.dataset.id = d.prompt_id;
  card.dataset.rule = d.rule;
  card.tabIndex = 0;
  card.append(el("div", "text", d.text));
  card.append(el("div", "meta", `${fmtTime(ev.t)} · ${d.rule}`));
  const evidence = Object.entries(d.evidence || {}).map(([k, v]) =>
    `${k}: ${Array.isArray(v) ? v.join(" ") : typeof v === "object" ? JSON.stringify(v) : v}`);
  evidence.push(`${I18N.t("at")} ${fmtTime(ev.t)} (${ev.t.toFixed(1)} s)`);
  card.append(el("div", "evidence", `${I18N.t("evidence")}: ${evidence.join(" · ")}`));
  const actions = el("div", "actions");
  const done = el("button", "done", `✓ ${I18N.t("done")}`);
  const nope = el("button", "not-helpful", `✗ ${I18N.t("not_helpful")}`);
  done.onclick = () => feedback(d.prompt_id, "done");
  nope.onclick = () => feedback(d.prompt_id, "not_helpful");
  actions.append(done, nope);
  card.append(actions);
  view.cards.set(d.prompt_id, card);
  $("prompts").prepend(card);
}

function clearCard(promptId) {
  const card = view.cards.get(promptId);
  if (!card) return;
  view.cards.delete(promptId);
  card.classList.add("cleared");
  setTimeout(() => card.remove(), CLEAR_MS);
}

async function feedback(promptId, verdict) {
  const card = view.cards.get(promptId);
  if (!card || card.classList.contains("sent")) return;
  card.classList.add("sent");
  try {
    await conn.request({ type: "feedback", call_id: view.call, prompt_id: promptId, verdict });
    toast(`${I18N.t(verdict)}: ${I18N.t("sent")}`);
    if (verdict === "not_helpful") clearCard(promptId);
  } catch (err) {
    card.classList.remove("sent");
    toast(`${I18N.t("failed")}: ${err.message}`, true);
  }
}

function meters(d) {
  $("silence").textContent = `${d.silence_s.toFixed(1)} s`;
  const a = d.agent.talk_share, c = d.customer.talk_share, total = a + c;
  const ap = total > 0 ? (100 * a) / total : 0;
  $("share-agent").style.width = `${ap}%`;
  $("share-customer").style.width = `${total > 0 ? 100 - ap : 0}%`;
  $("share-pct").textContent = total > 0 ? `${Math.round(ap)}%` : "–";
  const pace = d.agent.pace_wpm;
  $("pace").textContent = pace == null ? "–" : `${Math.round(pace)}`;
  $("pace").title = I18N.t("wpm");
  $("pace-bar").style.width = `${pace == null ? 0 : Math.min(100, (pace / 220) * 100)}%`;
  for (const who of ["agent", "customer"]) {
    const db = d[who].level_dbfs;
    $(`level-${who}`).style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
  }
  const mood = d.mood || "unknown";
  $("mood").textContent = I18N.t(`mood_${mood}`);
  $("mood").className = `mood ${mood}`;
}

function transcript(d) {
  const box = $("transcript");
  let line = view.partials[d.speaker];
  if (!line) {
    line = el("div", `line ${d.speaker}`);
    line.append(el("b", "", `${I18N.t(d.speaker)}: `), el("span", "words"));
    box.append(line);
    while (box.children.length > MAX_LINES) box.firstChild.remove();
  }
  line.querySelector(".words").textContent = d.text;
  line.classList.toggle("partial", d.kind === "partial");
  line.classList.toggle("listening", !!d.listening);
  view.partials[d.speaker] = d.kind === "partial" ? line : null; // a final closes the line
  box.scrollTop = box.scrollHeight;
}

// Speech started: a "listening…" line until its words come (PocketSphinx's live guesses on
// phone audio are nonsense and are not sent; the Whisper final replaces this line).
function listening(speaker) {
  const open = view.partials[speaker];
  if (open && !open.classList.contains("listening")) return; // live words already showing
  transcript({ speaker, kind: "partial", text: I18N.t("listening"), listening: true });
}

function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "error" : "";
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA/.test(e.target.tagName)) return;
  const key = e.key.toLowerCase();
  if (key !== "d" && key !== "n") return;
  const top = [...$("prompts").children].find((c) => !c.classList.contains("cleared"));
  if (top) feedback(top.dataset.id, key === "d" ? "done" : "not_helpful");
});

I18N.set();
$("call").textContent = I18N.t("waiting");
conn.start();
