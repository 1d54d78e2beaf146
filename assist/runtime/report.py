"""The post-call report: a summary of one stored call, a PNG timeline, one self-contained HTML.

Works from the stored event envelopes (the `assist calls export` format), so a report can be
made for any call in the store, including one that was interrupted. `summarise()` is plain
arithmetic over the events; `render_png()` draws the timeline with matplotlib (Agg, no
display); `render_html()` embeds that PNG as base64 so the one file can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SPEAKERS = ("agent", "customer")
NUMBER_RULES = ("confirm_numbers",)  # rules that mean "the customer's numbers were not read back"
MIN_SILENCE_S = 2.0  # shorter gaps are turn-taking, not silences worth drawing
COLOURS = {"agent": "#1f77b4", "customer": "#d62728", "overlap": "#9467bd", "silence": "#bbbbbb"}
SEVERITY_COLOURS = {"info": "#2ca02c", "warn": "#ff7f0e", "alert": "#d62728"}

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
    def prompts_by_rule(self) -> dict[str, int]:
        return dict(Counter(p["rule"] for p in self.prompts).most_common())

    @property
    def overlap_s(self) -> float:
        return sum(b - a for a, b in self.overlaps)

    @property
    def numbers_confirmed(self) -> bool | None:
        """False: a number read-back prompt was raised; True: there was a transcript and none
        was; None: no transcript, so nobody could tell."""
        if any(p["rule"] in NUMBER_RULES for p in self.prompts):
            return False
        return True if self.transcript else None


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
    for ev in events:
        d, kind = ev.get("data", {}), ev["type"]
        if kind == "call_started":
            rep.lang, rep.agent = str(d.get("lang", "")), str(d.get("agent", ""))
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
        elif kind == "supervisor_action":
            rep.supervisor.append({"t": float(ev["t"]), **d})
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
    return rep


# --- PNG --------------------------------------------------------------------------------------


def _series(rep: CallReport, speaker: str, key: str) -> tuple[list[float], list[float]]:
    """(t, value) of one meter, NaN where the speaker is silent so the curve breaks there."""
    ts, vs = [], []
    for m in rep.meters:
        sm = m[speaker]
        v = sm.get(key)
        ts.append(m["t"])
        vs.append(float(v) if v is not None and sm.get("speaking") else math.nan)
    return ts, vs


def render_png(rep: CallReport, *, width_in: float = 12.0, dpi: int = 100) -> bytes:
    """The timeline as a PNG: speech lanes, silences, overlaps, prompts, level and pitch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    has_pitch = any(m[s].get("pitch_hz") is not None for m in rep.meters for s in SPEAKERS)
    rows = 3 if has_pitch else 2
    fig = Figure(figsize=(width_in, 1.6 + 1.4 * rows), dpi=dpi, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[1.4] + [1] * (rows - 1))
    lanes = axes[0]
    y = {"agent": 2, "customer": 1}
    for s in SPEAKERS:
        spans = [(a, b - a) for a, b in rep.speech[s]]
        lanes.broken_barh(spans, (y[s] - 0.35, 0.7), color=COLOURS[s], label=s)
    lanes.broken_barh(
        [(a, b - a) for a, b in rep.silences],
        (0.3, 2.4),
        color=COLOURS["silence"],
        alpha=0.35,
        label="silence",
    )
    lanes.broken_barh(
        [(a, b - a) for a, b in rep.overlaps],
        (0.6, 1.8),
        color=COLOURS["overlap"],
        alpha=0.6,
        label="overlap",
    )
    for i, p in enumerate(rep.prompts):
        colour = SEVERITY_COLOURS.get(str(p.get("severity")), "k")
        lanes.axvline(p["t"], color=colour, linewidth=1.2, linestyle="--")
        lanes.annotate(
            str(p.get("rule", "")),
            (p["t"], 2.65 + 0.3 * (i % 2)),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=7,
            color=colour,
            annotation_clip=False,
        )
    lanes.set_yticks([2, 1], ["agent", "customer"])
    lanes.set_ylim(0.2, 3.3)
    lanes.set_title(f"Call {rep.call_id}", loc="left", fontsize=10)
    lanes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    level = axes[1]
    for s in SPEAKERS:
        level.plot(*_series(rep, s, "level_dbfs"), color=COLOURS[s], label=s, linewidth=1)
    level.set_ylabel("level dBFS")
    level.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    if has_pitch:
        for s in SPEAKERS:
            axes[2].plot(*_series(rep, s, "pitch_hz"), color=COLOURS[s], linewidth=1)
        axes[2].set_ylabel("pitch Hz")
    axes[-1].set_xlabel("seconds of call audio")
    axes[-1].set_xlim(0, max(rep.duration_s, 1.0))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --- HTML -------------------------------------------------------------------------------------


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def _yes_no(v: bool | None) -> str:
    if v is None:
        return "unknown (no transcript)"
    return "yes (no read-back prompt)" if v else "no (read-back prompt raised)"


def render_html(rep: CallReport, png: bytes) -> str:
    """One self-contained page: summary, the timeline PNG inline, prompts, transcript."""
    e = html.escape
    share = rep.talk_share
    longest = rep.longest_silence
    summary = [
        ("Duration", f"{rep.duration_s:.1f} s"),
        ("Ended", e(rep.reason or "not recorded (still live?)")),
        ("Talk share", f"agent {share['agent']:.0%} · customer {share['customer']:.0%}"),
        (
            "Longest silence",
            f"{longest[1] - longest[0]:.1f} s at {_clock(longest[0])}" if longest else "none",
        ),
        ("Overlap", f"{rep.overlap_s:.1f} s in {len(rep.overlaps)} stretch(es)"),
        (
            "Prompts by rule",
            ", ".join(f"{e(k)} × {v}" for k, v in rep.prompts_by_rule.items()) or "none",
        ),
        ("Numbers confirmed", _yes_no(rep.numbers_confirmed)),
    ]
    if rep.feedback:
        summary.append(
            (
                "Agent feedback",
                ", ".join(
                    f"{e(str(f.get('rule', '')))}: {e(str(f.get('verdict', '')))}"
                    for f in rep.feedback
                ),
            )
        )
    if rep.supervisor:
        summary.append(
            (
                "Supervisor",
                "<br>".join(
                    f"{_clock(a['t'])} {e(str(a.get('supervisor', '')))} "
                    f"{e(str(a.get('mode', '')))}" + ("" if a.get("ok") else " (failed)")
                    for a in rep.supervisor
                ),
            )
        )
    if rep.dropped:
        summary.append(("Audio dropped", f"{rep.dropped} frames"))
    if rep.errors:
        summary.append(("Errors", "<br>".join(e(x) for x in rep.errors)))
    rows = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in summary)
    prompts = (
        "\n".join(
            f"<tr><td>{_clock(p['t'])}</td><td class='{e(str(p.get('severity', '')))}'>"
            f"{e(str(p.get('severity', '')))}</td><td>{e(str(p.get('rule', '')))}</td>"
            f"<td>{e(str(p.get('text', '')))}</td></tr>"
            for p in rep.prompts
        )
        or "<tr><td colspan=4>No prompts.</td></tr>"
    )
    lines = (
        "\n".join(
            f"<tr><td>{_clock(x['t'])}</td><td class='{e(str(x.get('speaker', '')))}'>"
            f"{e(str(x.get('speaker', '')))}</td><td>{e(str(x.get('text', '')))}</td></tr>"
            for x in rep.transcript
        )
        or "<tr><td colspan=3>No transcript (speech recognition was off).</td></tr>"
    )
    img = base64.b64encode(png).decode("ascii")
    title = e(f"Call report {rep.call_id}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: 3px 10px; border-bottom: 1px solid #ddd; }}
td {{ vertical-align: top; }}
img {{ max-width: 100%; }}
.agent {{ color: {COLOURS["agent"]}; }} .customer {{ color: {COLOURS["customer"]}; }}
.warn {{ color: {SEVERITY_COLOURS["warn"]}; }} .alert {{ color: {SEVERITY_COLOURS["alert"]}; }}
</style></head>
<body>
<h1>{title}</h1>
<p>Agent {e(rep.agent or "?")} · language {e(rep.lang or "?")}</p>
<h2>Summary</h2>
<table class="summary">
{rows}
</table>
<h2>Timeline</h2>
<img alt="timeline of call {e(rep.call_id)}" src="data:image/png;base64,{img}">
<h2>Prompts</h2>
<table class="prompts"><tr><th>at</th><th>severity</th><th>rule</th><th>text</th></tr>
{prompts}
</table>
<h2>Transcript</h2>
<table class="transcript"><tr><th>at</th><th>speaker</th><th>text</th></tr>
{lines}
</table>
</body></html>
"""
