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
from assist.runtime.second_pass import ALIGN_S, TAIL_S, DecodePool, WhisperPass

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


def run(
    customer, *, word="somewhere", speed=None, first=True, pool=None, passes=None, **kw
) -> list[Event]:
    second = models.select_engine("en").second
    assert second is not None
    agent = noise(customer.shape[0] / RATE, level_dbfs=-55, seed=9)
    sink = ListSink()
    runner = CallRunner(CallSession("c", pack=parse_pack(pack(word))), [sink], block=speed is None)
    asr = CallAsr(runner, SphinxEngine() if first else None, second=second)
    if pool is not None or kw:
        asr.second = WhisperPass(runner, second, pool=pool, **kw)
    if passes is not None:
        passes.append(asr.second)
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


@pytest.fixture(scope="module")
def fast_two_clips(two_clips) -> list[Event]:
    """A --fast run of `two_clips` (PocketSphinx first, Whisper second), made once for the
    tests that read it: each run decodes both clips with the real Whisper."""
    return run(two_clips)


def test_each_utterance_gets_a_whisper_final_and_drives_the_word_cue(fast_two_clips) -> None:
    events = fast_two_clips
    fin = finals(events)
    assert [f.asr_pass for f in fin] == [2, 2]
    assert all(f.engine == "whisper:tiny.en" and f.speaker == "customer" for f in fin)
    assert wer("go somewhere and do something", fin[0].text) <= 0.2
    assert wer("go forward ten meters", fin[1].text) <= 0.25
    # PocketSphinx's own words on phone audio are not shown (nonsense): no partials at all
    assert not [e for e in events if e.type == "transcript" and e.data.kind == "partial"]
    prompts = [e for e in events if e.type == "prompt"]
    assert [p.data.evidence["phrase"] for p in prompts] == ["somewhere"]
    # a final arrives ALIGN_S after the utterance's last voiced frame (the stop's `at`), after
    # the VAD has closed it (the stop event's `t`, a hangover later)
    stops = [e for e in events if e.type == "speech" and e.data.state == "stop"]
    for f_ev, stop in zip([e for e in events if e.type == "transcript"], stops, strict=True):
        assert f_ev.t == pytest.approx(stop.data.at + ALIGN_S, abs=0.021)
        assert f_ev.t >= stop.t
        assert f_ev.data.end <= stop.data.at + TAIL_S  # its words are in the audio decoded


def test_fast_runs_are_identical_and_real_time_gives_the_same_words(
    two_clips, fast_two_clips
) -> None:
    def key(events: list[Event]) -> list[tuple]:
        return [(e.seq, e.t, e.type, e.data) for e in events if e.type != "meters"]

    a, b = fast_two_clips, run(two_clips)  # two runs, each with its own runner and passes
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
        # clean wideband audio, where PocketSphinx hears it right. As fast as it decodes, the
        # first pass waited for (no live frame lost on a loaded machine); the second pass never
        # waits for the pool, as live: time is the audio's, so it lags as in real time
        events = run(call(["something"], phone=False), pool=pool, block=False)
    finally:
        gate.set()
    lag = [e.data for e in events if e.type == "asr_lagging" and e.data.asr_pass == 2]
    assert lag and not lag[0].recovered
    (fin,) = finals(events)
    assert (fin.asr_pass, fin.engine) == (1, "pocketsphinx:en-us")
    assert fin.text == "go somewhere and do something"
    assert [e.data.rule for e in events if e.type == "prompt"] == ["negative_phrase"]


def test_speculative_decodes_give_the_same_finals_and_guess_every_end() -> None:
    """An idle pool starts each decode TAIL_S after the speech instead of a hangover later;
    guesses at pauses inside an utterance are dropped, and the finals (words and times) are
    those of a run that never guesses."""
    x = call(["librivox-870", "something"])
    spec: list[WhisperPass] = []
    plain: list[WhisperPass] = []
    # threads to spare for guesses, and a machine taken as idle (a loaded test box is not)
    a = run(x, first=False, pool=DecodePool(4, 8, busy=lambda: False), passes=spec)
    b = run(x, first=False, pool=DecodePool(1, 4), speculate=False, passes=plain)
    key = [(e.t, e.data.text, e.data.words) for e in a if e.type == "transcript"]
    assert key and key == [(e.t, e.data.text, e.data.words) for e in b if e.type == "transcript"]
    (p,), (q,) = spec, plain
    # read speech pauses: guessed, then the speaker went on (whether each end is guessed
    # depends on a thread being idle at that moment: guesses never queue)
    assert 1 <= p.guesses_used <= len(key)
    assert p.guesses > p.guesses_used
    assert q.guesses == 0


def test_a_guess_only_takes_an_idle_thread_on_a_machine_with_cpu_to_spare() -> None:
    busy_machine = DecodePool(2, 4, busy=lambda: True)
    assert busy_machine.submit_if_idle(lambda: None) is None  # idle threads, but no CPU
    assert busy_machine.in_flight == 0
    pool = DecodePool(1, 3, busy=lambda: False)
    gate = threading.Event()
    busy = pool.submit(lambda: gate.wait(60) and None, block=False)
    queued = pool.submit(lambda: None, block=False)  # a real decode may queue...
    assert busy is not None and queued is not None
    assert pool.submit_if_idle(lambda: None) is None  # ...a guess may not
    gate.set()
    busy.result(10)
    queued.result(10)
    assert pool.in_flight == 0
    guess = pool.submit_if_idle(lambda: None)
    assert guess is not None
    guess.result(10)
    assert pool.in_flight == 0


def run_with(engine, pool: DecodePool) -> list[Event]:  # type: ignore[no-untyped-def]
    """A --fast run (block=True) of one clean clip, PocketSphinx first, `engine` second."""
    customer = call(["something"], phone=False)
    agent = noise(customer.shape[0] / RATE, level_dbfs=-55, seed=9)
    sink = ListSink()
    runner = CallRunner(CallSession("c", pack=parse_pack(pack("somewhere"))), [sink], block=True)
    asr = CallAsr(runner, SphinxEngine(), second=None)
    asr.second = WhisperPass(runner, engine, pool=pool, speculate=False)
    runner.start()
    n = play(agent, customer, runner, speed=None)
    asr.close(until=n * FRAME_SAMPLES, timeout=60)
    runner.finish()
    assert runner.error is None
    return sink.events


@pytest.mark.timeout(120)
def test_a_hung_decode_in_fast_mode_is_given_up_and_said(monkeypatch) -> None:
    """--fast used to wait for ever on one decode that never returned."""
    monkeypatch.setattr("assist.runtime.second_pass.DECODE_WAIT_S", 1.0, raising=False)
    second = models.select_engine("en").second
    gate = threading.Event()

    class Hung:  # the real engine, but its decode never returns (a wedged native call)
        name = second.name

        def decode(self, audio: np.ndarray, offset_s: float = 0.0) -> None:
            gate.wait(110)

    try:
        events = run_with(Hung(), DecodePool(1, 4))
    finally:
        gate.set()
    errors = [e.data for e in events if e.type == "error"]
    assert [(e.source, e.recoverable) for e in errors] == [("whisper_customer", True)]
    assert errors[0].message.startswith("a Whisper decode took over 1 s;")
    (fin,) = finals(events)  # the first pass's words stand, the cue still fires
    assert (fin.asr_pass, fin.text) == (1, "go somewhere and do something")
    assert [e.data.rule for e in events if e.type == "prompt"] == ["negative_phrase"]


@pytest.mark.timeout(120)
def test_a_pool_held_by_hung_decodes_does_not_stall_a_fast_run(monkeypatch) -> None:
    monkeypatch.setattr("assist.runtime.second_pass.DECODE_WAIT_S", 1.0, raising=False)
    second = models.select_engine("en").second
    pool = DecodePool(1, 1)
    gate = threading.Event()
    assert pool.submit(lambda: gate.wait(110) and None, block=False) is not None  # hung
    try:
        events = run_with(second, pool)
    finally:
        gate.set()
    errors = [e.data for e in events if e.type == "error"]
    assert [e.message.split(";")[0] for e in errors] == ["no free Whisper decode slot within 1 s"]
    (fin,) = finals(events)
    assert fin.asr_pass == 1


def test_live_words_prompt_a_negative_phrase_before_a_long_complaint_ends() -> None:
    """Live words without a streaming model: the open utterance is decoded again every second
    and the words two decodes agree on go out as partials, so a phrase said in the first
    seconds of a 13 s complaint is prompted while the customer still speaks (real time)."""
    x = np.concatenate(
        [
            call(["something", "librivox-870", "librivox-930"], gap_s=0.15),
            phone_line(noise(1.5, level_dbfs=-55, seed=4)),
        ]
    )
    passes: list[WhisperPass] = []
    pool = DecodePool(2, 16, busy=lambda: False)  # CPU to spare (a loaded test box has none)
    events = run(x, speed=1.0, first=False, pool=pool, live_words=True, passes=passes)
    start, stop = (e.data for e in events if e.type == "speech")
    assert stop.at - start.at >= 10.0  # one long utterance
    (prompt,) = [e for e in events if e.type == "prompt"]
    assert prompt.data.rule == "negative_phrase" and prompt.t < stop.at - 3.0
    live = [e.data for e in events if e.type == "transcript" and e.data.kind == "partial"]
    assert live and all(p.asr_pass == 2 for p in live) and passes[0].live_decodes >= 2
    assert live[0].text.lower().startswith("go somewhere")
    (final,) = finals(events)  # the final is the whole utterance's, as without live words
    assert final.asr_pass == 2 and wer("go somewhere and do something", final.text[:30]) <= 0.2


def test_no_live_words_in_fast_runs(two_clips) -> None:
    events = run(two_clips, first=False, live_words=True)  # --fast: replayable, no live words
    assert not [e for e in events if e.type == "transcript" and e.data.kind == "partial"]


HUNG_AT_EXIT = """
import os, signal, sys, threading
from assist.runtime.second_pass import shared_pool
# Ctrl-C as a terminal delivers it, even to a test run started as a background job (whose
# children inherit SIGINT ignored, and Python then installs no KeyboardInterrupt for it)
signal.signal(signal.SIGINT, signal.default_int_handler)
started = threading.Event()
def hung():
    started.set()
    threading.Event().wait()  # a decode wedged in native code: never returns
assert shared_pool().submit(hung, block=False) is not None
started.wait(10)
print("decoding", flush=True)
if sys.argv[1] == "fatal":
    sys.exit(3)
threading.Event().wait()  # until Ctrl-C
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["fatal", "ctrl-c"])
def test_a_hung_decode_does_not_keep_the_process_from_exiting(how: str) -> None:
    """Before, the pool's ThreadPoolExecutor threads were joined at exit with no limit: a
    process whose decode hung never exited after a fatal error or Ctrl-C."""
    import signal
    import subprocess
    import sys

    p = subprocess.Popen(
        [sys.executable, "-c", HUNG_AT_EXIT, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == "decoding\n"
        if how == "ctrl-c":
            p.send_signal(signal.SIGINT)
        p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    _, err = p.communicate()
    assert p.returncode == (3 if how == "fatal" else -signal.SIGINT), (p.returncode, err)
    assert "1 Whisper decode(s) still running at exit: abandoned" in err, err
