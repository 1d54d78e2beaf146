"""CallSession end to end on synthetic audio: speech events and the customer_silence rule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import noise, of_type, run_session, timeline

from assist.core.audio import FRAME_SAMPLES
from assist.core.events import Transcript
from assist.core.session import CallSession
from assist.runtime.packs import default_pack


def test_speech_boundaries_are_back_dated_to_the_audio() -> None:
    agent = timeline(6, [(1.0, 3.0)])
    customer = noise(6)
    ev = run_session(agent, customer)
    starts = of_type(ev, "speech", speaker="agent", state="start")
    stops = of_type(ev, "speech", speaker="agent", state="stop")
    assert len(starts) == 1 and len(stops) == 1
    assert starts[0].data.at == pytest.approx(1.0, abs=0.04)
    assert stops[0].data.at == pytest.approx(3.0, abs=0.04)
    assert of_type(ev, "speech", speaker="customer") == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_customer_silence_fires_once_within_100ms_of_threshold(lang: str) -> None:
    agent = timeline(14, [(0.5, 2.5)])
    customer = noise(14, seed=5)
    ev = run_session(agent, customer, lang=lang)
    prompts = of_type(ev, "prompt", rule="customer_silence")
    assert len(prompts) == 1
    agent_end = of_type(ev, "speech", speaker="agent", state="stop")[0].data.at
    assert 8.0 <= prompts[0].t - agent_end <= 0.1 + 8.0
    assert prompts[0].data.severity == "warn"
    assert prompts[0].data.evidence["last_speaker"] == "agent"
    # cleared at the end of the call, never twice
    cleared = of_type(ev, "prompt_cleared", prompt_id=prompts[0].data.prompt_id)
    assert [c.data.reason for c in cleared] == ["call_ended"]


def test_customer_silence_clears_when_customer_speaks_and_rearms() -> None:
    agent = timeline(40, [(0.5, 2.0), (14.0, 15.0)])
    customer = timeline(40, [(12.0, 13.0)], seed=3)
    ev = run_session(agent, customer)
    prompts = of_type(ev, "prompt", rule="customer_silence")
    assert [round(p.t, 1) for p in prompts] == [
        pytest.approx(10.0, abs=0.1),
        pytest.approx(23.0, abs=0.1),
    ]
    first = of_type(ev, "prompt_cleared", prompt_id=prompts[0].data.prompt_id)
    assert first[0].data.reason == "condition_ended"
    assert first[0].t == pytest.approx(12.0, abs=0.1)


def test_no_customer_silence_below_threshold_or_when_customer_spoke_last() -> None:
    agent = timeline(20, [(0.5, 2.0), (9.8, 11.0)])  # 7.8 s gap: under 8 s
    customer = timeline(20, [(12.0, 13.0)], seed=9)  # customer spoke last: agent_silence's job
    ev = run_session(agent, customer)
    assert of_type(ev, "prompt", rule="customer_silence") == []
    assert len(of_type(ev, "prompt", rule="agent_silence")) == 1


def test_overlapping_speech_is_not_silence() -> None:
    agent = timeline(20, [(0.5, 19.5)])
    ev = run_session(agent, noise(20))
    assert of_type(ev, "prompt") == []


def test_events_are_in_seq_and_time_order_and_same_every_run() -> None:
    agent = timeline(15, [(0.5, 2.5)])
    customer = timeline(15, [(3.0, 4.0)], seed=2)
    a = run_session(agent, customer)
    b = run_session(agent, customer)
    assert [e.seq for e in a] == list(range(len(a)))
    assert all(x.t <= y.t for x, y in zip(a, a[1:], strict=False))
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]
    assert a[0].type == "call_started" and a[-1].type == "call_ended"
    assert a[-1].data.duration_s == pytest.approx(15.0, abs=0.02)


def test_meters_report_talk_share_and_silence() -> None:
    agent = timeline(10, [(0.0, 6.0)])
    customer = timeline(10, [(6.5, 8.5)], seed=4)
    ev = run_session(agent, customer)
    last = of_type(ev, "meters")[-1].data
    assert last.agent.talk_share == pytest.approx(0.75, abs=0.05)
    assert last.customer.talk_share == pytest.approx(0.25, abs=0.05)
    assert last.silence_s == pytest.approx(1.5, abs=0.1)
    assert last.last_speaker == "customer"


def test_feed_rejects_wrong_frame_size_and_use_outside_call() -> None:
    s = CallSession("x", pack=default_pack("en"))
    frame = np.zeros(FRAME_SAMPLES, np.float32)
    with pytest.raises(RuntimeError):
        s.feed(frame, frame)
    s.start()
    with pytest.raises(ValueError):
        s.feed(frame[:100], frame)


def test_feedback_done_clears_the_prompt() -> None:
    s = CallSession("x", pack=default_pack("en"))
    s.start()
    agent = timeline(11, [(0.5, 2.0)])
    customer = noise(11)
    ev = []
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        ev += s.feed(agent[sl], customer[sl])
    (prompt,) = of_type(ev, "prompt")
    out = s.feedback(prompt.data.prompt_id, "done", client="agent-1")
    assert [e.type for e in out] == ["feedback", "prompt_cleared"]
    assert out[1].data.reason == "acknowledged"
    assert s.feedback(prompt.data.prompt_id, "not_helpful")[0].data.verdict == "not_helpful"
    assert out[0].data.rule == prompt.data.rule  # from the engine's record, not the id's text
    assert s.feedback("customer_silence-999", "done") == []  # never raised: ignored


def test_transcripts_enter_the_stream_with_audio_time() -> None:
    s = CallSession("x", pack=default_pack("en"))
    s.start()
    z = np.zeros(FRAME_SAMPLES, np.float32)
    for _ in range(50):
        s.feed(z, z)
    (ev,) = s.add_transcript(Transcript(speaker="customer", kind="final", text="hello"))
    assert ev.t == pytest.approx(1.0) and ev.type == "transcript"


def test_talk_time_counts_from_the_first_confirmed_call_state() -> None:
    """A SIP call's session starts at ringing: duration includes ring time, talk_s does not."""
    from assist.core.events import CallState

    s = CallSession("talk", pack=default_pack("en"))
    s.start()
    silent = np.zeros(FRAME_SAMPLES, np.float32)
    s.note(CallState(state="ringing"))
    for _ in range(50):  # rings for 1 s
        s.feed(silent, silent)
    s.note(CallState(state="confirmed"))
    for _ in range(100):  # talks for 2 s, with a hold in between
        s.feed(silent, silent)
        if _ == 40:
            s.note(CallState(state="held"))
            s.note(CallState(state="confirmed"))
    ended = s.end("hangup")[-1].data
    assert (ended.duration_s, ended.talk_s) == (3.0, 2.0)  # type: ignore[attr-defined]
    plain = CallSession("wav", pack=default_pack("en"))
    plain.start()
    assert plain.end()[-1].data.talk_s is None  # type: ignore[attr-defined]


def test_a_paused_recording_is_nobodys_silence() -> None:
    """A SIPREC client pauses the recording (a `recording` event with `paused`): the silence it
    brings is no `customer_silence`; silence counts again from the resume."""
    from assist.core.events import Recording

    agent = timeline(24, [(0.5, 2.5)])
    customer = noise(24, seed=5)
    session = CallSession("test", pack=default_pack("en"))
    ev = session.start()
    for i in range(agent.shape[0] // FRAME_SAMPLES):
        if i == 150:  # 3 s: paused
            ev += session.note(Recording(update=True, paused=True))
        if i == 750:  # 15 s: resumed (12 s of pause, past customer_silence's 8 s)
            ev += session.note(Recording(update=True, paused=False))
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        ev += session.feed(agent[sl], customer[sl])
    prompts = of_type(ev, "prompt", rule="customer_silence")
    # not during the pause; 8 s after the resume it is silence again
    assert [round(p.t, 1) for p in prompts] == [pytest.approx(23.0, abs=0.1)]
    assert session.paused is False


def test_only_a_chinese_session_imports_the_chinese_text_libraries() -> None:
    """pypinyin and cn2an cost ~0.6 s of CPU at every start of `assist` (a third of it, for an
    English call or any command that plays none): an English session never imports them; a
    Chinese one does when it is made, not at its first number or phrase on the frame thread."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import assist.cli\n"
        "from assist.core.session import CallSession\n"
        "from assist.runtime.packs import default_pack\n"
        "chinese = lambda: sorted({'pypinyin', 'cn2an'} & set(sys.modules))\n"
        "print(chinese())\n"
        "CallSession('en', pack=default_pack('en'))\n"
        "print(chinese())\n"
        "CallSession('zh', pack=default_pack('zh'))\n"
        "print(chinese())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "[]", "['cn2an', 'pypinyin']"], out.stderr
