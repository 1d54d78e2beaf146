"use strict";
// The agent overlay: prompt cards (newest first), meters, live transcript of the agent's
// current call. Follows the newest call the token sees; a reconnect resumes where it left off.
// A card stays on screen at least its prompt's min_show_s (a rule pack setting): a cue that
// ends sooner turns "resolved" and fades only once that time is up. A card the call's end
// clears without the agent acting on it says "missed", never "resolved". Cards live in an
// area of fixed height, so the meters and transcript below never move as cards come and go.

const $ = (id) => document.getElementById(id);
const MAX_LINES = 300;
const FADE_MS = 800;       // fade-out before a card leaves the page
const RESOLVED_MS = 1500;  // a resolved card shows "resolved" at least this long
const DEFAULT_MIN_SHOW_S = 4; // prompts stored before packs carried min_show_s
const DROP_SHOW_MS = 5000; // the "audio dropping" notice stays this long after the last drop
const LAG_SHOW_S = 1.5;    // recognition lag below this is not worth a strip (Whisper finals
                           // per utterance run about a second behind on a busy machine)
const ACK_MS = 2500;       // the "Done: sent" confirmation beside the cards stays this long
const UNSURE_CONF = 0.5;   // a word the recogniser gives less confidence than this is greyed
const QUALITY_WORDS = 60;  // the quality label looks at the confidence of this many recent words
// prompts that say the customer is upset: the mood never reads "calm" while one is up
// (overlay/board.py UPSET_RULES, for the console)
const UPSET_RULES = new Set(["negative_phrase", "agitation"]);
// the reason a card was cleared -> what its tag says
const CLEARED_TAG = { condition_ended: "✓ {resolved}", expired: "{expired}", call_ended: "{missed}" };

const view = {
  call: null, cards: new Map(), partials: {}, ended: false, now: 0, duration: null,
  status: "connecting", asr: "", drops: 0, dropTimer: null, lag: {}, phone: null,
  voiceMood: null, confs: [], ackTimer: null,
  others: new Map(), // call waiting: other live calls (id -> {data, state, direction})
  checklist: null, // the last `checklist` event's items
  checklistLog: [], // every item change seen: {name, state, detail, t, ended} (tests, debugging)
  pausedSince: null, // audio time a SIPREC client paused the recording (null: recording)
  state: null, direction: null, // the call's SIP state (call_state events)
  recorded: false, // a SIPREC copy of a call on the agent's own phone: no call control here
  telephony: false, // hello: a phone is behind the server (answer / hang up can work)
};

const conn = new AssistConn({
  latest: true, // a fresh overlay shows the agent's newest call, not the whole shift
  onEvent: handle,
  onMessage: (m) => {
    if (m.type === "error") toast(m.error, true);
    // the dial box only where a phone is behind the server and this token may place calls
    if (m.type === "hello") {
      view.telephony = Boolean(m.telephony);
      $("dial").hidden = !(m.telephony && m.dial);
      callState(view.state, view.direction);
    }
    if (m.type === "phone") { view.phone = m; showPhone(); }
  },
  onStatus: (s) => { view.status = s; showStatus(); },
});
window.assist = { conn, view }; // for tests and debugging

function showStatus() {
  const st = $("status");
  st.textContent = I18N.t(view.status);
  st.className = view.status === "live" ? "ok" : "down";
}

function reset(callId, data) {
  view.call = callId;
  view.ended = false;
  view.now = 0;
  view.duration = null;
  view.asr = data.asr || "";
  for (const c of view.cards.values()) clearTimeout(c.timer);
  view.cards.clear();
  view.partials = {};
  view.drops = 0;
  view.lag = {};
  view.voiceMood = null;
  view.confs = [];
  view.checklist = null;
  view.checklistLog = [];
  view.pausedSince = null;
  view.recorded = isRecorded(data);
  document.body.classList.remove("ended", "paused");
  document.body.classList.toggle("recorded", view.recorded);
  document.body.classList.add("oncall");
  $("ended-banner").hidden = true;
  $("prompts").replaceChildren();
  $("transcript").replaceChildren($("transcript-empty"));
  $("transcript-empty").hidden = false;
  I18N.set(data.lang);
  $("call").textContent = `${data.agent || ""} · ${callId}`;
  $("call").title = $("call").textContent;
  relabel();
  showMood();
  callState(null); // SIP calls report their state in call_state events
}

/** Texts built from state (not [data-i18n]): redone when the language changes. */
function relabel() {
  showStatus();
  showEngine();
  showCall();
  showHealth();
  showPhone();
  showMood();
  showOthers();
  showChecklist();
  callState(view.state, view.direction);
  $("pace").title = I18N.t("wpm_title");
}
I18N.onChange.push(relabel);

// How sure the recogniser is of what it wrote, from its own word confidences (Whisper's word
// probabilities, Vosk's conf) over the recent words; the engine itself on hover. Before any
// word with a confidence has come, the label says only that the transcript is on.
function showEngine() {
  const e = $("engine");
  if (!view.call) { e.textContent = ""; return; }
  if (!view.asr) { e.textContent = I18N.t("asr_off"); e.title = ""; return; }
  const name = view.asr.toLowerCase();
  const confs = view.confs;
  let quality = "asr_on";
  let why = "";
  if (confs.length) {
    const unsure = confs.filter((c) => c < UNSURE_CONF).length / confs.length;
    quality = unsure <= 0.1 ? "asr_high" : unsure <= 0.25 ? "asr_fair" : "asr_low";
    why = I18N.t("asr_unsure", { pct: Math.round(unsure * 100), n: confs.length });
  }
  e.textContent = `${I18N.t("asr_label")}: ${I18N.t(quality)}`;
  e.className = `muted engine ${quality}`;
  e.title = [why, view.asr + (name.includes("fallback") ? ` — ${I18N.t("asr_fallback")}` : "")]
    .filter(Boolean).join(" · ");
}

function showCall() {
  const pill = $("callpill");
  if (!view.call) { pill.className = "pill idle"; return; }
  pill.title = "";
  if (view.ended) {
    pill.className = "pill ended";
    pill.textContent = `${I18N.t("ended")} · ${fmtTime(view.duration)}`;
    $("ended-banner").textContent = `${I18N.t("ended")} (${fmtTime(view.duration)})`;
  } else if (view.pausedSince !== null) {
    // a SIPREC pause (e.g. while a card number is given): no audio, so no cues and no meters
    pill.className = "pill paused";
    pill.textContent = `${I18N.t("rec_paused")} ${fmtTime(view.now - view.pausedSince)}`;
    pill.title = I18N.t("rec_paused_title");
  } else {
    pill.className = "pill live";
    pill.textContent = `${I18N.t("on_call")} ${fmtTime(view.now)}`;
  }
}

// Audio drops and recognition lag, shown while they happen.
function showHealth() {
  const box = $("health");
  const lines = [];
  if (view.dropTimer) lines.push(I18N.t("dropping", { n: view.drops }));
  for (const [who, lag] of Object.entries(view.lag)) {
    if (lag < LAG_SHOW_S) continue; // sub-second lag: nothing the agent needs to know
    lines.push(I18N.t("lagging", { s: lag.toFixed(1), who: I18N.t(who) }));
  }
  box.replaceChildren(...lines.map((l) => el("div", "", l)));
  box.hidden = lines.length === 0;
  // the last card's buttons can scroll above the strip instead of staying under it
  $("prompts").style.paddingBottom = box.hidden ? "" : `${box.offsetHeight}px`;
}

// The softphone's registration (a `phone` message): the agent is told while calls cannot
// reach them; nothing is shown while it is registered.
function showPhone() {
  const p = view.phone;
  const box = $("registration");
  box.hidden = !p || p.registration !== "failing";
  box.textContent = box.hidden ? "" : I18N.t("reg_failing", { msg: p.message });
  box.title = box.textContent;
}

/** A recorded call (`assist srs`, SIPREC): the server has a copy of the audio of a call on the
 * agent's own phone, not a leg of it, so answer, hold and hang-up are the phone's, not ours. */
function isRecorded(data) {
  return (data && data.source) === "srs";
}

// The softphone's own buttons (SIP calls): answer a ringing inbound call, hang up, dial. Only
// where they can work: a phone behind the server (hello's `telephony`) and a call that is a
// leg of ours; a recorded call says where it comes from instead.
function callState(state, direction) {
  view.state = state;
  view.direction = direction;
  const ours = view.telephony && !view.recorded;
  const text = $("call-state");
  if (view.recorded && view.call && !view.ended) {
    text.textContent = I18N.t("rec_own_phone");
    text.title = I18N.t("rec_own_phone_title");
  } else {
    text.textContent = state ? I18N.t(`st_${state}`) : "";
    text.title = "";
  }
  $("answer").hidden = !(ours && state === "ringing" && direction === "inbound");
  $("hangup").hidden = !(ours && (state === "ringing" || state === "confirmed" || state === "held"));
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

// Call waiting (sip.second_call = "ring"): a call that starts while this one is live does not
// take the screen; it is a small card with its own buttons (answer, decline or hang up). When
// the call on screen ends, the newest other live call takes its place.
function otherCall(ev) {
  const o = view.others.get(ev.call_id);
  if (!o) return;
  if (ev.type === "call_state") {
    o.state = ev.data.state;
    o.direction = ev.data.direction || o.direction;
  }
  if (ev.type === "call_ended") view.others.delete(ev.call_id);
  showOthers();
}

function promoteOther() {
  const next = [...view.others.keys()].pop();
  if (!next) return;
  const o = view.others.get(next);
  view.others.delete(next);
  reset(next, o.data);
  if (o.state) callState(o.state, o.direction);
  showOthers();
}

function showOthers() {
  const box = $("others");
  const live = ["ringing", "confirmed", "held"];
  box.replaceChildren(...[...view.others].map(([id, o]) => {
    const ringing = o.state === "ringing" && o.direction === "inbound";
    const card = el("div", `other ${ringing ? "incoming" : ""}`);
    card.dataset.call = id;
    card.append(el("b", "", I18N.t(ringing ? "incoming_call" : "other_call")));
    card.append(el("span", "who", o.data.remote || id));
    card.append(el("span", "muted", o.state ? I18N.t(`st_${o.state}`) : ""));
    const button = (cls, key, msg) => {
      const b = el("button", cls, I18N.t(key));
      b.addEventListener("click", () => control({ ...msg, call_id: id }));
      card.append(b);
    };
    if (isRecorded(o.data) || !view.telephony) { // a copy of a call on the agent's own phone
      card.title = I18N.t("rec_own_phone_title");
      return card;
    }
    if (ringing) button("answer", "answer", { type: "answer" });
    if (live.includes(o.state)) button("hangup", ringing ? "decline" : "hangup", { type: "hangup" });
    return card;
  }));
  box.hidden = view.others.size === 0;
}

function handle(ev) {
  const d = ev.data;
  if (ev.type === "call_started") {
    if (ev.call_id === view.call) return;
    if (view.call && !view.ended) {
      view.others.set(ev.call_id, { data: d, state: null, direction: null });
      showOthers();
    } else {
      reset(ev.call_id, d);
    }
    return;
  }
  if (ev.call_id !== view.call) { otherCall(ev); return; }
  if (!view.ended && ev.t > view.now) { view.now = ev.t; showCall(); }
  switch (ev.type) {
    case "prompt": addCard(ev); break;
    case "prompt_cleared": clearCard(d.prompt_id, d.reason); break;
    case "feedback": { const c = view.cards.get(d.prompt_id); if (c) { c.el.classList.add("sent"); c.acted = true; } break; }
    case "meters": meters(d); break;
    case "call_state": callState(d.state, d.direction); break;
    case "transcript": transcript(d, ev.t); break;
    case "dropped":
      view.drops += d.count;
      clearTimeout(view.dropTimer);
      view.dropTimer = setTimeout(() => { view.dropTimer = null; showHealth(); }, DROP_SHOW_MS);
      showHealth();
      break;
    case "asr_lagging":
      if (d.recovered) delete view.lag[d.speaker]; else view.lag[d.speaker] = d.lag_s;
      showHealth();
      break;
    case "speech": if (d.state === "start" && view.asr) listening(d.speaker, d.at); break;
    case "call_ended":
      view.ended = true;
      view.pausedSince = null;
      document.body.classList.remove("paused");
      view.duration = d.duration_s;
      view.lag = {};
      callState(null);
      document.body.classList.add("ended");
      $("ended-banner").hidden = false;
      showCall();
      showHealth();
      for (const id of [...view.cards.keys()]) clearCard(id, "call_ended");
      promoteOther();
      break;
    case "supervisor_message": addMessage(ev); break;
    case "checklist": checklist(d, ev.t); break;
    case "recording": recording(d, ev.t); break;
    case "error": toast(d.message, true); break;
  }
}

// A SIPREC recording paused by its client (docs/siprec.md): the pill says so, in amber, with
// how long; the meters grey out (no audio comes). Its resume is said beside the cards.
function recording(d, t) {
  if (!view.recorded) { // call_started said so already; older streams say it here
    view.recorded = true;
    document.body.classList.add("recorded");
    callState(view.state, view.direction);
  }
  const was = view.pausedSince !== null;
  if (d.paused && !was) view.pausedSince = t;
  else if (!d.paused && was) {
    view.pausedSince = null;
    ack(I18N.t("rec_resumed", { at: fmtTime(t) }));
  }
  document.body.classList.toggle("paused", view.pausedSince !== null);
  showCall();
}

// The call-shape checklist (docs/protocol.md `checklist`): every item, sent when one changes.
// A small grid that ticks itself off as the agent speaks; a number the customer gave is pinned
// as "Read back 4729183" until the agent says it. Quiet: no card, no colour louder than amber.
const CHECK_MARK = { pending: "○", yes: "✓", no: "✗", "n/a": "–" };

function checklist(d, t) {
  const before = new Map((view.checklist || []).map((i) => [i.name, i]));
  for (const i of d.items) {
    const was = before.get(i.name);
    if (!was || was.state !== i.state || was.detail !== i.detail) {
      view.checklistLog.push({ name: i.name, state: i.state, detail: i.detail || "", t, ended: view.ended });
    }
  }
  view.checklist = d.items;
  showChecklist();
}

function showChecklist() {
  const box = $("checklist");
  box.setAttribute("aria-label", I18N.t("checklist"));
  box.replaceChildren(...(view.checklist || []).map((i) => {
    const pinned = i.name === "numbers_read_back" && i.state === "pending" && i.detail;
    const state = i.state === "n/a" ? "na" : i.state;
    const row = el("div", `ck ${state}${pinned ? " pinned" : ""}`);
    row.dataset.item = i.name;
    row.dataset.state = i.state;
    const label = pinned ? I18N.t("ck_read_back", { n: i.detail }) : I18N.t(`ck_${i.name}`);
    row.append(el("span", "mark", CHECK_MARK[i.state] || "?"), el("span", "lbl", label));
    const when = i.t === null || i.t === undefined ? "" : ` · ${I18N.t("ck_at", { t: fmtTime(i.t) })}`;
    row.title = `${I18N.t(`ckt_${i.name}`)}: ${I18N.t(`ck_${state}`)}${when}`;
    return row;
  }));
}

// A supervisor's text message: a card of its own on top, until the agent dismisses it.
function addMessage(ev) {
  const id = `msg-${ev.seq}`;
  if (view.cards.has(id)) return;
  const card = el("div", "card supervisor");
  card.dataset.id = id;
  const head = el("div", "head");
  head.append(el("span", "title", I18N.t("msg_from", { name: ev.data.supervisor })),
    el("span", "when", fmtTime(ev.t)));
  const ok = el("button", "got-it", I18N.t("got_it"));
  ok.onclick = () => removeCard(id);
  const actions = el("div", "actions");
  actions.append(ok);
  card.append(head, el("div", "text", ev.data.text), actions);
  view.cards.set(id, { el: card, shownAt: performance.now(), t: ev.t, minMs: 0, timer: null, acted: true });
  $("prompts").prepend(card);
  showHint();
}

function addCard(ev) {
  const d = ev.data;
  if (view.cards.has(d.prompt_id)) return; // never two cards for one prompt
  const card = el("div", `card ${d.severity}`);
  card.dataset.id = d.prompt_id;
  card.dataset.rule = d.rule;
  card.tabIndex = 0;
  const head = el("div", "head");
  head.append(el("span", "title", ruleTitle(d)), el("span", "when", fmtTime(ev.t)));
  card.append(head, el("div", "text", d.text));
  const why = evidenceWords(d.evidence);
  card.append(el("div", "evidence", `${I18N.t("evidence")}: ${why ? `${why} · ` : ""}${I18N.t("at")} ${fmtTime(ev.t)}`));
  card.append(el("div", "resolved-tag"));
  const actions = el("div", "actions");
  const done = el("button", "done", `✓ ${I18N.t("done")}`);
  const nope = el("button", "not-helpful", `✗ ${I18N.t("not_helpful")}`);
  done.onclick = () => feedback(d.prompt_id, "done");
  nope.onclick = () => feedback(d.prompt_id, "not_helpful");
  actions.append(done, nope);
  card.append(actions);
  const minShow = typeof d.min_show_s === "number" ? d.min_show_s : DEFAULT_MIN_SHOW_S;
  view.cards.set(d.prompt_id, { el: card, shownAt: performance.now(), t: ev.t, minMs: minShow * 1000, timer: null, acted: false });
  $("prompts").prepend(card);
  showHint();
  showMood();
}

// The prompt's cue ended (or the call did): the card says "resolved" and leaves once it has
// been up min_show_s of wall time (what a reader needs, whatever the playback speed; a page
// opened late shows a replayed card that long too). The agent's own "done"/"not helpful"
// takes it away at once.
function clearCard(promptId, reason) {
  const c = view.cards.get(promptId);
  if (!c || c.el.classList.contains("resolved") || c.el.classList.contains("supervisor")) return;
  if (reason === "acknowledged") { removeCard(promptId); return; }
  // the call's end (or the prompt's time running out) is not the agent acting on it
  const outcome = reason === "call_ended" && !c.acted ? "missed"
    : reason === "expired" && !c.acted ? "expired" : "resolved";
  c.el.classList.add("resolved", outcome);
  c.el.dataset.outcome = outcome;
  const tag = CLEARED_TAG[outcome === "resolved" ? "condition_ended" : reason];
  c.el.querySelector(".resolved-tag").textContent = tag.replace(/\{(\w+)\}/g, (_, k) => I18N.t(k));
  const shown = performance.now() - c.shownAt;
  if (outcome !== "missed") { // a missed card stays on the ended call's page
    c.timer = setTimeout(() => removeCard(promptId), Math.max(c.minMs - shown, RESOLVED_MS));
  }
  showHint();
  showMood();
}

function removeCard(promptId) {
  const c = view.cards.get(promptId);
  if (!c) return;
  clearTimeout(c.timer);
  view.cards.delete(promptId);
  c.el.classList.add("gone");
  setTimeout(() => c.el.remove(), FADE_MS);
  showHint();
  showMood();
}

function topCard() {
  return [...view.cards.values()].map((c) => c.el).reverse()
    .find((e) => !e.classList.contains("resolved") && !e.classList.contains("gone")
      && !e.classList.contains("supervisor")); // d / n are for prompts
}

function showHint() {
  $("hint").hidden = !topCard();
  $("prompts-empty").hidden = view.cards.size > 0;
}

// The customer's mood: the voice's (meters), unless a prompt on screen says the customer is
// upset (their words, or an agitation cue): then "upset", so the label never contradicts a card.
function showMood() {
  const upset = [...view.cards.values()].find((c) => UPSET_RULES.has(c.el.dataset.rule)
    && !c.el.classList.contains("resolved") && !c.el.classList.contains("gone"));
  const mood = upset ? "upset" : view.voiceMood || "unknown";
  $("mood").textContent = I18N.t(`mood_${mood}`);
  $("mood").className = `mood ${mood}`;
  $("mood").title = upset ? I18N.t("mood_upset_title")
    : view.voiceMood ? I18N.t("mood_voice_title") : "";
}

// "Done: sent" beside the cards, where the agent's eyes are, for a moment.
function ack(text) {
  const a = $("ack");
  a.textContent = text;
  a.hidden = false;
  clearTimeout(view.ackTimer);
  view.ackTimer = setTimeout(() => { a.hidden = true; }, ACK_MS);
}

async function feedback(promptId, verdict) {
  const c = view.cards.get(promptId);
  if (!c || c.el.classList.contains("sent")) return;
  c.el.classList.add("sent");
  try {
    await conn.request({ type: "feedback", call_id: view.call, prompt_id: promptId, verdict });
    ack(`${I18N.t(verdict)}: ${I18N.t("sent")}`);
    if (verdict === "not_helpful") removeCard(promptId);
  } catch (err) {
    c.el.classList.remove("sent");
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
  $("share-pct-customer").textContent = total > 0 ? `${100 - Math.round(ap)}%` : "–";
  const pace = d.agent.pace_wpm;
  $("pace").textContent = pace == null ? "–" : I18N.t("wpm", { n: Math.round(pace) });
  $("pace-bar").style.width = `${pace == null ? 0 : Math.min(100, (pace / 220) * 100)}%`;
  for (const who of ["agent", "customer"]) {
    const db = d[who].level_dbfs;
    $(`level-${who}`).style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
  }
  view.voiceMood = d.mood || null;
  showMood();
}

// A line per utterance, placed by its start time (finals of the two channels can arrive in
// either order); a final's words the recogniser was unsure of are greyed.
function transcript(d, t) {
  const box = $("transcript");
  $("transcript-empty").hidden = true;
  let line = view.partials[d.speaker];
  if (!line) {
    line = el("div", `line ${d.speaker}`);
    line.append(el("b", "", `${I18N.t(d.speaker)}: `), el("span", "words"));
  }
  showWords(line.querySelector(".words"), d);
  line.classList.toggle("partial", d.kind === "partial");
  line.classList.toggle("listening", !!d.listening);
  const known = line.dataset.start === undefined ? undefined : Number(line.dataset.start);
  placeLine(box, line, d.start ?? known ?? t ?? view.now); // a partial keeps its line's start
  while (box.querySelectorAll(".line").length > MAX_LINES) box.querySelector(".line").remove();
  view.partials[d.speaker] = d.kind === "partial" ? line : null; // a final closes the line
  box.scrollTop = box.scrollHeight;
  if (d.kind === "final") {
    const confs = (d.words || []).map((w) => w.conf).filter((c) => typeof c === "number");
    if (confs.length) {
      view.confs = view.confs.concat(confs).slice(-QUALITY_WORDS);
      showEngine();
    }
  }
}

function showWords(span, d) {
  const words = d.words || [];
  if (d.kind !== "final" || !words.length || !words.some((w) => typeof w.conf === "number")) {
    span.textContent = d.text;
    return;
  }
  const gap = I18N.lang === "zh" ? "" : " ";
  span.replaceChildren();
  words.forEach((w, i) => {
    const unsure = typeof w.conf === "number" && w.conf < UNSURE_CONF;
    const part = el("span", unsure ? "unsure" : "", w.w);
    if (unsure) part.title = I18N.t("unsure_word", { pct: Math.round(w.conf * 100) });
    if (i) span.append(gap);
    span.append(part);
  });
}

// Speech started: a "listening…" line until its words come (PocketSphinx's live guesses on
// phone audio are nonsense and are not sent; the Whisper final replaces this line).
function listening(speaker, at) {
  const open = view.partials[speaker];
  if (open && !open.classList.contains("listening")) return; // live words already showing
  transcript({ speaker, kind: "partial", text: I18N.t("listening"), listening: true, start: at }, at);
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
  const top = topCard();
  if (top) feedback(top.dataset.id, key === "d" ? "done" : "not_helpful");
});

I18N.set();
relabel();
$("call").textContent = I18N.t("waiting");
conn.start();
