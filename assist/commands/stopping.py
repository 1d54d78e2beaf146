"""Ctrl-C and SIGTERM for the long-running commands: one event, set by our own handlers.

Why our own handlers rather than KeyboardInterrupt: a process started in the background
(`assist sip … &` in a script, some service managers) inherits SIGINT ignored, and Python then
never raises KeyboardInterrupt, so Ctrl-C (`kill -INT`) would not stop it. Handlers that only
set an event also let the command end in order wherever its main thread was, instead of an
exception landing in the middle of a shutdown.

Why the handler does not set the event itself: Python runs it in the main thread between two
bytecodes, possibly inside the main thread's own `event.wait()`, while that thread holds the
event's lock; `event.set()` there waits for that lock for ever (a lingering demo once hung on
Ctrl-C that way). The handler only writes a byte to a pipe; a small thread of ours reads it
and sets the event.
"""

from __future__ import annotations

import contextlib
import os
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
        self._write_fd = -1

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        # no lock may be taken here (see the module's docstring): a flag and a write(2)
        if sig == signal.SIGINT:
            self.interrupted = True
        with contextlib.suppress(OSError):  # a full pipe already holds a wake-up
            os.write(self._write_fd, b"\0")

    def install(self) -> StopSignals:
        """Take over both signals (main thread only); `restore` gives them back."""
        read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        threading.Thread(
            target=self._relay, args=(read_fd,), name="stop-signals", daemon=True
        ).start()
        self._previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, self._on_signal),
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_signal),
        }
        return self

    def _relay(self, read_fd: int) -> None:
        """Each byte from the handler sets the event; the pipe's end (restore) ends the thread."""
        try:
            while os.read(read_fd, 1):
                self.event.set()
        finally:
            os.close(read_fd)

    def restore(self) -> None:
        """The previous handlers back, then the pipe closed (a signal already caught still
        sets the event: its byte is read before the end of the pipe)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *_exc: object) -> None:
        self.restore()

    def wait(self) -> None:
        """Until one of the signals comes."""
        while not self.event.wait(POLL_S):
            pass
