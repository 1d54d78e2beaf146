"""How the overlay reaches live calls: feedback into a call's session, call control to SIP.

`CallRegistry` maps call ids to their runners (so an overlay message lands on the right
session's thread). `CallControl` is what the supervisor console and the agent overlay ask of
the telephony side; the SIP adapter implements it, and `DemoControl` answers every request with
a clear "not available in demo mode".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal, Protocol

from assist.core.errors import AssistError

if TYPE_CHECKING:
    from assist.runtime.runner import CallRunner

SuperviseMode = Literal["listen", "whisper", "barge", "off"]
SUPERVISE_MODES: tuple[SuperviseMode, ...] = ("listen", "whisper", "barge", "off")


class ControlError(AssistError):
    """A call-control request that cannot be carried out; the message is shown to the user."""


class CallControl(Protocol):
    telephony: bool  # a phone is behind it: answer/hangup/dial can work (pages show them)

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        """Connect `supervisor` (a SIP URI) to the call in `mode`; return a status line.

        `name` is who asked (the supervisor token's name): what a `supervisor_action` the
        telephony side records later (their phone refused, they hung up) names, never the URI."""
        ...

    def answer(self, call_id: str) -> str: ...

    def dial(self, uri: str) -> str: ...

    def hangup(self, call_id: str) -> str: ...


class DemoControl:
    """Call control when calls come from WAV files: nothing to connect to."""

    telephony = False

    def _no(self) -> str:
        raise ControlError("not available in demo mode (needs the SIP softphone: assist sip)")

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        return self._no()

    def answer(self, call_id: str) -> str:
        return self._no()

    def dial(self, uri: str) -> str:
        return self._no()

    def hangup(self, call_id: str) -> str:
        return self._no()


class CallRegistry:
    """Live call runners by call id; thread-safe (sources add, the overlay looks up)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runners: dict[str, CallRunner] = {}

    def add(self, runner: CallRunner) -> None:
        with self._lock:
            self._runners[runner.session.call_id] = runner

    def remove(self, call_id: str) -> None:
        with self._lock:
            self._runners.pop(call_id, None)

    def get(self, call_id: str) -> CallRunner | None:
        with self._lock:
            return self._runners.get(call_id)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._runners)
