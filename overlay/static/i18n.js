"use strict";
// UI strings of both pages, English and Chinese. Prompt texts and rule titles come from the
// rule packs (in the call's language, on each prompt event); everything the page itself says
// is here. The language is ?lang= if given, else the call's language (the console: the
// language most of its calls use), else English.

const STRINGS = {
  en: {
    title: "Call assist", connecting: "connecting…", live: "connected", reconnecting: "reconnecting…",
    reg_failing: "Phone not registered, calls cannot reach it: {msg}", reg_registered: "phone registered",
    reg_registering: "phone registering…",
    denied: "access denied: bad or missing token", waiting: "waiting for a call…",
    on_call: "On call", ended: "Call ended", silence: "Silence", talk_share: "Who talks",
    agent: "Agent", customer: "Customer", pace: "Agent pace", level: "Volume", mood: "Customer mood",
    wpm: "{n} wpm", wpm_title: "words per minute, agent (about 120–160 is easy to follow)",
    mood_calm: "calm", mood_tense: "tense", mood_agitated: "agitated", mood_unknown: "—",
    mood_upset: "upset", mood_upset_title: "from what the customer said (a prompt on screen)",
    mood_voice_title: "from the customer's voice (pitch and loudness)",
    done: "Done", not_helpful: "Not helpful", resolved: "resolved", transcript: "Transcript",
    missed: "missed: not acted on before the call ended", expired: "timed out",
    prompts_empty: "Prompts appear here.", missed_n: "{n} missed",
    transcript_empty: "What the agent and the customer say appears here.",
    hint: "d = done · n = not helpful (top card)", evidence: "Why", at: "at",
    sent: "sent", failed: "failed",
    asr_label: "Transcript", asr_off: "Transcript off: word cues disabled",
    asr_high: "sure of most words", asr_fair: "unsure of some words", asr_low: "unsure of many words",
    asr_on: "on", asr_unsure: "{pct}% of the last {n} words uncertain (greyed)",
    unsure_word: "the recogniser is unsure of this word ({pct}%)",
    asr_fallback: "fallback engine: no better model installed for this language",
    dropping: "Audio dropping: {n} frames lost", lagging: "Transcript delayed {s} s ({who})",
    listening: "listening…",
    answer: "Answer", hangup: "Hang up", dial: "Call", st_ringing: "ringing", st_confirmed: "connected",
    decline: "Decline", incoming_call: "Incoming call", other_call: "Other call",
    st_held: "on hold", st_ended: "ended",
    // evidence, in words
    ev_silence_s: "quiet for {v} s", ev_last_speaker: "{v} spoke last", ev_talk_s: "talked {v} s",
    ev_speaker: "who: {v}", ev_overlap_s: "both talking for {v} s",
    ev_run_s: "talking {v} s without a pause", ev_share: "{pct} of the talk", ev_wpm: "{v} words a minute",
    ev_source_words: "counted from the transcript", ev_source_syllables: "estimated from the audio",
    ev_level_dbfs: "voice level {v} dB", ev_noise_dbfs: "line noise {v} dB",
    ev_pitch_st: "pitch up {v} semitones", ev_level_db: "{v} dB louder than usual",
    ev_phrase: "phrase “{v}”", ev_heard: "heard “{v}”", ev_trigger: "after “{v}”",
    ev_numbers: "not read back: {v}", ev_missing: "missing: {v}", ev_suggestion: "try: “{v}”",
    // the call-shape checklist (a `checklist` event)
    checklist: "Call checklist", ck_pending: "not yet", ck_yes: "done", ck_no: "missed",
    ck_na: "did not apply", ck_at: "at {t}",
    ck_answered_promptly: "Answered fast", ck_greeting: "Greeting", ck_restated: "Restated",
    ck_numbers_read_back: "Read back #", ck_read_back: "Read back {n}",
    ck_anything_else_asked: "Anything else?", ck_thanked: "Thanked",
    ck_customer_hung_up_first: "Cust. hung up", ck_not_hung_up_on_upset: "No upset hang-up",
    ckt_answered_promptly: "Answered within a few rings", ckt_greeting: "Greeted with the company and own name",
    ckt_restated: "Restated the customer's problem before a fix", ckt_numbers_read_back: "Read the customer's numbers back",
    ckt_anything_else_asked: "Asked: anything else I can help with?", ckt_thanked: "Thanked the customer",
    ckt_customer_hung_up_first: "Let the customer hang up first", ckt_not_hung_up_on_upset: "Never hung up on an upset customer",
    score: "Score", score_title: "call checklist: items done / items decided",
    agent_recent: "{agent}'s recent calls: {scores}", often_missed: "missed in them: {items}",
    // supervisor console
    sup_title: "Supervisor console", calls: "Live calls", call: "Call", duration: "Time",
    flags: "Prompts on screen", last_prompt: "Last prompt", actions: "Supervise", no_calls: "No calls yet",
    state: "Status", sup_mood: "Mood", listen: "Listen", whisper: "Whisper", barge: "Barge", off: "Stop",
    siprec_no_modes: "Recorded call (SIPREC): listen only, no whisper or barge",
    following: "Following", close: "Close", prompts: "Prompts",
    msg_from: "Message from {name}", got_it: "Got it", send_msg: "Send to agent",
    msg_placeholder: "Message to the agent…", msg_sent: "Message sent to the agent",
    flag_alert: "ALERT", flag_agitation: "AGITATED", flag_cleared: "cleared {at}",
    flag_agitated_for: "customer agitated {s} s", status_live: "live", status_ended: "ended",
    status_lost: "lost", status_lost_title: "the agent's plugin stopped answering: how the call went on is unknown",
    // a SIPREC recording paused by the recording client (e.g. while a card number is given)
    rec_paused: "Recording paused", since: "since {at}", rec_resumed: "recording resumed {at}",
    rec_paused_title: "The recording client paused the recording (e.g. while a card number is given): no audio, no prompts until it resumes",
    // a recorded (SIPREC) call: a copy of the audio of a call on the agent's own phone
    rec_own_phone: "Recording from your phone",
    rec_own_phone_title: "A copy of the call on your own phone (SIPREC): answer, hold and hang up on your phone; this page only coaches",
    siprec_note: "listen only",
  },
  zh: {
    title: "通话助手", connecting: "连接中…", live: "已连接", reconnecting: "重新连接中…",
    reg_failing: "电话未注册，来电无法接通：{msg}", reg_registered: "电话已注册", reg_registering: "电话注册中…",
    denied: "拒绝访问：令牌无效或缺失", waiting: "等待通话…",
    on_call: "通话中", ended: "通话已结束", silence: "沉默", talk_share: "说话占比",
    agent: "坐席", customer: "客户", pace: "坐席语速", level: "音量", mood: "客户情绪",
    wpm: "{n} 字/分", wpm_title: "坐席每分钟字数",
    mood_calm: "平静", mood_tense: "紧张", mood_agitated: "激动", mood_unknown: "—",
    mood_upset: "不满", mood_upset_title: "依据客户说的话（屏幕上的提示）",
    mood_voice_title: "依据客户的声音（音调和音量）",
    done: "已处理", not_helpful: "没帮助", resolved: "已解决", transcript: "转写",
    missed: "未处理：通话结束前没有处理", expired: "已超时",
    prompts_empty: "提示会显示在这里。", missed_n: "{n} 条未处理",
    transcript_empty: "坐席和客户说的话会显示在这里。",
    hint: "d = 已处理 · n = 没帮助（最上面的提示）", evidence: "依据", at: "时间",
    sent: "已发送", failed: "失败",
    asr_label: "转写", asr_off: "转写未开启：词语提示已关闭",
    asr_high: "大部分词语可靠", asr_fair: "部分词语不确定", asr_low: "很多词语不确定",
    asr_on: "已开启", asr_unsure: "最近 {n} 个词中 {pct}% 不确定（灰色）",
    unsure_word: "识别器对这个词没有把握（{pct}%）",
    asr_fallback: "备用引擎：此语言未安装更好的模型",
    dropping: "音频丢失：已丢 {n} 帧", lagging: "转写延迟 {s} 秒（{who}）",
    listening: "正在听…",
    answer: "接听", hangup: "挂断", dial: "呼叫", st_ringing: "振铃中", st_confirmed: "通话中",
    decline: "拒接", incoming_call: "来电", other_call: "另一通电话",
    st_held: "保持中", st_ended: "已结束",
    ev_silence_s: "沉默 {v} 秒", ev_last_speaker: "最后说话：{v}", ev_talk_s: "说了 {v} 秒",
    ev_speaker: "说话人：{v}", ev_overlap_s: "双方同时说话 {v} 秒",
    ev_run_s: "连续说了 {v} 秒", ev_share: "占说话时间 {pct}", ev_wpm: "每分钟 {v} 字",
    ev_source_words: "按转写计算", ev_source_syllables: "按音频估计",
    ev_level_dbfs: "音量 {v} dB", ev_noise_dbfs: "线路噪声 {v} dB",
    ev_pitch_st: "音调升高 {v} 个半音", ev_level_db: "比平时响 {v} dB",
    ev_phrase: "短语“{v}”", ev_heard: "听到“{v}”", ev_trigger: "在“{v}”之后",
    ev_numbers: "未复述：{v}", ev_missing: "缺少：{v}", ev_suggestion: "可以说：“{v}”",
    checklist: "通话规范", ck_pending: "尚未", ck_yes: "已做到", ck_no: "未做到",
    ck_na: "不适用", ck_at: "{t}",
    ck_answered_promptly: "及时接听", ck_greeting: "规范问候", ck_restated: "复述问题",
    ck_numbers_read_back: "复述号码", ck_read_back: "复述号码 {n}",
    ck_anything_else_asked: "询问其他需求", ck_thanked: "感谢客户",
    ck_customer_hung_up_first: "客户先挂机", ck_not_hung_up_on_upset: "未挂断激动客户",
    ckt_answered_promptly: "几声铃内接听", ckt_greeting: "问候时报出公司和姓名",
    ckt_restated: "提出方案前复述客户问题", ckt_numbers_read_back: "复述客户给的号码",
    ckt_anything_else_asked: "询问：还有什么可以帮您？", ckt_thanked: "感谢客户",
    ckt_customer_hung_up_first: "让客户先挂机", ckt_not_hung_up_on_upset: "不挂断情绪激动的客户",
    score: "规范", score_title: "通话规范：做到的项 / 已判定的项",
    agent_recent: "{agent} 最近的通话：{scores}", often_missed: "其中未做到：{items}",
    sup_title: "班长监控台", calls: "进行中的通话", call: "通话", duration: "时长",
    flags: "当前提示", last_prompt: "最近提示", actions: "介入", no_calls: "暂无通话",
    state: "状态", sup_mood: "情绪", listen: "监听", whisper: "耳语", barge: "插话", off: "停止",
    siprec_no_modes: "录音分流通话：只能监听，不能耳语或插话",
    following: "正在跟踪", close: "关闭", prompts: "提示",
    msg_from: "来自 {name} 的消息", got_it: "知道了", send_msg: "发给坐席",
    msg_placeholder: "给坐席的消息…", msg_sent: "消息已发给坐席",
    flag_alert: "警报", flag_agitation: "客户激动", flag_cleared: "{at} 已解除",
    flag_agitated_for: "客户激动 {s} 秒", status_live: "进行中", status_ended: "已结束",
    status_lost: "已失联", status_lost_title: "坐席插件已失去联系：通话之后的情况未知",
    rec_paused: "录音已暂停", since: "自 {at} 起", rec_resumed: "录音已于 {at} 恢复",
    rec_paused_title: "录音客户端暂停了录音（例如客户报卡号时）：恢复前没有音频，也没有提示",
    rec_own_phone: "正在录制您话机上的通话",
    rec_own_phone_title: "这是您话机上通话的录音副本：接听、保持和挂断请在话机上操作；本页只提供辅导",
    siprec_note: "仅监听",
  },
};

const I18N = {
  forced: new URLSearchParams(location.search).get("lang"),
  lang: "en",
  onChange: [],
  /** Switch to `lang` (unless ?lang= forces one) and re-label every [data-i18n] node. */
  set(lang) {
    const want = this.forced || lang || "en";
    const next = STRINGS[want] ? want : "en";
    const changed = next !== this.lang;
    this.lang = next;
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = this.t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = this.t(node.dataset.i18nPlaceholder);
    }
    if (changed) for (const fn of this.onChange) fn();
  },
  /** The string `key`, with {name} filled from `vars`. */
  t(key, vars) {
    let s = STRINGS[this.lang][key] ?? STRINGS.en[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
    return s;
  },
  has(key) { return key in STRINGS[this.lang] || key in STRINGS.en; },
};

/** A rule's readable title: the pack's (on the prompt), else the id made readable. */
function ruleTitle(p) {
  if (p.title) return p.title;
  const s = String(p.rule || "").replaceAll("_", " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A prompt's evidence as a short sentence in the page's language (hover detail). */
function evidenceWords(ev) {
  const parts = [];
  for (const [k, raw] of Object.entries(ev || {})) {
    if (raw === "" || raw === null || k === "score" || k === "count" || k === "pitch_hz") continue;
    let v = Array.isArray(raw) ? raw.join(" ") : typeof raw === "object" ? JSON.stringify(raw) : raw;
    if (k === "speaker" || k === "last_speaker") v = I18N.t(v);
    if (k === "source") { parts.push(I18N.t(`ev_source_${v}`)); continue; }
    const key = `ev_${k}`;
    if (I18N.has(key)) parts.push(I18N.t(key, { v, pct: `${Math.round(Number(raw) * 100)}%` }));
    else parts.push(`${k.replaceAll("_", " ")}: ${v}`);
  }
  return parts.join(" · ");
}
