"""What the pump's two owners (sip.phone.Softphone, sip.recorder.RecordingServer) share.

Both tap their calls the same way (sip/tap.py, sip/tapfile.py): a tmpfs directory of tap files,
a silent player feeding every tap, one reader thread; a call's runner is ended only once the
reader has pushed the last of its taps. Both bury finished pjsua2 call objects and free them a
pump step later, and both watch their calls every WATCH_EVERY_S. Everything here runs on the
pump thread except `_post_end` (the tap reader's thread), which hands its work back to it.
"""

from __future__ import annotations

import ctypes
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pjsua2 as pj

from assist.core.errors import ServiceError
from assist.runtime.runner import CallRunner
from sip.codecs import apply_codecs
from sip.endpoint import Pump
from sip.tap import silence_source
from sip.tapfile import TapReader, TapStream, tap_dir

WATCH_EVERY_S = 0.5

EndRunner = Callable[[CallRunner, str], None]

_lib = ctypes.PyDLL(pj._pjsua2.__file__)
_lib.pjsua_call_set_user_data.argtypes = [ctypes.c_int, ctypes.c_void_p]
_lib.pjsua_call_set_user_data.restype = ctypes.c_int
_CALL_ID_OFFSET = 16  # pjsua2::Call: vtable pointer, Account &acc, then pjsua_call_id id


def detach(call: pj.Call) -> None:
    """Cut a finished pjsua2 Call object from its pjsua call slot (pump thread).

    Why: pjsua reuses call slots at once (measured: the session after three refusals got
    slot 0 again), while pjsua2 keeps the slot number in the finished object, and its
    destructor hangs up whatever call then holds that slot. Dropping a refused call's
    object one pump step later hung up the next, live, session. So once a call is over,
    its object forgets the slot: pjsua's back-pointer is cleared and the object's id set
    to PJSUA_INVALID_ID (checked against getId() first; nothing is written if the layout
    is not the one measured for this wheel)."""
    cid = call.getId()
    if cid == pj.PJSUA_INVALID_ID:
        return
    slot = ctypes.c_int.from_address(int(call.this) + _CALL_ID_OFFSET)
    if slot.value != cid:
        return
    _lib.pjsua_call_set_user_data(cid, None)
    slot.value = pj.PJSUA_INVALID_ID


def failure_text(exc: BaseException) -> str:
    """A failure in one line: pjsua2's own reason, or the exception's type and text."""
    return exc.reason if isinstance(exc, pj.Error) else f"{type(exc).__name__}: {exc}"


class CallOwner:
    """The taps, runner endings and finished call objects of a pump owner's calls."""

    pump: Pump  # made by the subclass, with itself as the owner

    def __init__(self, *, end_runner: EndRunner, notify: Callable[[str], None]) -> None:
        self.end_runner = end_runner
        self.notify = notify
        self.ep: pj.Endpoint | None = None
        self._graveyard: list[Any] = []  # pjsua2 objects released on the next pump step
        self._closing = False
        self.tap_dir: Path | None = None  # the calls' tap files (tmpfs), made by setup
        self.silence: pj.AudioMediaPlayer | None = None  # feeds every tap (sip/tap.py)
        self.tap_reader = TapReader(failed=notify)
        self._ending: dict[str, tuple[CallRunner, str]] = {}  # runners ended once taps are read

    def _start_media(self, ep: pj.Endpoint, codecs: tuple[str, ...], setting: str) -> None:
        """Setup's media part: the tap directory, the silence source, the reader, the codecs
        (`setting` names the config key in the line about codecs this build lacks)."""
        self.ep = ep
        self.tap_dir = tap_dir()
        self.silence = silence_source(self.tap_dir)
        self.tap_reader.start()
        enabled, missing = apply_codecs(ep, codecs)
        if missing:
            self.notify(f"{setting}: not in this pjsua2 build: {', '.join(missing)}")
        self.notify(f"codecs: {', '.join(enabled)}")

    def _release_media(self) -> None:
        """Release's media part, once every call is finished: stop the bridge's clock and the
        reader (the last tails of calls that ended just now are not read), end the runners
        still waiting for them, drop the taps and the buried call objects."""
        if self.ep is None:
            return
        self.ep.audDevManager().setNoDev()
        self.tap_reader.stop()
        for runner, reason in self._ending.values():
            self.end_runner(runner, reason)
        self._ending.clear()
        self.silence = None
        if self.tap_dir is not None:
            shutil.rmtree(self.tap_dir, ignore_errors=True)
        self._graveyard.clear()

    def _bury(self, call: pj.Call) -> None:
        """A finished call: cut from its pjsua slot now (pjsua gives the slot to the next call
        at once, and the object's destructor would hang up whatever holds it then), freed on a
        later pump step, after its last callback has returned."""
        detach(call)
        self._graveyard.append(call)

    def _end_after_taps(
        self, call_id: str, runner: CallRunner, reason: str, stream: TapStream | None
    ) -> None:
        """End a finished call's runner once the reader has pushed the call's last ~0.25 s,
        still in the tap files (`stream` None: at once)."""
        self._ending[call_id] = (runner, reason)
        if stream is None:
            self._end(call_id)
        else:
            self.tap_reader.close(stream, partial(self._post_end, call_id))

    def _post_end(self, call_id: str) -> None:
        """Tap reader thread: the call's taps are read to their end."""
        try:
            self.pump.post(lambda: self._end(call_id))
        except ServiceError:  # the SIP thread is swamped or gone: release() ends the runner
            self.notify(f"{call_id}: could not hand the call's end to the SIP thread")

    def _end(self, call_id: str) -> None:
        item = self._ending.pop(call_id, None)
        if item is not None:
            self.end_runner(*item)

    def _watch(self) -> None:
        """Every WATCH_EVERY_S: free the buried call objects, then `_watch_calls`."""
        try:
            if self._graveyard and not self._closing:
                self._graveyard.clear()  # deleted one step after their last callback returned
            self._watch_calls(time.monotonic())
        finally:
            if not self._closing:
                self.pump.later(WATCH_EVERY_S, self._watch)

    def _watch_calls(self, now: float) -> None:
        """The subclass's look at its calls (media timeouts), each contained on its own."""
        raise NotImplementedError
