"use strict";
// The supervisor console: the board of every call (sent by the server as `calls`, flagged
// calls first), one followed call's prompts and transcript live, and listen / whisper /
// barge buttons that go to the server's call control. The console speaks ?lang= if given,
// else the language most of its calls use; prompt texts stay in their call's language.

const $ = (id) => document.getElementById(id);
const MODES = ["listen", "whisper", "barge", "off"];
const follow = { call: null, prompts: new Map(), partials: {}, meters: null, action: null };
let board = [];
let shownOrder = []; // call ids in the order on screen (held while the pointer is on the table)
let pointerOnTable = false;
let pressed = false; // a button is down on the board: its rows are not rebuilt until it is up
let renderLater = false; // a render was held back while `pressed`
let holdTimer = null;
const HOLD_MS = 4000; // a pointer resting on the table this long lets the rows re-sort
let status = "connecting";
let phone = null; // the plugin's registration (a `phone` message), if it has a registrar

const conn = new AssistConn({
  all: false,
  onEvent: followed,
  onMessage: (m) => {
    if (m.type === "hello") $("who").textContent = m.name;
    else if (m.type === "calls") {
      board = m.calls;
      I18N.set(boardLang());
      render();
      showFollowTitle();
      showFollowState();
      showMeters();
    }
    else if (m.type === "error") notice(m.error, true);
    else if (m.type === "phone") { phone = m; showPhone(); }
  },
  onStatus: (s) => { status = s; showStatus(); },
});
window.assist = { conn, follow, board: () => board };
I18N.onChange.push(() => {
  showPhone(); showStatus(); render(); showFollowTitle(); showFollowState(); showMeters();
});

function showStatus() {
  $("status").textContent = I18N.t(status);
  $("status").className = status === "live" ? "ok" : "down";
}

/** The language most calls on the board use (ties: the first call's). */
function boardLang() {
  const n = {};
  for (const c of board) if (c.lang) n[c.lang] = (n[c.lang] || 0) + 1;
  let best = null;
  for (const [lang, k] of Object.entries(n)) if (best === null || k > n[best]) best = lang;
  return best || I18N.lang;
}

function stateCell(c) {
  const td = el("td", "state");
  if (c.lost) { // the plugin went silent (floor console): not known to have ended
    td.append(el("span", "losttag", I18N.t("status_lost")));
    td.title = I18N.t("status_lost_title");
  }
  if (c.paused && c.live) { // a SIPREC pause (a card number being taken): why it went quiet
    td.append(el("span", "pausedtag", I18N.t("rec_paused")));
    td.title = I18N.t("rec_paused_title");
    if (!c.flagged) {
      td.append(el("span", "", I18N.t("since", { at: fmtTime(c.paused_since) })));
      return td;
    }
  }
  if (!c.flagged) {
    if (!c.lost) {
      td.append(el("span", c.live ? "live-dot" : "ended-dot", "● "),
        el("span", "", I18N.t(c.live ? "status_live" : "status_ended")));
    }
    if (c.live && c.resumed_at != null) {
      td.append(el("span", "resumedtag", ` · ${I18N.t("rec_resumed", { at: fmtTime(c.resumed_at) })}`));
    }
    if (!c.live && c.missed) td.append(el("span", "missedtag", ` · ${I18N.t("missed_n", { n: c.missed })}`));
    return td;
  }
  td.append(el("span", "flagtag", I18N.t(`flag_${c.flag_reason}`)));
  let reason = c.flag_title;
  if (c.flag_reason === "agitation") {
    const since = c.flag_cleared_at ?? c.duration_s;
    reason = I18N.t("flag_agitated_for", { s: Math.round(since - (c.flag_since ?? since)) });
  }
  const r = el("span", "reason", reason || "");
  if (c.flag_cleared_at != null) {
    r.append(` · ${I18N.t("flag_cleared", { at: fmtTime(c.flag_cleared_at) })}`);
  }
  td.title = [c.lost ? I18N.t("status_lost_title") : "", reason, c.flag_text].filter(Boolean).join(": ");
  td.append(r);
  return td;
}

/** The board in the order to show: the server's, unless the pointer is on the table, where
 * rows keep their places (new calls go below) so a click lands on the row that was aimed at. */
function ordered() {
  if (!pointerOnTable || !shownOrder.length) return board;
  const at = new Map(shownOrder.map((id, i) => [id, i]));
  const known = board.filter((c) => at.has(c.call_id)).sort((a, b) => at.get(a.call_id) - at.get(b.call_id));
  return known.concat(board.filter((c) => !at.has(c.call_id)));
}

function render() {
  if (pressed) { renderLater = true; return; }
  const body = $("calls");
  body.replaceChildren();
  if (!board.length) {
    const tr = el("tr");
    const td = el("td", "muted", I18N.t("no_calls"));
    td.colSpan = 9;
    tr.append(td);
    body.append(tr);
    return;
  }
  const rows = ordered();
  shownOrder = rows.map((c) => c.call_id);
  for (const c of rows) {
    const tr = el("tr", "call");
    tr.dataset.call = c.call_id;
    tr.classList.toggle("flagged", c.flagged);
    tr.classList.toggle("held", c.flagged && c.flag_cleared_at != null);
    tr.classList.toggle("ended", !c.live && !c.lost);
    tr.classList.toggle("lost", Boolean(c.lost));
    tr.classList.toggle("paused", Boolean(c.paused && c.live));
    tr.classList.toggle("selected", c.call_id === follow.call);
    const agent = el("td", "agent", c.agent || "?");
    agent.title = [c.agent, c.remote].filter(Boolean).join(" · ");
    const call = el("td", "call-id", c.call_id);
    call.title = [c.call_id, c.source, c.lang].filter(Boolean).join(" · ");
    const time = el("td", "num", fmtTime(c.duration_s));
    const score = el("td", `score${lowScore(c.score) ? " low" : ""}`, c.score === "-" ? "–" : c.score || "");
    score.title = scoreWords(c);
    const mood = el("td", `mood ${c.mood || ""}`, c.mood && c.live ? I18N.t(`mood_${c.mood}`) : "—");
    if (c.mood === "upset") mood.title = I18N.t("mood_upset_title");
    const flags = el("td", "flags");
    for (const f of c.flags) {
      const chip = el("span", `chip ${f.severity}`, ruleTitle(f));
      chip.dataset.rule = f.rule;
      chip.title = f.text;
      flags.append(chip);
    }
    const last = el("td", "c-last");
    if (c.last_prompt) {
      last.append(el("span", `sev-${c.last_prompt.severity}`, "● "), `${fmtTime(c.last_prompt.t)} ${c.last_prompt.text}`);
      last.title = `${ruleTitle(c.last_prompt)}: ${c.last_prompt.text}`;
    }
    const actions = el("td", "actions");
    // a recorded (SIPREC) call is a copy of the audio: listen plays it, but there is no leg
    // into the call to whisper or barge on. The buttons come first, so they always show; the
    // reason is a short note after them, in full on hover (and in the follow panel).
    const recorded = c.source === "srs";
    for (const mode of recorded ? ["listen", "off"] : MODES) {
      const b = el("button", mode === c.supervisor && c.live ? "on" : "", I18N.t(mode));
      b.dataset.mode = mode;
      b.disabled = !c.live; // an ended (or lost) call has nobody to listen to
      b.onclick = (e) => { e.stopPropagation(); supervise(c.call_id, mode); };
      actions.append(b);
    }
    if (recorded) {
      actions.append(el("span", "muted siprec-note", I18N.t("siprec_note")));
      actions.title = I18N.t("siprec_no_modes");
    }
    tr.append(stateCell(c), agent, call, time, score, mood, flags, last, actions);
    tr.onclick = () => startFollowing(c.call_id);
    body.append(tr);
  }
}

// Rows hold still while the pointer moves over the table (a click lands where it was aimed);
// left resting there, it lets a newly flagged call rise after HOLD_MS.
function holdRows() {
  pointerOnTable = true;
  clearTimeout(holdTimer);
  holdTimer = setTimeout(() => { pointerOnTable = false; render(); }, HOLD_MS);
}
// A click is a press and a release on the same element: a row rebuilt between the two (the
// board updates several times a second) lost the click, so rebuilding waits for the release.
$("board").addEventListener("pointerdown", () => { pressed = true; });
for (const type of ["pointerup", "pointercancel"]) {
  window.addEventListener(type, () => {
    if (!pressed) return;
    pressed = false;
    if (renderLater) { renderLater = false; setTimeout(render); } // after the click's handler
  });
}
$("board").addEventListener("pointerenter", holdRows);
$("board").addEventListener("pointermove", holdRows);
$("board").addEventListener("pointerleave", () => {
  clearTimeout(holdTimer);
  pointerOnTable = false;
  render();
});

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
  $("notice").title = text;
  $("notice").className = bad ? "error" : "ok";
}

/** The phone's registration in the header: red while failing, with the reason. */
function showPhone() {
  const box = $("phone");
  box.hidden = !phone;
  if (!phone) return;
  const key = `reg_${phone.registration}`;
  box.textContent = I18N.t(key, { msg: phone.message });
  box.title = phone.message;
  box.className = phone.registration;
}

// The call-shape checklist score ("5/7": items done / items decided) and, on hover and in the
// follow panel, the items missed and the agent's recent finished calls' scores (newest first).
function lowScore(score) {
  const m = /^(\d+)\/(\d+)$/.exec(score || "");
  return Boolean(m) && Number(m[2]) > 0 && Number(m[1]) / Number(m[2]) < 0.5;
}

/** The items this agent missed in their recent calls, most often first: "Greeting 3, …". */
function oftenMissed(c) {
  const counts = new Map();
  for (const r of (c && c.agent_recent) || []) {
    for (const name of r.missed || []) counts.set(name, (counts.get(name) || 0) + 1);
  }
  if (!counts.size) return "";
  const items = [...counts].sort((a, b) => b[1] - a[1]).map(([n, k]) => `${I18N.t(`ck_${n}`)} ${k}`);
  return I18N.t("often_missed", { items: items.join(", ") });
}

function scoreWords(c) {
  const parts = [I18N.t("score_title")];
  if (c.missed_items && c.missed_items.length) {
    parts.push(`${I18N.t("ck_no")}: ${c.missed_items.map((n) => I18N.t(`ck_${n}`)).join(", ")}`);
  }
  const recent = (c.agent_recent || []).map((r) => r.score);
  if (recent.length) parts.push(I18N.t("agent_recent", { agent: c.agent || "?", scores: recent.join(" ") }));
  const often = oftenMissed(c);
  if (often) parts.push(often);
  return parts.join("\n");
}

/** The panel is titled by agent (the Call column is hidden while it is open); id on hover. */
function showFollowTitle() {
  if (!follow.call) return;
  const row = board.find((c) => c.call_id === follow.call);
  const agent = row && row.agent ? row.agent : follow.call;
  $("f-title").textContent = `${I18N.t("following")}: ${agent}`;
  $("f-title").title = [row && row.agent, row && row.remote, follow.call].filter(Boolean).join(" · ");
  $("f-msg").hidden = Boolean(row && !row.live); // nobody to read it on an ended call
  const recent = row ? (row.agent_recent || []).map((r) => r.score) : [];
  const now = row && row.score && row.score !== "-" ? `${I18N.t("score")} ${row.score}` : "";
  const past = recent.length ? I18N.t("agent_recent", { agent: agent, scores: recent.join(" ") }) : "";
  $("f-scores").textContent = [now, past, oftenMissed(row)].filter(Boolean).join(" · ");
}

/** The followed call's recording state, as its row says it: a recorded (SIPREC) call is
 * listen-only (why, in words), and while its client has paused the recording, since when. */
function showFollowState() {
  const box = $("f-state");
  const row = board.find((c) => c.call_id === follow.call);
  box.replaceChildren();
  box.className = "";
  if (!row) return;
  if (row.paused && row.live) {
    box.className = "paused";
    box.title = I18N.t("rec_paused_title");
    box.append(el("span", "pausedtag", I18N.t("rec_paused")),
      el("span", "", I18N.t("since", { at: fmtTime(row.paused_since) })));
  } else if (row.live && row.resumed_at != null) {
    box.title = "";
    box.append(el("span", "resumedtag", I18N.t("rec_resumed", { at: fmtTime(row.resumed_at) })));
  }
  if (row.source === "srs") box.append(el("div", "muted", I18N.t("siprec_no_modes")));
}

function startFollowing(callId) {
  if (follow.call === callId) return;
  if (follow.call) conn.forget(follow.call);
  follow.call = callId;
  follow.prompts.clear();
  follow.partials = {};
  follow.meters = null;
  $("f-prompts").replaceChildren();
  $("f-transcript").replaceChildren();
  $("f-meters").textContent = "";
  $("f-action").textContent = "";
  $("f-msgs").replaceChildren();
  $("follow").hidden = false;
  document.querySelector("main").classList.add("following");
  showFollowTitle();
  showFollowState();
  conn.forget(callId); // the whole history of the call, not just what is new
  conn.subscribe(callId);
  render();
}

function stopFollowing() {
  if (follow.call) conn.forget(follow.call);
  follow.call = null;
  $("follow").hidden = true;
  document.querySelector("main").classList.remove("following");
  render();
}
$("f-close").addEventListener("click", stopFollowing);

// A short text to the followed call's agent (their overlay shows it as a card).
$("f-msg").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("f-msg-text").value.trim();
  if (!text || !follow.call) return;
  try {
    await conn.request({ type: "message", call_id: follow.call, text });
    $("f-msg-text").value = "";
    notice(I18N.t("msg_sent"));
  } catch (err) {
    notice(`${I18N.t("send_msg")}: ${err.message}`, true);
  }
});

function showMeters() {
  const d = follow.meters;
  if (!d) return;
  const share = Math.round(100 * d.agent.talk_share);
  // the board's mood folds in an "upset" prompt on screen; the meters' is the voice alone
  const row = board.find((c) => c.call_id === follow.call);
  const mood = row && row.live ? row.mood : d.mood;
  $("f-meters").textContent = `${I18N.t("silence")} ${d.silence_s.toFixed(1)} s · ${I18N.t("agent")} ${share}% · ${I18N.t("mood")} ${mood ? I18N.t(`mood_${mood}`) : "—"}`;
}

function followed(ev) {
  if (ev.call_id !== follow.call) return;
  const d = ev.data;
  if (ev.type === "prompt") {
    if (follow.prompts.has(d.prompt_id)) return;
    const p = el("div", `p ${d.severity}`);
    p.append(el("b", "", `${fmtTime(ev.t)} ${ruleTitle(d)}: `), d.text);
    p.dataset.id = d.prompt_id;
    follow.prompts.set(d.prompt_id, p);
    $("f-prompts").prepend(p);
  } else if (ev.type === "prompt_cleared") {
    const p = follow.prompts.get(d.prompt_id);
    if (p) p.classList.add("cleared");
    if (p && d.reason === "call_ended" && !p.classList.contains("acted")) {
      p.classList.add("missed");
      p.append(el("span", "missed-tag", ` — ${I18N.t("missed")}`));
    }
  } else if (ev.type === "feedback") {
    const p = follow.prompts.get(d.prompt_id);
    if (p) p.classList.add("acted");
  } else if (ev.type === "meters") {
    follow.meters = d;
    showMeters();
  } else if (ev.type === "transcript") {
    const box = $("f-transcript");
    let line = follow.partials[d.speaker];
    if (!line) {
      line = el("div", `line ${d.speaker}`);
      line.append(el("b", "", `${I18N.t(d.speaker)}: `), el("span", "words"));
    }
    line.querySelector(".words").textContent = d.text;
    line.classList.toggle("partial", d.kind === "partial");
    placeLine(box, line, d.start ?? ev.t);
    follow.partials[d.speaker] = d.kind === "partial" ? line : null;
    box.scrollTop = box.scrollHeight;
  } else if (ev.type === "supervisor_message") {
    $("f-msgs").append(el("div", "m", `${fmtTime(ev.t)} ${d.supervisor} → ${I18N.t("agent")}: ${d.text}`));
  } else if (ev.type === "supervisor_action") {
    $("f-action").textContent = `${fmtTime(ev.t)} ${d.supervisor}: ${I18N.t(d.mode)} — ${d.message}`;
  }
}

I18N.set();
conn.start();
