"""The thread that drives one CallSession, and the sinks its events go to.

Sources (the WAV demo, the SIP tap) call `CallRunner.push()` from their own thread; it never
blocks in live mode: the frame queue is bounded and drops the oldest frame when full, and the
drops are reported as `dropped` events. A file source in fast mode uses `block=True` instead,
so no audio is lost when analysis is the bottleneck. Everything else that touches the session
(ASR results, feedback, SIP state) is submitted as a callable run on the runner's thread, so
the session itself needs no locks.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Protocol

from assist.core.audio import Samples
from assist.core.events import Dropped, Error, Event
from assist.core.session import CallSession

LIVE_QUEUE_FRAMES = 50  # 1 s of audio: beyond that, old audio is worth less than new
DROP_REPORT_EVERY = 50  # frames: report drops at most once a second of audio
MAX_WORK = 1000  # pending submissions (ASR results, feedback, SIP state) before new ones drop


class Sink(Protocol):
    """Where events go. `send` is called on the runner's thread and must not block for long."""

    def send(self, event: Event) -> None: ...

    def close(self) -> None: ...


Tap = Callable[[str, Samples, int], None]
"""Receives (speaker, frame, end_sample) for every frame, on the runner's thread (ASR feeders)."""

Work = Callable[[CallSession], Iterable[Event]]


class JsonlSink:
    """Every event as one JSON object per line, flushed as written so nothing is lost."""

    def __init__(self, target: str | Path | IO[str], *, shared: bool = False) -> None:
        """`shared`: one file for every call of a command; a call's end (`close`) only
        flushes it and the command closes it with `close_file`."""
        self.shared = shared
        if isinstance(target, str | Path):
            if str(target) == "-":
                self._f: IO[str] = sys.stdout
                self._own = False
            else:
                self._f = open(target, "w", encoding="utf-8")  # noqa: SIM115
                self._own = True
        else:
            self._f, self._own = target, False
        self._lock = threading.Lock()
        self.failed = False  # a write failed (the runner detached it and said so then)

    def send(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            try:
                self._f.write(line + "\n")
                self._f.flush()
            except OSError:
                self.failed = True
                raise

    def close(self) -> None:
        if self.shared:
            with self._lock:
                self._f.flush()
            return
        self.close_file()

    def close_file(self) -> None:
        with self._lock:
            if self._own:
                self._f.close()
            else:
                self._f.flush()


class ListSink:
    """Collects events in memory (tests, benchmarks)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def send(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


class CallRunner:
    """Owns one session on one thread; sources push frames, adapters submit work."""

    def __init__(
        self,
        session: CallSession,
        sinks: Iterable[Sink],
        *,
        block: bool = False,
        max_frames: int = LIVE_QUEUE_FRAMES,
        max_work: int = MAX_WORK,
        taps: Iterable[Tap] = (),
    ) -> None:
        self.session = session
        self.sinks = list(sinks)
        self.taps = list(taps)
        self.block = block
        self.max_frames = max_frames
        self.max_work = max_work
        self._frames: deque[tuple[Samples, Samples]] = deque()
        self._queued_end = 0  # session sample the taps reach once the queue is processed
        self._work: deque[Work] = deque()
        self._cond = threading.Condition()
        self._finish: str | None = None
        self.dropped_total = 0  # audio frames
        self._dropped_unreported = 0
        self._frames_since_report = DROP_REPORT_EVERY  # the first drop is reported at once
        self.work_dropped_total = 0
        self._work_dropped_unreported = 0
        self.sink_errors: list[tuple[Sink, BaseException]] = []
        self._thread = threading.Thread(
            target=self._run, name=f"call-{session.call_id}", daemon=True
        )
        self.error: BaseException | None = None

    # -- producer side (any thread) ------------------------------------------------------------

    def start(self) -> CallRunner:
        self._thread.start()
        return self

    def push(self, agent: Samples, customer: Samples) -> None:
        with self._cond:
            if self.block:
                while len(self._frames) >= self.max_frames and self._thread.is_alive():
                    self._cond.wait(0.1)
            elif len(self._frames) >= self.max_frames:
                self._queued_end -= self._frames.popleft()[0].shape[0]
                self.dropped_total += 1
                self._dropped_unreported += 1
            self._frames.append((agent, customer))
            self._queued_end += agent.shape[0]
            self._cond.notify_all()

    @property
    def queued_end(self) -> int:
        """The session sample position the taps reach once every frame queued so far is
        processed. Frames dropped from a full queue never reach a tap, so after drops this is
        less than the samples pushed: wait for this, never for the count pushed."""
        with self._cond:
            return self._queued_end

    def count_dropped(self, frames: int) -> None:
        """Audio the source itself had to skip (the SIP tap reader far behind): reported
        with the queue's own drops, as `dropped` events."""
        with self._cond:
            self.dropped_total += frames
            self._dropped_unreported += frames

    def submit(self, work: Work) -> bool:
        """Run `work(session)` on the runner's thread; its events go to the sinks.

        Never blocks the caller (a SIP or ASR thread): beyond `max_work` pending items the new
        one is dropped, counted and reported as a `dropped` event; returns False then."""
        with self._cond:
            if len(self._work) >= self.max_work:
                self.work_dropped_total += 1
                self._work_dropped_unreported += 1
                return False
            self._work.append(work)
            self._cond.notify_all()
            return True

    def finish(self, reason: str = "completed", timeout: float | None = None) -> None:
        """Drain queued audio, end the call with `reason`, close the sinks and join."""
        with self._cond:
            if self._finish is None:
                self._finish = reason
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- runner thread -------------------------------------------------------------------------

    def _dispatch(self, events: Iterable[Event]) -> None:
        for ev in events:
            failed: list[tuple[Sink, Exception]] = []
            for sink in self.sinks:
                try:
                    sink.send(ev)
                except Exception as exc:  # noqa: BLE001 - one broken sink must not end the call
                    failed.append((sink, exc))
            if failed:
                self._drop_sinks(failed)

    def _drop_sinks(self, failed: list[tuple[Sink, Exception]]) -> None:
        """Detach failed sinks and tell the others, so a full disk or a closed pipe costs that
        sink alone and every other sink still sees the rest of the call and `call_ended`."""
        for sink, exc in failed:
            self.sinks.remove(sink)
            self.sink_errors.append((sink, exc))
            _close_quietly(sink, self.sink_errors)
            err = Error(source=f"sink:{_sink_name(sink)}", message=repr(exc), recoverable=True)
            self._dispatch(self.session.note(err))

    def _take_drops(self) -> list[Dropped]:
        """Drop counts due for a report (called under the lock): at most once a second."""
        self._frames_since_report += 1
        if self._frames_since_report < DROP_REPORT_EVERY and self._finish is None:
            return []
        out = []
        if self._dropped_unreported:
            out.append(
                Dropped(queue="audio", count=self._dropped_unreported, total=self.dropped_total)
            )
        if self._work_dropped_unreported:
            out.append(
                Dropped(
                    queue="work",
                    count=self._work_dropped_unreported,
                    total=self.work_dropped_total,
                )
            )
        if out:
            self._frames_since_report = 0
            self._dropped_unreported = self._work_dropped_unreported = 0
        return out

    def _run(self) -> None:
        s = self.session
        try:
            self._dispatch(s.start())
            while True:
                with self._cond:
                    while not self._frames and not self._work and self._finish is None:
                        self._cond.wait()
                    work = list(self._work)
                    self._work.clear()
                    frame = self._frames.popleft() if self._frames else None
                    finishing = self._finish if frame is None and not work else None
                    drops = self._take_drops() if frame is not None or finishing else []
                    self._cond.notify_all()
                for w in work:
                    self._dispatch(w(s))
                for d in drops:
                    self._dispatch(s.note(d))
                if frame is not None:
                    agent, customer = frame
                    end = s.samples + agent.shape[0]
                    for tap in self.taps:
                        tap("agent", agent, end)
                        tap("customer", customer, end)
                    self._dispatch(s.feed(agent, customer))
                if finishing is not None:
                    self._dispatch(s.end(finishing))
                    break
        except BaseException as exc:  # recorded, reported, and re-raised to the owner via .error
            self.error = exc
            try:
                self._dispatch(
                    s.note(Error(source="session", message=repr(exc), recoverable=False))
                )
                self._dispatch(s.end("error"))
            except Exception:  # noqa: BLE001 - the original error is what matters
                pass
        finally:
            for sink in self.sinks:
                _close_quietly(sink, self.sink_errors)


def _sink_name(sink: Sink) -> str:
    return getattr(sink, "name", type(sink).__name__)


def _close_quietly(sink: Sink, errors: list[tuple[Sink, BaseException]]) -> None:
    """Close one sink; a failure is kept in `errors` (the owner reports it) and the other sinks
    are still closed."""
    try:
        sink.close()
    except Exception as exc:  # noqa: BLE001 - recorded for the owner, other sinks still close
        errors.append((sink, exc))
