"""`SipControl`: the overlay's CallControl requests carried out by the softphone.

Each request runs on the pump thread (the softphone marshals it); a request that cannot be
done, or a pump that does not answer in time, becomes a ControlError the console shows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pjsua2 as pj

from assist.core.errors import ServiceError
from assist.runtime.control import ControlError, SuperviseMode
from sip.phone import Softphone


class SipControl:
    telephony = True

    def __init__(self, phone: Softphone) -> None:
        self.phone = phone

    def _do(self, fn: Callable[[], Any]) -> str:
        try:
            return str(fn())
        except (ServiceError, FutureTimeout) as exc:
            raise ControlError(f"the softphone did not answer: {exc or 'timed out'}") from None
        except pj.Error as exc:
            raise ControlError(exc.reason) from None

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        return self._do(lambda: self.phone.supervise(call_id, mode, supervisor, name))

    def answer(self, call_id: str) -> str:
        return self._do(lambda: self.phone.answer(call_id))

    def dial(self, uri: str) -> str:
        return self._do(lambda: self.phone.dial(uri))

    def hangup(self, call_id: str) -> str:
        return self._do(lambda: self.phone.hangup(call_id))
