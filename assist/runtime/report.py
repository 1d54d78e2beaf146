"""The post-call report: a summary of one stored call, a timeline, one self-contained HTML.

Works from the stored event envelopes (the `assist calls export` format), so a report can be
made for any call in the store, including one that was interrupted. `summarise()` is plain
arithmetic over the events; `render_png()` / `render_svg()` draw the timeline with matplotlib
(no display); `render_html()` inlines the SVG so the one file can be mailed or archived.

The report speaks the call's language (en/zh). Prompt labels on the timeline are stacked in
rows so that none overlaps another (their widths are measured with the font that draws them).
Colours follow the overlay: agent blue, customer orange; red is kept for alerts.

Each prompt has an outcome: the agent's verdict (done / not helpful) if they gave one; else
"resolved" when its cue ended, "timed out" when its time ran out, and "missed" when the call's
end cleared it (or nothing did): a prompt nobody acted on is never shown as resolved.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from assist.core import numbers
from assist.core.checklist import Item, checklist, score, stored
from assist.core.pack import RulePack
from assist.runtime.packs import LANGS, default_pack

SPEAKERS = ("agent", "customer")
TRANSFERRED = " → "  # between the agents of a transferred (SIPREC) call
NUMBER_RULES = ("confirm_numbers",)  # rules that mean "the customer's numbers were not read back"
MIN_SILENCE_S = 2.0  # shorter gaps are turn-taking, not silences worth drawing
READBACK_MIN_DIGITS = 3  # as the built-in confirm_numbers rule: shorter numbers are not checked
COLOURS = {"agent": "#2f6fd0", "customer": "#e07b12", "overlap": "#8e5bc4", "silence": "#bbbbbb"}
SEVERITY_COLOURS = {"info": "#55657a", "warn": "#a86b00", "alert": "#d62728"}
FONTS = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC"]  # CJK glyphs by fallback

Span = tuple[float, float]


@dataclass
class CallReport:
    call_id: str
    duration_s: float
    reason: str | None  # from call_ended; None if the call has no end yet
    lang: str = ""
    agent: str = ""
    speech: dict[str, list[Span]] = field(default_factory=lambda: {s: [] for s in SPEAKERS})
    silences: list[Span] = field(default_factory=list)  # nobody speaking >= MIN_SILENCE_S
    overlaps: list[Span] = field(default_factory=list)
    meters: list[dict[str, Any]] = field(default_factory=list)  # t, level/pitch per speaker
    prompts: list[dict[str, Any]] = field(default_factory=list)  # t + prompt data
    transcript: list[dict[str, Any]] = field(default_factory=list)  # final transcripts
    feedback: list[dict[str, Any]] = field(default_factory=list)
    supervisor: list[dict[str, Any]] = field(default_factory=list)  # supervisor_action events
    messages: list[dict[str, Any]] = field(default_factory=list)  # supervisor_message events
    checklist: list[Item] = field(default_factory=list)  # the call-shape checklist
    dropped: int = 0  # audio frames dropped during the call
    errors: list[str] = field(default_factory=list)

    @property
    def talk_s(self) -> dict[str, float]:
        return {s: sum(b - a for a, b in self.speech[s]) for s in SPEAKERS}

    @property
    def talk_share(self) -> dict[str, float]:
        talk = self.talk_s
        total = sum(talk.values())
        return {s: (talk[s] / total if total else 0.0) for s in SPEAKERS}

    @property
    def longest_silence(self) -> Span | None:
        return max(self.silences, key=lambda s: s[1] - s[0], default=None)

    @property
    def missed(self) -> int:
        return sum(p.get("outcome") == "missed" for p in self.prompts)

    @property
    def prompts_by_rule(self) -> dict[str, int]:
        return dict(Counter(p["rule"] for p in self.prompts).most_common())

    @property
    def overlap_s(self) -> float:
        return sum(b - a for a, b in self.overlaps)

    @property
    def numbers_read_back(self) -> list[str]:
        """The customer's numbers the agent was heard saying back afterwards."""
        out: list[str] = []
        for i, x in enumerate(self.transcript):
            if x.get("speaker") != "customer":
                continue
            later = [y for y in self.transcript[i + 1 :] if y.get("speaker") == "agent"]
            said = [n for y in later for n in numbers.extract(str(y["text"]), self.lang or "en")]
            for n in numbers.extract(str(x["text"]), self.lang or "en"):
                if len(n) >= READBACK_MIN_DIGITS and numbers.read_back(n, said):
                    out.append(n)
        return out

    @property
    def numbers_confirmed(self) -> bool | None:
        """True only if a read-back was heard; False: a read-back prompt was raised; None:
        unknown (no transcript, no numbers heard, or the recogniser may have missed them)."""
        if self.numbers_read_back:
            return True
        if any(p["rule"] in NUMBER_RULES for p in self.prompts):
            return False
        return None


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(xs: list[Span], ys: list[Span]) -> list[Span]:
    out: list[Span] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if a < b:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def summarise(events: list[dict[str, Any]]) -> CallReport:
    """Build the report of one call from its event envelopes (in any order)."""
    events = sorted(events, key=lambda e: e["seq"])
    if not events:
        raise ValueError("a call with no events has nothing to report")
    end = events[-1]
    duration = max(float(e["t"]) for e in events)
    rep = CallReport(call_id=str(events[0]["call_id"]), duration_s=duration, reason=None)
    open_at: dict[str, float] = {}
    cleared: dict[str, str] = {}  # prompt id -> why it left the screen
    verdicts: dict[str, str] = {}  # prompt id -> the agent's last verdict
    for ev in events:
        d, kind = ev.get("data", {}), ev["type"]
        if kind == "call_started":
            rep.lang, rep.agent = str(d.get("lang", "")), str(d.get("agent", ""))
        elif kind == "recording" and d.get("agent"):
            # a SIPREC transfer: every agent the call had, in order ("alice → bob")
            if rep.agent.rpartition(TRANSFERRED)[2] != d["agent"]:
                rep.agent = f"{rep.agent}{TRANSFERRED}{d['agent']}" if rep.agent else d["agent"]
        elif kind == "call_ended":
            rep.reason = str(d.get("reason", ""))
            rep.duration_s = duration = max(duration, float(d.get("duration_s", 0.0)))
        elif kind == "speech" and d.get("speaker") in SPEAKERS:
            if d.get("state") == "start":
                open_at[d["speaker"]] = float(d["at"])
            elif d["speaker"] in open_at:
                rep.speech[d["speaker"]].append((open_at.pop(d["speaker"]), float(d["at"])))
        elif kind == "meters":
            rep.meters.append({"t": float(ev["t"]), **{s: d.get(s) or {} for s in SPEAKERS}})
        elif kind == "prompt":
            rep.prompts.append({"t": float(ev["t"]), **d})
        elif kind == "transcript" and d.get("kind") == "final" and d.get("text"):
            start = d.get("start")
            rep.transcript.append({"t": float(start if start is not None else ev["t"]), **d})
        elif kind == "feedback":
            rep.feedback.append({"t": float(ev["t"]), **d})
            verdicts[str(d.get("prompt_id", ""))] = str(d.get("verdict", ""))
        elif kind == "prompt_cleared":
            cleared.setdefault(str(d.get("prompt_id", "")), str(d.get("reason", "")))
        elif kind == "supervisor_action":
            rep.supervisor.append({"t": float(ev["t"]), **d})
        elif kind == "supervisor_message":
            rep.messages.append({"t": float(ev["t"]), **d})
        elif kind == "dropped":
            rep.dropped += int(d.get("count", 0))
        elif kind == "error":
            rep.errors.append(f"{d.get('source', '?')}: {d.get('message', '')}")
    for speaker, at in open_at.items():  # an interrupted call: speech runs to the last event
        rep.speech[speaker].append((at, max(at, float(end["t"]))))
    for s in SPEAKERS:
        rep.speech[s] = _merge(rep.speech[s])
    rep.overlaps = _intersect(rep.speech["agent"], rep.speech["customer"])
    edges = [(0.0, 0.0), *_merge(rep.speech["agent"] + rep.speech["customer"])]
    edges.append((rep.duration_s, rep.duration_s))
    rep.silences = [
        (a[1], b[0]) for a, b in zip(edges, edges[1:], strict=False) if b[0] - a[1] >= MIN_SILENCE_S
    ]
    rep.transcript.sort(key=lambda x: x["t"])
    for p in rep.prompts:
        pid = str(p.get("prompt_id", ""))
        p["outcome"] = verdicts.get(pid) or OUTCOMES.get(
            cleared.get(pid, ""), "missed" if rep.reason is not None else "open"
        )
    rep.checklist = judged(events, rep.lang or "en")
    return rep


@lru_cache(maxsize=4)
def _pack(lang: str) -> RulePack:
    """The built-in pack that judges a stored call's checklist (one recorded before the
    session sent its own)."""
    return default_pack(lang if lang in LANGS else "en")


def judged(events: list[dict[str, Any]], lang: str) -> list[Item]:
    """A stored call's checklist: the one its session sent at the end, else judged now."""
    return stored(events) or checklist(events, _pack(lang))


# why a prompt left the screen -> its outcome, when the agent gave no verdict
OUTCOMES = {"condition_ended": "resolved", "expired": "timed_out", "call_ended": "missed"}


# --- timeline ---------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Call report {id}",
        "who": "Agent {agent} · language {lang}",
        "summary": "Summary",
        "checklist": "Checklist",
        "item_answered_promptly": "answered promptly",
        "item_greeting": "greeting with company and name",
        "item_restated": "problem restated",
        "item_numbers_read_back": "numbers read back",
        "item_anything_else_asked": "anything else asked",
        "item_thanked": "customer thanked",
        "item_customer_hung_up_first": "customer hung up first",
        "item_not_hung_up_on_upset": "no hang-up on an upset customer",
        "timeline": "Timeline",
        "prompts": "Prompts",
        "transcript": "Transcript",
        "duration": "Duration",
        "ended": "Ended",
        "not_ended": "not recorded (still live?)",
        "talk_share": "Talk share",
        "longest_silence": "Longest silence",
        "none": "none",
        "overlap": "Overlap",
        "stretches": "{s:.1f} s in {n} stretch(es)",
        "prompts_by_rule": "Prompts by rule",
        "numbers": "Numbers confirmed",
        "yes": "yes (read back: {n})",
        "no": "no (read-back prompt raised)",
        "unknown": "unknown (no read-back heard)",
        "unknown_no_text": "unknown (no transcript)",
        "feedback": "Agent feedback",
        "supervisor": "Supervisor",
        "messages": "Supervisor's messages",
        "failed": "failed",
        "dropped": "Audio dropped",
        "frames": "{n} frames",
        "errors": "Errors",
        "at": "at",
        "severity": "severity",
        "rule": "prompt",
        "text": "text",
        "speaker": "speaker",
        "agent": "agent",
        "customer": "customer",
        "silence": "silence",
        "no_prompts": "No prompts.",
        "no_transcript": "No transcript (speech recognition was off).",
        "seconds": "seconds of call audio",
        "level": "level dBFS",
        "pitch": "pitch Hz",
        "call": "Call {id}",
        "info": "info",
        "warn": "warning",
        "alert": "alert",
        "done": "done",
        "not_helpful": "not helpful",
        "outcome": "outcome",
        "resolved": "resolved",
        "timed_out": "timed out",
        "missed": "missed",
        "open": "still on screen",
        "missed_row": "Prompts missed",
        "missed_of": "{n} of {m} (not acted on before the call ended)",
        "lang_en": "English",
        "lang_zh": "Chinese",
        "reason_completed": "completed",
        "reason_interrupted": "interrupted",
        "reason_hangup": "hung up",
        "reason_dropped": "dropped (no audio)",
        "reason_failed": "failed",
        "reason_missed": "not answered",
        "at_clock": "{d:.1f} s at {at}",
        "timeline_alt": "timeline of call {id}",
    },
    "zh": {
        "title": "通话报告 {id}",
        "who": "坐席 {agent} · 语言 {lang}",
        "summary": "概要",
        "checklist": "通话规范",
        "item_answered_promptly": "及时接听",
        "item_greeting": "问候报出公司和姓名",
        "item_restated": "复述客户问题",
        "item_numbers_read_back": "复述号码",
        "item_anything_else_asked": "询问其他需求",
        "item_thanked": "感谢客户",
        "item_customer_hung_up_first": "客户先挂机",
        "item_not_hung_up_on_upset": "未挂断情绪激动的客户",
        "timeline": "时间线",
        "prompts": "提示",
        "transcript": "转写",
        "duration": "时长",
        "ended": "结束方式",
        "not_ended": "未记录（仍在进行？）",
        "talk_share": "说话占比",
        "longest_silence": "最长沉默",
        "none": "无",
        "overlap": "同时说话",
        "stretches": "{s:.1f} 秒，共 {n} 段",
        "prompts_by_rule": "各类提示次数",
        "numbers": "号码已复述",
        "yes": "是（已复述：{n}）",
        "no": "否（触发了复述提示）",
        "unknown": "未知（未听到复述）",
        "unknown_no_text": "未知（无转写）",
        "feedback": "坐席反馈",
        "supervisor": "班长",
        "messages": "班长的消息",
        "failed": "失败",
        "dropped": "音频丢失",
        "frames": "{n} 帧",
        "errors": "错误",
        "at": "时间",
        "severity": "级别",
        "rule": "提示",
        "text": "内容",
        "speaker": "说话人",
        "agent": "坐席",
        "customer": "客户",
        "silence": "沉默",
        "no_prompts": "没有提示。",
        "no_transcript": "没有转写（语音识别未开启）。",
        "seconds": "通话音频秒数",
        "level": "音量 dBFS",
        "pitch": "音高 Hz",
        "call": "通话 {id}",
        "info": "信息",
        "warn": "警告",
        "alert": "警报",
        "done": "已处理",
        "not_helpful": "没帮助",
        "outcome": "结果",
        "resolved": "已解决",
        "timed_out": "已超时",
        "missed": "未处理",
        "open": "仍在显示",
        "missed_row": "未处理的提示",
        "missed_of": "{m} 条中 {n} 条（通话结束前没有处理）",
        "lang_en": "英语",
        "lang_zh": "中文",
        "reason_completed": "正常结束",
        "reason_interrupted": "被中断",
        "reason_hangup": "挂断",
        "reason_dropped": "掉线（没有音频）",
        "reason_failed": "失败",
        "reason_missed": "未接听",
        "at_clock": "{d:.1f} 秒，于 {at}",
        "timeline_alt": "通话 {id} 的时间线",
    },
}


def _t(rep: CallReport, key: str, **values: Any) -> str:
    table = TEXT.get(rep.lang, TEXT["en"])
    return table.get(key, TEXT["en"][key]).format(**values)


def title_of(prompt: dict[str, Any]) -> str:
    """A prompt's readable title: the pack's, else its rule id made readable."""
    title = str(prompt.get("title") or "")
    return title or str(prompt.get("rule", "")).replace("_", " ").capitalize()


def _series(rep: CallReport, speaker: str, key: str) -> tuple[list[float], list[float]]:
    """(t, value) of one meter, NaN where the speaker is silent so the curve breaks there."""
    ts, vs = [], []
    for m in rep.meters:
        sm = m[speaker]
        v = sm.get(key)
        ts.append(m["t"])
        vs.append(float(v) if v is not None and sm.get("speaking") else math.nan)
    return ts, vs


# layout in pixels at the figure's dpi: fixed margins so label widths can be measured first
LEFT_PX, RIGHT_PX, TOP_PX, BOTTOM_PX, GAP_PX = 90, 150, 30, 46, 10
LANES_PX, PLOT_PX, LABEL_ROW_PX, LABEL_PAD_PX = 130, 100, 17, 8
LABEL_PT = 8


def _label_rows(widths: list[float], xs: list[float], right: float) -> list[tuple[int, bool]]:
    """Row and side (True: text left of its line) of each label so none overlaps another:
    each takes the first row where its span (plus padding) is free."""
    rows: list[list[tuple[float, float]]] = []
    out: list[tuple[int, bool]] = []
    for w, x in zip(widths, xs, strict=True):
        flip = x + 3 + w > right
        span = (x - 3 - w - LABEL_PAD_PX, x) if flip else (x, x + 3 + w + LABEL_PAD_PX)
        for i, taken in enumerate(rows):
            if all(span[1] <= a or span[0] >= b for a, b in taken):
                taken.append(span)
                out.append((i, flip))
                break
        else:
            rows.append([span])
            out.append((len(rows) - 1, flip))
    return out


def _figure(rep: CallReport, width_in: float, dpi: int) -> Any:
    """The timeline figure: prompt labels (stacked rows), speech lanes, level, pitch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    has_pitch = any(m[s].get("pitch_hz") is not None for m in rep.meters for s in SPEAKERS)
    width_px = width_in * dpi
    xmax = max(rep.duration_s, 1.0)
    axis_px = width_px - LEFT_PX - RIGHT_PX
    prompts = sorted(rep.prompts, key=lambda p: p["t"])
    fig = Figure(figsize=(width_in, 4), dpi=dpi)
    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]
    widths = []
    for p in prompts:
        probe = fig.text(0, 0, title_of(p), fontsize=LABEL_PT)
        widths.append(probe.get_window_extent(renderer).width)
        probe.remove()
    xs = [LEFT_PX + axis_px * min(max(p["t"], 0.0), xmax) / xmax for p in prompts]
    placed = _label_rows(widths, xs, width_px - 4)
    nrows = max([r for r, _ in placed], default=-1) + 1
    label_px = max(nrows, 1) * LABEL_ROW_PX + 6
    heights = [label_px, LANES_PX, PLOT_PX] + ([PLOT_PX] if has_pitch else [])
    height_px = TOP_PX + BOTTOM_PX + sum(heights) + GAP_PX * (len(heights) - 1)
    fig.set_size_inches(width_in, height_px / dpi)
    axes: list[Any] = []
    y = height_px - TOP_PX
    for h in heights:
        y -= h
        rect = (LEFT_PX / width_px, y / height_px, axis_px / width_px, h / height_px)
        axes.append(fig.add_axes(rect, sharex=axes[0] if axes else None))
        y -= GAP_PX
    marks, lanes = axes[0], axes[1]
    marks.set_ylim(-0.5, max(nrows, 1) - 0.5)
    marks.invert_yaxis()
    marks.set_yticks([])
    for side in ("left", "right", "top"):
        marks.spines[side].set_visible(False)
    marks.tick_params(labelbottom=False)
    marks.set_title(_t(rep, "call", id=rep.call_id), loc="left", fontsize=10)
    for i, (p, (row, flip)) in enumerate(zip(prompts, placed, strict=True)):
        colour = SEVERITY_COLOURS.get(str(p.get("severity")), "k")
        style = "-" if p.get("severity") == "alert" else "--"
        marks.plot([p["t"], p["t"]], [row, max(nrows, 1) - 0.5], color=colour, lw=1, ls=style)
        lanes.axvline(p["t"], color=colour, linewidth=1.0, linestyle=style)
        label = marks.annotate(
            title_of(p),
            (p["t"], row),
            xytext=(-3 if flip else 3, 0),
            textcoords="offset points",
            ha="right" if flip else "left",
            va="center",
            fontsize=LABEL_PT,
            color=colour,
            annotation_clip=False,
        )
        label.set_gid(f"prompt-label-{i}")
    lane_y = {"agent": 2, "customer": 1}
    for s in SPEAKERS:
        spans = [(a, b - a) for a, b in rep.speech[s]]
        lanes.broken_barh(spans, (lane_y[s] - 0.35, 0.7), color=COLOURS[s], label=_t(rep, s))
    silences = [(a, b - a) for a, b in rep.silences]
    lanes.broken_barh(
        silences, (0.3, 2.4), color=COLOURS["silence"], alpha=0.35, label=_t(rep, "silence")
    )
    overlaps = [(a, b - a) for a, b in rep.overlaps]
    lanes.broken_barh(
        overlaps, (0.6, 1.8), color=COLOURS["overlap"], alpha=0.6, label=_t(rep, "overlap")
    )
    lanes.set_yticks([2, 1], [_t(rep, "agent"), _t(rep, "customer")])
    lanes.set_ylim(0.2, 2.8)
    lanes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    level = axes[2]
    for s in SPEAKERS:
        ts, vs = _series(rep, s, "level_dbfs")
        level.plot(ts, vs, color=COLOURS[s], label=_t(rep, s), linewidth=1)
    level.set_ylabel(_t(rep, "level"))
    level.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if has_pitch:
        for s in SPEAKERS:
            axes[3].plot(*_series(rep, s, "pitch_hz"), color=COLOURS[s], linewidth=1)
        axes[3].set_ylabel(_t(rep, "pitch"))
    for ax in axes[1:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel(_t(rep, "seconds"))
    axes[-1].set_xlim(0, xmax)
    return fig


def _render(rep: CallReport, fmt: str, width_in: float, dpi: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    fonts = [f for f in FONTS if f in have] or ["sans-serif"]  # only installed ones: no warnings
    with matplotlib.rc_context({"font.family": fonts, "svg.fonttype": "none"}):
        fig = _figure(rep, width_in, dpi)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def render_png(rep: CallReport, *, width_in: float = 12.0, dpi: int = 100) -> bytes:
    """The timeline as a PNG: prompt labels, speech lanes, silences, overlaps, level, pitch."""
    return _render(rep, "png", width_in, dpi)


def render_svg(rep: CallReport, *, width_in: float = 12.0, dpi: int = 100) -> str:
    """The same timeline as SVG (text kept as text), for inlining in the HTML report."""
    svg = _render(rep, "svg", width_in, dpi).decode("utf-8")
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    return svg[svg.index("<svg") :]  # no XML prolog or doctype inside HTML


# --- HTML -------------------------------------------------------------------------------------


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def _numbers(rep: CallReport) -> str:
    v = rep.numbers_confirmed
    if v is True:
        return _t(rep, "yes", n=", ".join(rep.numbers_read_back))
    if v is False:
        return _t(rep, "no")
    return _t(rep, "unknown" if rep.transcript else "unknown_no_text")


def render_html(rep: CallReport, svg: str) -> str:
    """One self-contained page in the call's language: summary, timeline, prompts, transcript."""
    e = html.escape

    def t(key: str, **values: Any) -> str:
        return e(_t(rep, key, **values))

    share = rep.talk_share
    longest = rep.longest_silence
    summary = [
        (t("duration"), f"{rep.duration_s:.1f} s"),
        (t("ended"), e(_reason(rep))),
        (
            t("talk_share"),
            f"{t('agent')} {share['agent']:.0%} · {t('customer')} {share['customer']:.0%}",
        ),
        (
            t("longest_silence"),
            t("at_clock", d=longest[1] - longest[0], at=_clock(longest[0]))
            if longest
            else t("none"),
        ),
        (t("overlap"), t("stretches", s=rep.overlap_s, n=len(rep.overlaps))),
        (
            t("prompts_by_rule"),
            ", ".join(
                f"{e(title_of(_first(rep, k)))} × {v}" for k, v in rep.prompts_by_rule.items()
            )
            or t("none"),
        ),
        (t("numbers"), e(_numbers(rep))),
    ]
    if rep.missed:
        summary.append((t("missed_row"), t("missed_of", n=rep.missed, m=len(rep.prompts))))
    if rep.feedback:
        summary.append(
            (
                t("feedback"),
                ", ".join(
                    f"{e(title_of(_first(rep, str(f.get('rule', '')))))}: {_verdict(rep, f)}"
                    for f in rep.feedback
                ),
            )
        )
    if rep.supervisor:
        summary.append(
            (
                t("supervisor"),
                "<br>".join(
                    f"{_clock(a['t'])} {e(str(a.get('supervisor', '')))} "
                    f"{e(str(a.get('mode', '')))}" + ("" if a.get("ok") else f" ({t('failed')})")
                    for a in rep.supervisor
                ),
            )
        )
    if rep.messages:
        summary.append(
            (
                t("messages"),
                "<br>".join(
                    f"{_clock(m['t'])} {e(str(m.get('supervisor', '')))}: "
                    f"{e(str(m.get('text', '')))}"
                    for m in rep.messages
                ),
            )
        )
    if any(i.verdict != "n/a" for i in rep.checklist):
        marks = {"yes": "✓", "no": "✗", "n/a": "–", "pending": "…"}
        summary.append(
            (
                t("checklist"),
                e(score(rep.checklist))
                + " · "
                + ", ".join(
                    f"{marks[i.verdict]} {e(t('item_' + i.name))}"
                    + (f" {_clock(i.t)}" if i.t is not None else "")
                    for i in rep.checklist
                    if i.verdict != "n/a"
                ),
            )
        )
    if rep.dropped:
        summary.append((t("dropped"), t("frames", n=rep.dropped)))
    if rep.errors:
        summary.append((t("errors"), "<br>".join(e(x) for x in rep.errors)))
    rows = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in summary)
    prompts = (
        "\n".join(
            f"<tr><td>{_clock(p['t'])}</td><td class='{_sev(p)}'>{t(_sev(p))}</td>"
            f"<td>{e(title_of(p))}</td><td>{e(str(p.get('text', '')))}</td>"
            f"<td class='outcome {e(str(p.get('outcome', '')))}'>{_outcome(rep, p)}</td></tr>"
            for p in rep.prompts
        )
        or f"<tr><td colspan=5>{t('no_prompts')}</td></tr>"
    )
    lines = (
        "\n".join(
            f"<tr><td>{_clock(x['t'])}</td><td class='{_who(x)}'>{t(_who(x))}</td>"
            f"<td>{e(str(x.get('text', '')))}</td></tr>"
            for x in rep.transcript
        )
        or f"<tr><td colspan=3>{t('no_transcript')}</td></tr>"
    )
    svg = re.sub(
        r"<svg ", f'<svg role="img" aria-label="{t("timeline_alt", id=rep.call_id)}" ', svg, count=1
    )
    title = t("title", id=rep.call_id)
    lang = "zh-CN" if rep.lang == "zh" else "en"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, "WenQuanYi Micro Hei", sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: 3px 10px; border-bottom: 1px solid #ddd; }}
td {{ vertical-align: top; }}
.timeline svg {{ max-width: 100%; height: auto; }}
.agent {{ color: {COLOURS["agent"]}; }} .customer {{ color: {COLOURS["customer"]}; }}
.outcome.missed {{ color: #b35c00; font-weight: 600; }}
.warn {{ color: {SEVERITY_COLOURS["warn"]}; }} .alert {{ color: {SEVERITY_COLOURS["alert"]}; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{t("who", agent=rep.agent or "?", lang=_lang(rep))}</p>
<h2>{t("summary")}</h2>
<table class="summary">
{rows}
</table>
<h2>{t("timeline")}</h2>
<div class="timeline">{svg}</div>
<h2>{t("prompts")}</h2>
<table class="prompts"><tr><th>{t("at")}</th><th>{t("severity")}</th><th>{t("rule")}</th>
<th>{t("text")}</th><th>{t("outcome")}</th></tr>
{prompts}
</table>
<h2>{t("transcript")}</h2>
<table class="transcript"><tr><th>{t("at")}</th><th>{t("speaker")}</th><th>{t("text")}</th></tr>
{lines}
</table>
</body></html>
"""


def _lang(rep: CallReport) -> str:
    key = f"lang_{rep.lang}"
    return _t(rep, key) if key in TEXT["en"] else rep.lang or "?"


def _reason(rep: CallReport) -> str:
    """How the call ended, in the report's language (an unknown reason as it was recorded)."""
    if rep.reason is None:
        return _t(rep, "not_ended")
    key = f"reason_{rep.reason}"
    return _t(rep, key) if key in TEXT["en"] else rep.reason


def _outcome(rep: CallReport, p: dict[str, Any]) -> str:
    o = str(p.get("outcome", ""))
    return html.escape(_t(rep, o) if o in TEXT["en"] else o)


def _verdict(rep: CallReport, f: dict[str, Any]) -> str:
    v = str(f.get("verdict", ""))
    return html.escape(_t(rep, v) if v in ("done", "not_helpful") else v)


def _first(rep: CallReport, rule: str) -> dict[str, Any]:
    return next((p for p in rep.prompts if p.get("rule") == rule), {"rule": rule})


def _sev(p: dict[str, Any]) -> str:
    s = str(p.get("severity", ""))
    return s if s in SEVERITY_COLOURS else "info"


def _who(x: dict[str, Any]) -> str:
    s = str(x.get("speaker", ""))
    return s if s in SPEAKERS else "agent"
