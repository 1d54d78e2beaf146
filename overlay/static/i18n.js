"use strict";
// UI strings of both pages, English and Chinese. Prompt texts come from the rule packs
// (already in the call's language). The language is ?lang= if given, else the call's
// call_started.data.lang, else English.

const STRINGS = {
  en: {
    title: "Call assist", connecting: "connecting…", live: "live", reconnecting: "reconnecting…",
    denied: "access denied: bad or missing token", waiting: "waiting for a call…",
    ended: "call ended", silence: "Silence", talk_share: "Talk share", agent: "Agent",
    customer: "Customer", pace: "Pace", level: "Level", mood: "Mood", wpm: "wpm",
    mood_calm: "calm", mood_tense: "tense", mood_agitated: "agitated", mood_unknown: "—",
    done: "Done", not_helpful: "Not helpful", transcript: "Transcript",
    hint: "d = done · n = not helpful (top card)", evidence: "Evidence", at: "at",
    sent: "sent", failed: "failed", speech: "Speech", listening: "listening…", no_speech: "Speech recognition off: word cues disabled",
    answer: "Answer", hangup: "Hang up", dial: "Call", st_ringing: "ringing", st_confirmed: "connected",
    st_held: "on hold", st_ended: "ended",
    sup_title: "Supervisor console", calls: "Live calls", call: "Call", duration: "Duration",
    flags: "Flags", last_prompt: "Last prompt", actions: "Supervise", no_calls: "No calls yet",
    listen: "Listen", whisper: "Whisper", barge: "Barge", off: "Stop",
    follow_hint: "Click a call to follow it", following: "Following", prompts: "Prompts",
    flag_alert: "ALERT", flag_agitation: "AGITATED", status_live: "live", status_ended: "ended",
  },
  zh: {
    title: "通话助手", connecting: "连接中…", live: "实时", reconnecting: "重新连接中…",
    denied: "拒绝访问：令牌无效或缺失", waiting: "等待通话…",
    ended: "通话已结束", silence: "沉默", talk_share: "说话占比", agent: "坐席",
    customer: "客户", pace: "语速", level: "音量", mood: "情绪", wpm: "字/分",
    mood_calm: "平静", mood_tense: "紧张", mood_agitated: "激动", mood_unknown: "—",
    done: "已处理", not_helpful: "没帮助", transcript: "转写",
    hint: "d = 已处理 · n = 没帮助（最上面的提示）", evidence: "依据", at: "时间",
    sent: "已发送", failed: "失败", speech: "语音识别", listening: "正在听…", no_speech: "语音识别未开启：词语提示已关闭",
    answer: "接听", hangup: "挂断", dial: "呼叫", st_ringing: "振铃中", st_confirmed: "通话中",
    st_held: "保持中", st_ended: "已结束",
    sup_title: "班长监控台", calls: "进行中的通话", call: "通话", duration: "时长",
    flags: "提示", last_prompt: "最近提示", actions: "监听", no_calls: "暂无通话",
    listen: "监听", whisper: "耳语", barge: "插话", off: "停止",
    follow_hint: "点击通话以跟踪", following: "正在跟踪", prompts: "提示",
    flag_alert: "警报", flag_agitation: "客户激动", status_live: "进行中", status_ended: "已结束",
  },
};

const I18N = {
  forced: new URLSearchParams(location.search).get("lang"),
  lang: "en",
  set(lang) {
    const want = this.forced || lang || "en";
    this.lang = STRINGS[want] ? want : "en";
    document.documentElement.lang = this.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = this.t(node.dataset.i18n);
  },
  t(key) { return STRINGS[this.lang][key] ?? STRINGS.en[key] ?? key; },
};
