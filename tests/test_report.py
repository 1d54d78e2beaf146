"""The post-call report: summary arithmetic on real session events, PNG and HTML output."""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from conftest import run_session, timeline

from assist.core.events import (
    CallEnded,
    CallStarted,
    Event,
    EventData,
    Feedback,
    Meters,
    Prompt,
    PromptCleared,
    SpeakerMeters,
    Speech,
    SupervisorAction,
    Transcript,
)
from assist.runtime.report import render_html, render_png, render_svg, summarise

TOL = 0.3  # VAD boundaries are decided on 20 ms frames with hysteresis


def near(spans: list[tuple[float, float]], expected: list[tuple[float, float]]) -> bool:
    return len(spans) == len(expected) and all(
        abs(a - x) <= TOL and abs(b - y) <= TOL
        for (a, b), (x, y) in zip(spans, expected, strict=True)
    )


@pytest.fixture(scope="module")
def call_events() -> list[dict[str, Any]]:
    agent = timeline(20, [(0.5, 4.0), (8.5, 9.5)])
    customer = timeline(20, [(3.0, 6.0)], seed=3)
    return [e.to_dict() for e in run_session(agent, customer)]


def test_lanes_overlaps_silences_and_talk_share_match_the_audio(
    call_events: list[dict[str, Any]],
) -> None:
    rep = summarise(call_events)
    assert near(rep.speech["agent"], [(0.5, 4.0), (8.5, 9.5)]), rep.speech
    assert near(rep.speech["customer"], [(3.0, 6.0)]), rep.speech
    assert near(rep.overlaps, [(3.0, 4.0)])
    assert near(rep.silences, [(6.0, 8.5), (9.5, 20.0)])
    assert rep.longest_silence == rep.silences[-1]
    assert rep.talk_share["agent"] == pytest.approx(4.5 / 7.5, abs=0.05)
    assert rep.talk_share["agent"] + rep.talk_share["customer"] == pytest.approx(1.0)
    assert rep.reason == "completed" and rep.duration_s == pytest.approx(20.0, abs=0.02)


def test_prompts_by_rule_counts_what_the_rules_raised(call_events: list[dict[str, Any]]) -> None:
    rep = summarise(call_events)
    raised = [e["data"]["rule"] for e in call_events if e["type"] == "prompt"]
    assert "customer_silence" in raised  # the agent spoke last, then 10 s of nothing
    assert rep.prompts_by_rule == {r: raised.count(r) for r in set(raised)}
    (silence,) = [p for p in rep.prompts if p["rule"] == "customer_silence"]
    assert rep.silences[-1][0] < silence["t"] < rep.silences[-1][1]


def envelope(events: list[tuple[float, EventData]]) -> list[dict[str, Any]]:
    return [Event("c", i, t, d).to_dict() for i, (t, d) in enumerate(events)]


def start() -> tuple[float, EventData]:
    return 0.0, CallStarted(lang="en", source="demo", sample_rate=16000, agent="ann")


def test_numbers_confirmed_yes_no_or_unknown() -> None:
    said = (5.0, Transcript(speaker="customer", kind="final", text="my account is 4 4 7 1"))
    flagged = (
        9.0,
        Prompt(
            prompt_id="confirm_numbers-1", rule="confirm_numbers", text="Read back", severity="warn"
        ),
    )
    back = (7.0, Transcript(speaker="agent", kind="final", text="that's four four seven one"))
    end = (10.0, CallEnded(duration_s=10.0))
    assert summarise(envelope([start(), said, flagged, end])).numbers_confirmed is False
    rep = summarise(envelope([start(), said, back, end]))
    assert rep.numbers_confirmed is True and rep.numbers_read_back == ["4471"]
    # issue 13 point 10: a number nobody was heard reading back is "unknown", never "yes"
    assert summarise(envelope([start(), said, end])).numbers_confirmed is None
    assert summarise(envelope([start(), end])).numbers_confirmed is None
    early = (4.0, Transcript(speaker="agent", kind="final", text="four four seven one?"))
    assert summarise(envelope([start(), early, said, end])).numbers_confirmed is None


def test_each_prompt_has_an_outcome_and_one_the_end_cleared_is_missed() -> None:
    def prompt(t: float, i: int) -> tuple[float, EventData]:
        return t, Prompt(prompt_id=f"p{i}", rule="r", text=f"cue {i}", severity="warn")

    def cleared(t: float, i: int, reason: str) -> tuple[float, EventData]:
        return t, PromptCleared(prompt_id=f"p{i}", rule="r", reason=reason)

    events = [start(), *(prompt(1.0 + i, i) for i in range(5))]
    events += [
        (6.0, Feedback(prompt_id="p0", rule="r", verdict="done")),
        cleared(6.0, 0, "acknowledged"),
        cleared(7.0, 1, "condition_ended"),
        cleared(8.0, 2, "expired"),
        cleared(9.0, 3, "call_ended"),  # p4: never cleared, the call ended
        (9.0, CallEnded(duration_s=9.0)),
    ]
    rep = summarise(envelope(events))
    assert [p["outcome"] for p in rep.prompts] == [
        "done", "resolved", "timed_out", "missed", "missed",
    ]  # fmt: skip
    assert rep.missed == 2
    page = render_html(rep, "<svg></svg>")
    assert "<td class='outcome missed'>missed</td>" in page
    assert "2 of 5 (not acted on before the call ended)" in page
    assert "resolved" not in [p["outcome"] for p in rep.prompts[3:]]
    live = summarise(envelope(events[:6]))  # no end yet: still on screen, not missed
    assert {p["outcome"] for p in live.prompts} == {"open"}


def test_an_interrupted_call_keeps_its_open_speech_run() -> None:
    events = envelope(
        [
            start(),
            (1.2, Speech(speaker="customer", state="start", at=1.0)),
            (7.5, CallEnded(duration_s=7.5, reason="interrupted")),
        ]
    )
    rep = summarise(events)
    assert rep.speech["customer"] == [(1.0, 7.5)] and rep.reason == "interrupted"
    assert rep.talk_share == {"agent": 0.0, "customer": 1.0}


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def meters(t: float, pitch: float | None) -> tuple[float, EventData]:
    m = SpeakerMeters(
        speaking=True, talk_share=0.5, level_dbfs=-20.0, noise_dbfs=-60.0, pitch_hz=pitch
    )
    return t, Meters(agent=m, customer=m, silence_s=0.0)


def test_png_is_a_timeline_with_a_pitch_lane_only_when_meters_carry_pitch(
    call_events: list[dict[str, Any]],
) -> None:
    assert png_size(render_png(summarise(call_events), width_in=12, dpi=100))[0] == 1200

    def size(pitch: float | None) -> tuple[int, int]:
        events = [start(), meters(0.5, pitch), meters(1.0, pitch), (2.0, CallEnded(2.0))]
        return png_size(render_png(summarise(envelope(events)), width_in=12, dpi=100))

    (w, h), (w2, h2) = size(None), size(180.0)
    assert w == w2 == 1200 and h2 > h


def test_html_is_self_contained_and_escapes_what_was_said() -> None:
    events = envelope(
        [
            start(),
            (1.0, Speech(speaker="agent", state="start", at=0.8)),
            (3.0, Speech(speaker="agent", state="stop", at=2.9, duration_s=2.1)),
            (
                3.1,
                Transcript(
                    speaker="agent",
                    kind="final",
                    text="<script>alert(1)</script> hi",
                    start=0.8,
                    end=2.9,
                ),
            ),
            (
                12.0,
                Prompt(
                    prompt_id="customer_silence-1",
                    rule="customer_silence",
                    text="Customer silent 8s & more",
                    severity="warn",
                ),
            ),
            (
                12.5,
                Feedback(
                    prompt_id="customer_silence-1",
                    rule="customer_silence",
                    verdict="done",
                    client="agent:<b>ann</b>",
                ),
            ),
            (12.8, SupervisorAction(mode="whisper", supervisor="<i>sue</i>", ok=False)),
            (13.0, CallEnded(duration_s=13.0)),
        ]
    )
    rep = summarise(events)
    page = render_html(rep, render_svg(rep))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; hi" in page
    assert "Customer silent 8s &amp; more" in page
    assert page.count("<svg ") == 1 and "<?xml" not in page  # the timeline inline, as SVG
    assert re.search(r"Longest silence</th><td>10\.1 s at 0:02\.9", page)
    assert "Customer silence × 1" in page and "agent 100% · customer 0%" in page
    assert "unknown (no read-back heard)" in page
    assert "Customer silence: done" in page
    assert "0:12.8 &lt;i&gt;sue&lt;/i&gt; whisper (failed)" in page
    assert not re.search(r"(src|href)=\S*https?:", page)  # nothing fetched from elsewhere


def test_a_call_without_events_cannot_be_reported() -> None:
    with pytest.raises(ValueError, match="no events"):
        summarise([])


def test_a_transferred_recorded_call_names_every_agent_in_order() -> None:
    from assist.core.events import Recording

    events = [
        start(),
        (0.1, Recording(agent_aor="sip:1001@pbx", agent="ann")),  # the session's first metadata
        (5.0, Recording(agent_aor="sip:2002@pbx", agent="bob", update=True)),  # transfer
        (6.0, Recording(agent_aor="sip:2002@pbx", agent="bob", update=True, paused=True)),
        (9.0, CallEnded(duration_s=9.0)),
    ]
    rep = summarise(envelope(events))
    assert rep.agent == "ann → bob"
    assert "Agent ann → bob" in render_html(rep, "<svg></svg>")
