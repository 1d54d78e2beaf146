"""Ctrl-C and SIGTERM for the long-running commands: one event, set by our own handlers.

Why our own handlers rather than KeyboardInterrupt: a process started in the background
(`assist sip … &` in a script, some service managers) inherits SIGINT ignored, and Python then
never raises KeyboardInterrupt, so Ctrl-C (`kill -INT`) would not stop it. Handlers that only
set an event also let the command end in order wherever its main thread was, instead of an
exception landing in the middle of a shutdown.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

POLL_S = 0.5  # how often a bare wait looks at the event (signals are handled between waits)


class StopSignals:
    """While installed, SIGINT and SIGTERM set `event`; `interrupted` says it was SIGINT."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.interrupted = False
        self._previous: dict[int, Any] = {}

    def _on_int(self, _sig: int, _frame: FrameType | None) -> None:
        self.interrupted = True
        self.event.set()

    def _on_term(self, _sig: int, _frame: FrameType | None) -> None:
        self.event.set()

    def install(self) -> StopSignals:
        """Take over both signals (main thread only); `restore` gives them back."""
        self._previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, self._on_int),
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_term),
        }
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *_exc: object) -> None:
        self.restore()

    def wait(self) -> None:
        """Until one of the signals comes."""
        while not self.event.wait(POLL_S):
            pass
