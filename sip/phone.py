"""The softphone: account, calls and their analysis legs, driven on the pump thread.

Every method whose name does not start with `_` may be called from any thread; it marshals the
work onto the pump thread (`Pump.run`). Methods starting with `_` run on the pump thread.
How a call's runner is built and finished (sinks, store, registry) is the caller's business:
`new_runner(call_id, direction, remote)` and `end_runner(runner, reason)`.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from assist.runtime.config import SipConfig
from assist.runtime.control import ControlError, SuperviseMode
from assist.runtime.runner import CallRunner
from sip.account import SipAccount
from sip.call import Leg, SipCall
from sip.endpoint import Pump
from sip.tap import ChannelTap

WATCH_EVERY_S = 0.5

NewRunner = Callable[[str, str, str], CallRunner]
EndRunner = Callable[[CallRunner, str], None]


def _op(code: int = 0) -> pj.CallOpParam:
    prm = pj.CallOpParam(True)
    if code:
        prm.statusCode = code
    return prm


class Softphone:
    def __init__(
        self,
        cfg: SipConfig,
        *,
        new_runner: NewRunner,
        end_runner: EndRunner,
        notify: Callable[[str], None] = lambda line: None,
        log_level: int = 1,
    ) -> None:
        self.cfg = cfg
        self.new_runner = new_runner
        self.end_runner = end_runner
        self.notify = notify
        self.pump = Pump(
            port=cfg.port,
            bind=cfg.bind,
            transport=cfg.transport,
            audio=cfg.audio,
            owner=self,
            log_level=log_level,
        )
        self.ep: pj.Endpoint | None = None
        self.account: SipAccount | None = None
        self.legs: dict[str, Leg] = {}
        self._graveyard: list[Any] = []  # pjsua2 objects released on the next pump step
        self._closing = False
        self._free_taps: list[ChannelTap] = []  # reused, deleted only once the clock is stopped
        self._taps_made = 0

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> Softphone:
        self.pump.start()
        return self

    def stop(self) -> None:
        self.pump.stop()

    @property
    def port(self) -> int:
        return self.pump.bound_port

    def call_ids(self) -> list[str]:
        return list(self.pump.run(lambda: list(self.legs)))

    def answer(self, call_id: str) -> str:
        return str(self.pump.run(lambda: self._answer(self._leg(call_id))))

    def dial(self, uri: str) -> str:
        return str(self.pump.run(lambda: self._dial(uri)))

    def hangup(self, call_id: str) -> str:
        return str(self.pump.run(lambda: self._hangup(self._leg(call_id))))

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str) -> str:
        return str(self.pump.run(lambda: self._supervise(self._leg(call_id), mode, supervisor)))

    # -- pump owner hooks ----------------------------------------------------------------------

    def setup(self, ep: pj.Endpoint, port: int) -> None:
        self.ep = ep
        self.account = SipAccount(
            self.cfg, on_incoming=self._incoming, notify=self.notify, later=self.pump.later
        )
        self.account.start()
        self.pump.later(WATCH_EVERY_S, self._watch)

    def closing(self) -> None:
        self._closing = True
        if self.account is not None:
            self.account.closing = True
        for leg in self.legs.values():
            leg.end_reason = "interrupted"

    def idle(self) -> bool:
        return not self.legs

    def release(self) -> None:
        for leg in list(self.legs.values()):  # calls that did not end in time
            self._finish(leg, "ended", "shutdown", None)
        if self.ep is None:
            return
        self.ep.audDevManager().setNoDev()  # stop the bridge's clock: no more port callbacks
        self._graveyard.clear()
        self._free_taps.clear()
        self.legs.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        gc.collect()  # nothing pjsua2 may be freed later, on another thread, after libDestroy

    # -- pump thread ---------------------------------------------------------------------------

    def _leg(self, call_id: str) -> Leg:
        leg = self.legs.get(call_id)
        if leg is None:
            raise ControlError(f"no live SIP call {call_id!r}")
        return leg

    def _new_leg(self, call: SipCall, direction: str, remote: str) -> Leg:
        call_id = f"sip-{uuid.uuid4().hex[:8]}"
        assert self.ep is not None
        leg = Leg(
            call_id,
            call,
            self.new_runner(call_id, direction, remote),
            direction=direction,
            remote=remote,
            ep=self.ep,
            taps=(self._tap(), self._tap()),
            agent_play=self.cfg.agent_play,
            record_dir=self.cfg.agent_record_dir,
        )
        call.owner = call_id  # by id, not by reference: no cycles keep pjsua2 objects alive
        self.legs[call_id] = leg
        return leg

    def _tap(self) -> ChannelTap:
        if self._free_taps:
            return self._free_taps.pop()
        self._taps_made += 1
        return ChannelTap(f"tap-{self._taps_made}")

    def _call(self, call_id: int = pj.PJSUA_INVALID_ID) -> SipCall:
        return SipCall(self.account, call_id, on_state=self._on_state, on_media=self._on_media)

    def _incoming(self, pj_id: int) -> None:
        call = self._call(pj_id)
        if self._closing:
            call.hangup(_op(503))
            self._graveyard.append(call)
            return
        leg = self._new_leg(call, "inbound", call.getInfo().remoteUri)
        call.answer(_op(180))
        leg.note_state("ringing")
        self.notify(f"{leg.call_id}: incoming call from {leg.remote}")
        if self.cfg.auto_answer:
            self._answer(leg)

    def _answer(self, leg: Leg) -> str:
        if leg.direction != "inbound" or leg.state != "ringing":
            raise ControlError(f"{leg.call_id} is not ringing")
        leg.call.answer(_op(200))
        return f"{leg.call_id}: answered"

    def _dial(self, uri: str) -> str:
        if not uri.startswith(("sip:", "sips:")):
            raise ControlError(f"{uri!r} is not a SIP URI like sip:bob@host")
        call = self._call()
        leg = self._new_leg(call, "outbound", uri)
        try:
            call.makeCall(uri, _op())
        except pj.Error as exc:
            self._finish(leg, "ended", exc.reason, None)
            raise ControlError(f"cannot call {uri}: {exc.reason}") from None
        self.notify(f"{leg.call_id}: calling {uri}")
        return leg.call_id

    def _hangup(self, leg: Leg) -> str:
        code = 603 if leg.direction == "inbound" and leg.state == "ringing" else 0
        leg.call.hangup(_op(code))
        return f"{leg.call_id}: hanging up"

    def _supervise(self, leg: Leg, mode: SuperviseMode, uri: str) -> str:
        if mode == "off":
            if leg.supervisor is None:
                return f"{leg.call_id}: no supervisor connected"
            leg.mode = None
            leg.supervisor.hangup(_op())
            return f"{leg.call_id}: supervisor disconnected"
        if not uri.startswith(("sip:", "sips:")):
            raise ControlError("this supervisor has no SIP URI (set sip in [[overlay.supervisor]])")
        if leg.state not in ("confirmed", "held"):
            raise ControlError(f"{leg.call_id} is not connected yet")
        leg.mode = mode
        if leg.supervisor is not None and leg.supervisor_uri == uri:
            leg.rewire()
            return f"{leg.call_id}: supervisor now in {mode} mode"
        if leg.supervisor is not None:
            leg.supervisor.hangup(_op())
        sup = self._call()
        sup.owner, sup.role = leg.call_id, "supervisor"
        try:
            sup.makeCall(uri, _op())
        except pj.Error as exc:
            leg.mode = None
            raise ControlError(f"cannot call supervisor {uri}: {exc.reason}") from None
        leg.supervisor, leg.supervisor_uri = sup, uri
        return f"{leg.call_id}: calling supervisor {uri} to {mode}"

    def _on_state(self, call: SipCall) -> None:
        ci = call.getInfo()
        if call.role == "supervisor":
            self._on_supervisor_state(call, ci)
            return
        leg = self.legs.get(call.owner)
        if leg is None:
            return
        if ci.state == pj.PJSIP_INV_STATE_EARLY and leg.direction == "outbound":
            leg.note_state("ringing")
        elif ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            leg.note_state("confirmed")
            leg.last_rx = (-1, time.monotonic())
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            reason = leg.timeout_reason or ci.lastReason
            self._finish(leg, "ended", reason, ci.lastStatusCode)

    def _on_supervisor_state(self, call: SipCall, ci: pj.CallInfo) -> None:
        leg = self.legs.get(call.owner)
        if ci.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        self._graveyard.append(call)
        if leg is not None and leg.supervisor is call:
            leg.supervisor, leg.supervisor_uri, leg.mode = None, "", None
            leg.rewire()
            self.notify(f"{leg.call_id}: supervisor left ({ci.lastStatusCode} {ci.lastReason})")

    def _on_media(self, call: SipCall) -> None:
        leg = self.legs.get(call.owner)
        if leg is None:
            return
        recording = leg.recorder is not None
        leg.rewire()
        if not recording and leg.recorder is not None:
            self.notify(f"{leg.call_id}: recording what the agent hears in {leg.record_dir}")
        if call is leg.call:
            _, media = call.audio()
            if media == "held":
                leg.note_state("held")
            elif media == "active" and leg.state == "held":
                leg.note_state("confirmed")

    def _finish(self, leg: Leg, state: str, reason: str, code: int | None) -> None:
        if self.legs.pop(leg.call_id, None) is None:
            return
        leg.note_state(state, reason, code)
        if leg.supervisor is not None:
            leg.supervisor.hangup(_op())
        self._free_taps.extend(leg.release())
        self._graveyard.append(leg.call)
        self.notify(f"{leg.call_id}: ended ({reason})")
        self.end_runner(leg.runner, leg.end_reason)

    def _watch(self) -> None:
        """Media timeout: a confirmed call whose RTP has stopped is hung up as dropped."""
        if self._graveyard and not self._closing:
            self._graveyard.clear()  # deleted one step after their last callback returned
        now = time.monotonic()
        for leg in list(self.legs.values()):
            if leg.state != "confirmed" or leg.timeout_reason:
                continue
            pkts = leg.call.rx_packets()
            if pkts != leg.last_rx[0]:
                leg.last_rx = (pkts, now)
            elif now - leg.last_rx[1] >= self.cfg.media_timeout_s:
                leg.end_reason = "dropped"
                leg.timeout_reason = f"media timeout (no RTP for {self.cfg.media_timeout_s:g} s)"
                self.notify(f"{leg.call_id}: {leg.timeout_reason}; hanging up")
                leg.call.hangup(_op(408))
        if not self._closing:
            self.pump.later(WATCH_EVERY_S, self._watch)
