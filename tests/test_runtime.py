"""The call runner: bounded queues, drops reported at most once a second, isolated sinks."""

from __future__ import annotations

import itertools
import threading

import numpy as np

from assist.core.audio import FRAME_SAMPLES
from assist.core.events import Event
from assist.core.session import CallSession
from assist.runtime.packs import default_pack
from assist.runtime.runner import DROP_REPORT_EVERY, CallRunner, ListSink

SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.float32)


class BrokenSink:
    """Fails on its `fail_at`-th event, like a JSONL file on a full disk."""

    def __init__(self, fail_at: int = 3, fail_close: bool = False) -> None:
        self.fail_at = fail_at
        self.fail_close = fail_close
        self.seen = 0

    def send(self, event: Event) -> None:
        self.seen += 1
        if self.seen >= self.fail_at:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        if self.fail_close:
            raise OSError(5, "I/O error")


def _runner(sinks: list, **kw: object) -> CallRunner:  # type: ignore[type-arg]
    return CallRunner(CallSession("c1", pack=default_pack("en")), sinks, **kw)  # type: ignore[arg-type]


def test_a_failing_sink_is_dropped_and_the_others_see_the_whole_call() -> None:
    before, after = ListSink(), ListSink()
    broken = BrokenSink(fail_at=3, fail_close=True)
    runner = _runner([before, broken, after], block=True).start()
    for _ in range(100):
        runner.push(SILENCE, SILENCE)
    runner.finish()
    assert runner.error is None
    for sink in (before, after):
        types = [e.data.type for e in sink.events]
        assert types[0] == "call_started" and types[-1] == "call_ended"
        errors = [e.data for e in sink.events if e.data.type == "error"]
        assert len(errors) == 1 and errors[0].source == "sink:BrokenSink"  # type: ignore[attr-defined]
        assert "No space left" in errors[0].message  # type: ignore[attr-defined]
    assert before.events == after.events
    assert broken.seen == 3  # detached after its failure, never called again
    assert [type(s).__name__ for s, _ in runner.sink_errors] == ["BrokenSink", "BrokenSink"]


def test_audio_drops_are_counted_and_reported_at_most_once_a_second() -> None:
    sink = ListSink()
    runner = _runner([sink], max_frames=5)
    gate = threading.Event()
    runner.taps.append(lambda speaker, frame, end: gate.wait(5))  # a stalled consumer
    runner.start()
    for _ in range(200):  # the runner is stuck on its first frame: most of these overflow
        runner.push(SILENCE, SILENCE)
    gate.set()
    for _ in range(3 * DROP_REPORT_EVERY):  # then 3 s of audio that fits
        runner.push(SILENCE, SILENCE)
        while len(runner._frames) >= 4:  # noqa: SLF001 - pace like a real-time source
            threading.Event().wait(0.001)
    runner.finish()
    drops = [e for e in sink.events if e.data.type == "dropped"]
    assert drops, "drops must be reported"
    assert sum(e.data.count for e in drops) == runner.dropped_total > 150  # type: ignore[attr-defined]
    times = [e.t for e in drops]
    assert all(b - a >= DROP_REPORT_EVERY * 0.02 - 1e-9 for a, b in itertools.pairwise(times))


def test_work_queue_is_bounded_and_its_drops_reported() -> None:
    sink = ListSink()
    runner = _runner([sink], max_work=10)
    accepted = [runner.submit(lambda s: []) for _ in range(25)]  # not started: nothing drains
    assert accepted.count(True) == 10 and accepted.count(False) == 15
    runner.start()
    runner.push(SILENCE, SILENCE)
    runner.finish()
    drops = [e.data for e in sink.events if e.data.type == "dropped"]
    assert [(d.queue, d.count) for d in drops] == [("work", 15)]  # type: ignore[attr-defined]
