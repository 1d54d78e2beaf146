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

from assist.audio import Samples
from assist.events import Dropped, Error, Event
from assist.session import CallSession

LIVE_QUEUE_FRAMES = 50  # 1 s of audio: beyond that, old audio is worth less than new
DROP_REPORT_EVERY = 50  # frames: report drops at most once a second of audio


class Sink(Protocol):
    """Where events go. `send` is called on the runner's thread and must not block for long."""

    def send(self, event: Event) -> None: ...

    def close(self) -> None: ...


Tap = Callable[[str, Samples, int], None]
"""Receives (speaker, frame, end_sample) for every frame, on the runner's thread (ASR feeders)."""

Work = Callable[[CallSession], Iterable[Event]]


class JsonlSink:
    """Every event as one JSON object per line, flushed as written so nothing is lost."""

    def __init__(self, target: str | Path | IO[str]) -> None:
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

    def send(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self) -> None:
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
        taps: Iterable[Tap] = (),
    ) -> None:
        self.session = session
        self.sinks = list(sinks)
        self.taps = list(taps)
        self.block = block
        self.max_frames = max_frames
        self._frames: deque[tuple[Samples, Samples]] = deque()
        self._work: deque[Work] = deque()
        self._cond = threading.Condition()
        self._finish: str | None = None
        self.dropped_total = 0
        self._dropped_unreported = 0
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
                self._frames.popleft()
                self.dropped_total += 1
                self._dropped_unreported += 1
            self._frames.append((agent, customer))
            self._cond.notify_all()

    def submit(self, work: Work) -> None:
        """Run `work(session)` on the runner's thread; its events go to the sinks."""
        with self._cond:
            self._work.append(work)
            self._cond.notify_all()

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
            for sink in self.sinks:
                sink.send(ev)

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
                    dropped, self._dropped_unreported = self._dropped_unreported, 0
                    self._cond.notify_all()
                for w in work:
                    self._dispatch(w(s))
                if dropped:
                    self._dispatch(
                        s.note(Dropped(queue="audio", count=dropped, total=self.dropped_total))
                    )
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
                sink.close()
