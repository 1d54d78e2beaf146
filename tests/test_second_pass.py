"""The two-pass wiring: PocketSphinx streams, Whisper (real tiny.en) decodes each utterance the
VAD closes in the shared pool; real recorded speech down a phone line, fast and real time."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import noise
from phone import phone_line
from speech_clips import clip, wer

from assist.asr.sphinx_engine import SphinxEngine
from assist.core.audio import FRAME_SAMPLES
from assist.core.events import Event
from assist.core.rules import parse_pack
from assist.core.session import CallSession
from assist.runtime import models
from assist.runtime.asr_worker import CallAsr
from assist.runtime.demo import play
from assist.runtime.runner import CallRunner, ListSink
from assist.runtime.second_pass import ALIGN_S, DecodePool, WhisperPass

RATE = 16_000


def pack(word: str) -> str:
    return f"""
[pack]
name = "test"
lang = "en"

[[rule]]
id = "negative_phrase"
detector = "phrase_said"
text = "heard {{phrase}}"
clears = false
ttl_s = 5
[rule.params]
speaker = "customer"
phrases = "negative"

[phrases]
negative = ["{word}"]
"""


def call(names: list[str], *, gap_s: float = 1.5, phone: bool = True) -> np.ndarray:
    """The clips one after another on one channel, over line noise, down a phone line."""
    parts = [noise(1.0, level_dbfs=-55, seed=5)]
    for i, name in enumerate(names):
        x, _ = clip(name)
        parts += [x, noise(gap_s, level_dbfs=-55, seed=10 + i)]
    x = np.concatenate(parts).astype(np.float32)
    return phone_line(x) if phone else x


def run(customer, *, word="somewhere", speed=None, first=True, pool=None, **kw) -> list[Event]:
    second = models.select_engine("en").second
    assert second is not None
    agent = noise(customer.shape[0] / RATE, level_dbfs=-55, seed=9)
    sink = ListSink()
    runner = CallRunner(CallSession("c", pack=parse_pack(pack(word))), [sink], block=speed is None)
    asr = CallAsr(runner, SphinxEngine() if first else None, second=second)
    if pool is not None or kw:
        asr.second = WhisperPass(runner, second, pool=pool, **kw)
    runner.start()
    n = play(agent, customer, runner, speed=speed)
    asr.close(until=n * FRAME_SAMPLES, timeout=60)
    runner.finish()
    assert runner.error is None
    return sink.events


def finals(events: list[Event]) -> list:
    return [e.data for e in events if e.type == "transcript" and e.data.kind == "final"]


@pytest.fixture(scope="module")
def two_clips() -> np.ndarray:
    return call(["something", "goforward"])


def test_each_utterance_gets_a_whisper_final_and_drives_the_word_cue(two_clips) -> None:
    events = run(two_clips)
    fin = finals(events)
    assert [f.asr_pass for f in fin] == [2, 2]
    assert all(f.engine == "whisper:tiny.en" and f.speaker == "customer" for f in fin)
    assert wer("go somewhere and do something", fin[0].text) <= 0.2
    assert wer("go forward ten meters", fin[1].text) <= 0.25
    # PocketSphinx's own words on phone audio are not shown (nonsense): no partials at all
    assert not [e for e in events if e.type == "transcript" and e.data.kind == "partial"]
    prompts = [e for e in events if e.type == "prompt"]
    assert [p.data.evidence["phrase"] for p in prompts] == ["somewhere"]
    # a final arrives at the frame where the VAD closed the utterance + ALIGN_S
    stops = [e.t for e in events if e.type == "speech" and e.data.state == "stop"]
    for f_ev, stop_t in zip([e for e in events if e.type == "transcript"], stops, strict=True):
        assert f_ev.t == pytest.approx(stop_t + ALIGN_S, abs=0.021)
        assert f_ev.data.end <= stop_t  # its words are in the audio before the stop


def test_fast_runs_are_identical_and_real_time_gives_the_same_words(two_clips) -> None:
    def key(events: list[Event]) -> list[tuple]:
        return [(e.seq, e.t, e.type, e.data) for e in events if e.type != "meters"]

    a, b = run(two_clips), run(two_clips)
    assert key(a) == key(b)
    live = run(two_clips, speed=1.0)
    if not [e for e in live if e.type == "dropped"]:  # a stalled machine drops live audio,
        # which changes what is heard (and says so); with all the audio, the same words
        assert [(f.text, f.asr_pass, f.words) for f in finals(live)] == [
            (f.text, f.asr_pass, f.words) for f in finals(a)
        ]
        assert [e.data.rule for e in live if e.type == "prompt"] == ["negative_phrase"]


def test_long_speech_is_decoded_in_pieces_of_max_utterance_s() -> None:
    x = call(["librivox-870"])
    _, ref = clip("librivox-870")
    events = run(x, max_utterance_s=3.0)
    fin = finals(events)
    assert len(fin) >= 2 and all(f.asr_pass == 2 for f in fin)
    assert all((f.end or 0) - (f.start or 0) <= 3.0 + 0.3 for f in fin)
    assert wer(ref, " ".join(f.text for f in fin)) <= 0.4  # words cut at the seams may suffer


def test_whisper_alone_needs_no_first_pass(two_clips) -> None:
    fin = finals(run(two_clips, first=False))
    assert [f.asr_pass for f in fin] == [2, 2]


def test_a_full_pool_reports_lag_and_the_first_pass_final_stands() -> None:
    pool = DecodePool(1, 1)
    gate = threading.Event()
    busy = pool.submit(lambda: gate.wait(120) and None, block=False)  # another call's decode
    assert busy is not None and pool.submit(lambda: None, block=False) is None  # full
    try:
        # clean wideband audio, where PocketSphinx hears it right
        events = run(call(["something"], phone=False), speed=1.0, pool=pool, block=False)
    finally:
        gate.set()
    # (a loaded machine may also make the first pass lag: only the second pass's count here)
    lag = [e.data for e in events if e.type == "asr_lagging" and e.data.asr_pass == 2]
    assert lag and not lag[0].recovered
    (fin,) = finals(events)
    assert (fin.asr_pass, fin.engine) == (1, "pocketsphinx:en-us")
    assert fin.text == "go somewhere and do something"
    assert [e.data.rule for e in events if e.type == "prompt"] == ["negative_phrase"]
