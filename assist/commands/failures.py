"""How a command learns that one of its parts died, and tells the user once.

A part that owns a thread or a task (the call store's writer, the overlay server, the fleet
publisher, the SIP tap reader) reports its own death through `Failures.part()`: one stderr line
and an `error` event in every live call, so the record of each call says what it lost. The
command then reads `Failures.parts` to decide: carry on degraded, or exit non-zero.

A call's own failures (its analysis, a sink of its events, a speech engine) are `error` events
in that call already; `ErrorLines`, one of the call's sinks, gives each its stderr line as it
happens, except those whose owner has said it already.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from assist.core.events import Error, Event
from assist.runtime.control import CallRegistry
from assist.runtime.runner import CallRunner

SAID_BY_OWNER = frozenset({"taps", "sip"})  # their owner prints its own line (sip/phone.py)


class Failures:
    """The parts of one command that died, each reported once (any thread)."""

    def __init__(self, registry: CallRegistry | None = None, out: IO[str] | None = None) -> None:
        self.registry = registry
        self.out = out
        self.parts: dict[str, str] = {}  # source -> what was said
        self._lock = threading.Lock()

    def part(
        self, source: str, message: str, *, then: str, recoverable: bool = True, said: bool = False
    ) -> None:
        """`source` died of `message`; `then` says what happens now ("calls go on unrecorded").
        Reported once per source; later reports of the same part are ignored. `said`: the part
        printed its own line already (only the calls are told)."""
        with self._lock:
            if source in self.parts:
                return
            self.parts[source] = message
        if not said:
            print(f"assist: error: {message}; {then}", file=self.out or sys.stderr, flush=True)
        if self.registry is None:
            return
        err = Error(source=source, message=message, recoverable=recoverable)
        for call_id in self.registry.ids():
            runner = self.registry.get(call_id)
            if runner is not None:
                runner.submit(lambda s: s.note(err))

    def said(self, source: str) -> bool:
        with self._lock:
            return source in self.parts

    def overlay(self, server: Any, *, then: str) -> None:
        """Hear of the overlay server's death (it is the pages' only way to the calls)."""

        def failed(exc: BaseException) -> None:
            self.part("overlay", f"the overlay server stopped ({exc!r})", then=then)

        server.failed = failed


class ErrorLines:
    """A call's sink that prints each `error` event as one stderr line, as it happens."""

    name = "stderr"

    def __init__(self, failures: Failures | None = None, out: IO[str] | None = None) -> None:
        self.failures = failures
        self.out = out
        self.fatal = 0  # errors that ended the analysis (`recoverable` false) printed
        self.printed: set[str] = set()  # the sources of the lines printed

    def send(self, event: Event) -> None:
        data = event.data
        if not isinstance(data, Error):
            return
        if data.source in SAID_BY_OWNER or (self.failures and self.failures.said(data.source)):
            return
        level = "warning" if data.recoverable else "error"
        then = "the call goes on" if data.recoverable else "the call's analysis stopped"
        line = f"assist: {level}: call {event.call_id}: {data.source}: {data.message}; {then}"
        print(line, file=self.out or sys.stderr, flush=True)
        self.printed.add(data.source)
        if not data.recoverable:
            self.fatal += 1

    def close(self) -> None:
        pass


def call_outcome(runner: CallRunner, lines: ErrorLines) -> bool:
    """After `runner.finish()`: a line for each failure `lines` could not print as it happened
    (a sink that failed to close after the call ended, an analysis failure whose event was
    lost); True if the call's analysis failed."""
    for sink, problem in runner.sink_errors:
        name = getattr(sink, "name", type(sink).__name__)
        if f"sink:{name}" not in lines.printed:
            print(f"assist: warning: {name} failed: {problem!r}", file=lines.out or sys.stderr)
    if runner.error is not None and not lines.fatal:
        print(f"assist: error: analysis failed: {runner.error!r}", file=lines.out or sys.stderr)
    return runner.error is not None
