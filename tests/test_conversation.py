"""Conversation state from scripted speech runs: stretches, overlaps, talk share."""

from __future__ import annotations

import pytest

from assist.core.conversation import Conversation
from assist.core.vad import VoiceActivity

R = 100  # a small sample rate keeps the arithmetic readable


def conv_with(runs: dict[str, list[tuple[float, float]]], until: float) -> Conversation:
    """Replay (start_s, end_s) runs per speaker up to `until`, as the session would."""
    c = Conversation(VoiceActivity(sample_rate=R), VoiceActivity(sample_rate=R), sample_rate=R)
    marks = sorted(
        (t, kind, who)
        for who, spans in runs.items()
        for a, b in spans
        for t, kind in ((a, "start"), (b, "stop"))
        if t <= until
    )
    for t, kind, who in marks:
        c.update(int(t * R))
        (c.speech_started if kind == "start" else c.speech_stopped)(who, int(t * R))  # type: ignore[arg-type]
    c.update(int(until * R))
    return c


def test_stretch_bridges_pauses_shorter_than_max_gap() -> None:
    runs = {"agent": [(1.0, 5.0), (5.8, 9.0), (11.0, 12.0)], "customer": []}
    c = conv_with(runs, 12.0)
    assert c.stretch_start("agent", 1.0) == 11 * R  # just stopped: the stretch goes on
    c = conv_with(runs, 11.5)
    assert c.stretch_start("agent", 1.0) == 11 * R  # the 2 s pause split the stretch
    assert c.stretch_start("agent", 2.5) == 1 * R  # ...unless pauses up to 2.5 s are bridged
    c = conv_with(runs, 9.5)
    assert c.stretch_start("agent", 1.0) == 1 * R  # paused 0.5 s: still the same stretch
    c = conv_with(runs, 10.5)
    assert c.stretch_start("agent", 1.0) is None  # paused 1.5 s: over


def test_last_active_and_silence() -> None:
    c = conv_with({"agent": [(1.0, 2.0)], "customer": [(3.0, 4.0)]}, 6.0)
    assert c.last_active("agent") == 2 * R and c.last_active("customer") == 4 * R
    assert c.last_speaker == "customer" and c.silence_s == pytest.approx(2.0)
    c = conv_with({"agent": [(1.0, 9.0)], "customer": []}, 5.0)
    assert c.last_active("agent") == 5 * R and c.last_active("customer") is None


def test_overlap_knows_who_started_second() -> None:
    c = conv_with({"customer": [(1.0, 9.0)], "agent": [(3.0, 8.0)]}, 5.0)
    assert c.overlap_second == "agent" and c.overlap_s == pytest.approx(2.0)
    c = conv_with({"agent": [(1.0, 9.0)], "customer": [(3.0, 8.0)]}, 5.0)
    assert c.overlap_second == "customer"
    c = conv_with({"agent": [(1.0, 9.0)], "customer": [(3.0, 4.0)]}, 5.0)
    assert c.overlap_second is None and c.overlap_s == 0.0


def test_talk_share_and_talk_over_a_window() -> None:
    c = conv_with({"agent": [(0.0, 30.0)], "customer": [(30.0, 40.0)]}, 40.0)
    assert c.talk_share("agent") == pytest.approx(0.75)
    assert c.talk_s("agent", 20.0) == pytest.approx(10.0)  # only the last 20 s
    assert c.talk_s("customer", 20.0) == pytest.approx(10.0)
    # runs older than the 180 s talk window drop out of the share
    c = conv_with({"agent": [(0.0, 30.0)], "customer": [(200.0, 210.0)]}, 210.0)
    assert c.talk_share("customer") == pytest.approx(1.0)
    assert c.talk_s("agent", 600.0) == pytest.approx(30.0)  # kept for longer queries
