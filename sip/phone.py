"""The softphone: account, calls and their analysis legs, driven on the pump thread.

Every method whose name does not start with `_` may be called from any thread; it marshals the
work onto the pump thread (`Pump.run`). Methods starting with `_` run on the pump thread.
How a call's runner is built and finished (sinks, store, registry) is the caller's business:
`new_runner(call_id, direction, remote)` runs OFF the pump thread (an incoming call rings first
and is answered once its analysis is ready; an outgoing call builds it on the dialling thread),
`end_runner(runner, reason)` runs on it and must not block.

A failure in the work done for one call (a callback, a timer) is contained: the call gets an
`error` event, stderr a line, and the phone goes on with every other call.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial

import pjsua2 as pj

from assist.core.errors import ServiceError
from assist.core.events import Error, SupervisorAction
from assist.runtime.control import ControlError, SuperviseMode
from assist.runtime.runner import CallRunner
from sip.account import PROBE_AFTER_S, SipAccount
from sip.call import Leg, SipCall
from sip.config import SipConfig
from sip.endpoint import Pump
from sip.instance import claim
from sip.owner import WATCH_EVERY_S, CallOwner, EndRunner, detach, failure_text
from sip.probe import probe_udp, probe_worthy
from sip.uri import UriError, dial_uri

SUPERVISOR_REPORT_S = 1.0

NewRunner = Callable[[str, str, str], CallRunner]
Ended = Callable[[str, str, str], None]  # (call_id, call_ended reason, SIP outcome)


class DialFailed(ControlError):
    """pjsua2 refused to place the call (makeCall raised: no transport for the address,
    sendto refused): the call failed, unlike a URI pjsip cannot parse (bad input)."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"cannot call {uri}: {reason}")
        self.reason = reason


def _op(code: int = 0) -> pj.CallOpParam:
    prm = pj.CallOpParam(True)
    if code:
        prm.statusCode = code
    return prm


class Softphone(CallOwner):
    def __init__(
        self,
        cfg: SipConfig,
        *,
        new_runner: NewRunner,
        end_runner: EndRunner,
        notify: Callable[[str], None] = lambda line: None,
        ended: Ended = lambda call_id, reason, outcome: None,
        trouble: Callable[[str], None] = lambda message: None,
        registration: Callable[[str, str], None] = lambda state, message: None,
        log_level: int = 1,
        log_file: str = "",
        role: str = "phone",
    ) -> None:
        """`role`: "phone" (`assist sip`: registers, takes calls) or "call" (`assist sip call`:
        places one call and never registers, so it cannot take or replace the phone's binding)."""
        super().__init__(end_runner=end_runner, notify=notify)
        self.cfg = cfg
        self.role = role
        self.instance = claim(role)
        self.new_runner = new_runner
        self.ended = ended
        self.trouble = trouble  # phone-level problems (registration), any thread
        self.registration = registration  # (state, message) on each change, any thread
        self.pump = Pump(
            port=cfg.port,
            bind=cfg.bind,
            transport=cfg.transport,
            audio=cfg.audio,
            owner=self,
            log_level=log_level,
            log_file=log_file,
            tls=(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, cfg.tls_verify),
            public_address=cfg.public_address,
            stun_servers=cfg.stun_servers,
            keepalive_s=cfg.keepalive_s,
        )
        self.account: SipAccount | None = None
        self.legs: dict[str, Leg] = {}

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
        """Place a call; the analysis is built here, on the caller's thread, not the pump's."""
        try:
            target = dial_uri(uri, self.cfg.transport)
        except UriError as exc:
            raise ControlError(str(exc)) from None
        self.pump.run(lambda: self._verify(uri, target))
        call_id = _new_id()
        runner = self.new_runner(call_id, "outbound", uri)
        taken = threading.Event()
        try:
            return str(self.pump.run(lambda: self._dial(call_id, uri, target, runner, taken)))
        finally:
            if not taken.is_set():  # the pump never got to it: nobody else will end the runner
                self.end_runner(runner, "failed")

    def hangup(self, call_id: str) -> str:
        return str(self.pump.run(lambda: self._hangup(self._leg(call_id))))

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        if mode != "off" and not supervisor:
            raise ControlError("this supervisor has no SIP URI (set sip in [[overlay.supervisor]])")
        if mode != "off":
            try:
                target = dial_uri(supervisor, self.cfg.transport)
            except UriError as exc:
                raise ControlError(f"this supervisor's SIP URI cannot be called: {exc}") from None
        else:
            target = ""
        return str(
            self.pump.run(
                lambda: self._supervise(self._leg(call_id), mode, supervisor, name, target)
            )
        )

    # -- pump owner hooks ----------------------------------------------------------------------

    def setup(self, ep: pj.Endpoint, port: int) -> None:
        self._start_media(ep, self.cfg.codecs, "sip.codecs")
        if self.cfg.registrar and self.role == "phone":
            kept = "" if self.instance.kept else " (another live phone here has the kept one)"
            self.notify(f"instance id {self.instance.urn}{kept}")
        self.account = SipAccount(
            self.cfg,
            instance=self.instance.urn,
            register=self.role == "phone",
            on_incoming=self._incoming,
            notify=self.notify,
            later=self.pump.later,
            trouble=self.trouble,
            status=self.registration,
        )
        self.account.start()
        self.pump.later(WATCH_EVERY_S, self._watch)

    def closing(self) -> None:
        self._closing = True
        if self.account is not None:
            self.account.closing = True
        for leg in self.legs.values():
            leg.end_reason = "interrupted"

    def connection_lost(self, reason: str, remote: str) -> None:
        if self.account is not None and not self._closing:
            self.account.connection_lost(reason, remote)

    def idle(self) -> bool:
        return not self.legs and not self._ending

    def failed(self, exc: BaseException, where: str) -> None:
        """Work on the pump thread that belongs to no call failed: say so, keep going."""
        self.notify(
            f"internal error on the SIP thread ({where}): {failure_text(exc)}; the phone goes on"
        )

    def release(self) -> None:
        for leg in list(self.legs.values()):  # calls that did not end in time
            leg.hung_up_by = leg.hung_up_by or "unknown"
            leg.note_hangup("shutdown")
            self._finish(leg, "ended", "shutdown", None)
        if self.ep is None:
            return
        self._release_media()
        self.legs.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        gc.collect()  # nothing pjsua2 may be freed later, on another thread, after libDestroy

    # -- pump thread ---------------------------------------------------------------------------

    def _contain(self, leg: Leg | None, where: str, fn: Callable[[], None]) -> None:
        """Run one call's piece of work; a failure becomes that call's `error` event."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - contained per call, reported, never silent
            message = f"{where} failed: {failure_text(exc)}"
            if leg is None:
                self.failed(exc, where)
                return
            self.notify(f"{leg.call_id}: {message}; the call goes on")
            leg.submit(lambda s: s.note(Error(source="sip", message=message, recoverable=True)))

    def _leg(self, call_id: str) -> Leg:
        leg = self.legs.get(call_id)
        if leg is None:
            raise ControlError(f"no live SIP call {call_id!r}")
        return leg

    def _new_leg(self, call_id: str, call: SipCall, direction: str, remote: str) -> Leg:
        assert self.ep is not None
        assert self.tap_dir is not None and self.silence is not None
        leg = Leg(
            call_id,
            call,
            direction=direction,
            remote=remote,
            ep=self.ep,
            tap_dir=self.tap_dir,
            silence=self.silence,
            agent_play=self.cfg.agent_play,
            record_dir=self.cfg.agent_record_dir,
        )
        self.tap_reader.add(leg.taps.stream)
        call.owner = call_id  # by id, not by reference: no cycles keep pjsua2 objects alive
        self.legs[call_id] = leg
        return leg

    def _call(self, call_id: int = pj.PJSUA_INVALID_ID) -> SipCall:
        def on_state(c: SipCall) -> None:
            self._contain(self.legs.get(c.owner), "call state", lambda: self._on_state(c))

        def on_media(c: SipCall) -> None:
            self._contain(self.legs.get(c.owner), "call media", lambda: self._on_media(c))

        return SipCall(self.account, call_id, on_state=on_state, on_media=on_media)

    def _incoming(self, pj_id: int) -> None:
        """Ring at once (180); the analysis is built on a thread of its own, then answered."""
        call = self._call(pj_id)
        try:
            remote = call.getInfo().remoteUri
            if self._closing:
                self._refuse(call, 503)
                return
            if self.cfg.second_call == "busy" and self.legs:
                self._refuse(call, 486)
                self.notify(f"busy: refused a second call from {remote} (486; sip.second_call)")
                return
            leg = self._new_leg(_new_id(), call, "inbound", remote)
        except Exception:
            self._refuse(call, 500)  # never leave a caller hanging on a call nobody owns
            raise
        call.answer(_op(180))
        leg.note_state("ringing")
        self.notify(f"{leg.call_id}: incoming call from {leg.remote}")
        leg.answer_wanted = self.cfg.auto_answer
        threading.Thread(
            target=self._build, args=(leg,), name=f"setup-{leg.call_id}", daemon=True
        ).start()

    def _refuse(self, call: SipCall, code: int) -> None:
        """Answer an INVITE with `code` on the next pump step, not inside onIncomingCall:
        pjsua2 frees the INVITE's cloned rdata when that callback returns, and a final response
        sent inside it can have freed it already (pjsua asserts and the process aborts; seen in
        the recording server with a refusal right after another). The timer holds the call."""
        self.pump.later(0, partial(self._contain, None, "refusal", partial(_refused, call, code)))

    def _build(self, leg: Leg) -> None:
        """Off the pump thread: the call's runner and recognisers, then back to the pump."""
        try:
            runner = self.new_runner(leg.call_id, leg.direction, leg.remote)
        except Exception as exc:  # noqa: BLE001 - the call is refused, and the line says why
            error = exc
            self._post(None, "call setup", lambda: self._unbuilt(leg, error))
            return
        self._post(leg, "call setup", lambda: self._built(leg, runner))

    def _post(self, leg: Leg | None, where: str, fn: Callable[[], None]) -> None:
        try:
            self.pump.post(lambda: self._contain(leg, where, fn))
        except ServiceError as exc:  # the pump is gone or swamped: nothing more to do here
            self.notify(f"{where}: {exc}")

    def _built(self, leg: Leg, runner: CallRunner) -> None:
        leg.attach(runner)
        if leg.finished:  # the caller gave up while the analysis was being built
            self.end_runner(runner, leg.end_reason)
            return
        if leg.answer_wanted:
            leg.call.answer(_op(200))

    def _unbuilt(self, leg: Leg, exc: BaseException) -> None:
        self.notify(
            f"{leg.call_id}: cannot set up the call's analysis: {failure_text(exc)}; refusing"
        )
        if not leg.finished:
            leg.end_reason = "failed"
            leg.call.hangup(_op(500))

    def _answer(self, leg: Leg) -> str:
        if leg.direction != "inbound" or leg.state != "ringing" or leg.answer_wanted:
            raise ControlError(f"{leg.call_id} is not ringing")
        leg.answer_wanted = True
        if leg.runner is None:
            return f"{leg.call_id}: answering as soon as its analysis is ready"
        leg.call.answer(_op(200))
        return f"{leg.call_id}: answered"

    def _verify(self, uri: str, target: str) -> None:
        """pjsip's own parser, as a second line of defence behind sip/uri.py."""
        assert self.ep is not None
        try:
            self.ep.utilVerifySipUri(target)
        except pj.Error as exc:
            raise ControlError(f"{uri!r} is not a SIP URI pjsip accepts: {exc.reason}") from None

    def _dial(
        self, call_id: str, uri: str, target: str, runner: CallRunner, taken: threading.Event
    ) -> str:
        taken.set()
        call = self._call()
        leg = self._new_leg(call_id, call, "outbound", uri)
        leg.attach(runner)
        try:
            call.makeCall(target, _op())
            failure = ""
        except pj.Error as exc:
            failure = exc.reason
        if failure:
            leg.end_reason = "failed"
            self._finish(leg, "ended", failure, None)
            # the error's traceback keeps this frame: it must not keep the pjsua2 call alive
            # until a garbage collection on another thread after libDestroy (pjsua asserts)
            del call, leg
            raise DialFailed(uri, failure)
        self.notify(f"{leg.call_id}: calling {uri}")
        self.pump.later(self.cfg.ring_timeout_s, partial(self._ring_timeout, leg.call_id))
        if self.cfg.transport == "udp" and probe_worthy(target):
            self.pump.later(PROBE_AFTER_S, partial(self._probe_callee, leg.call_id, target))
        return leg.call_id

    def _unanswered(self, call_id: str) -> Leg | None:
        leg = self.legs.get(call_id)
        if leg is None or leg.connected or leg.finished or leg.timeout_reason:
            return None
        return leg

    def _give_up(self, leg: Leg, why: str) -> None:
        leg.end_reason = "failed"
        leg.timeout_reason = why
        self.notify(f"{leg.call_id}: {why}; hanging up")
        leg.call.hangup(_op())

    def _ring_timeout(self, call_id: str) -> None:
        """sip.ring_timeout_s: an outgoing call nobody answered is given up (CANCEL)."""
        leg = self._unanswered(call_id)
        if leg is not None:
            limit = self.cfg.ring_timeout_s
            self._give_up(leg, f"no answer within {limit:g} s (sip.ring_timeout_s)")

    def _probe_callee(self, call_id: str, target: str) -> None:
        """A UDP INVITE still without a ringing answer: is anything there at all? (The probe
        runs on a thread of its own; an unreachable callee fails at once, not after 32 s.)"""
        leg = self._unanswered(call_id)
        if leg is None or leg.state == "ringing":
            return

        def probe() -> None:
            problem = probe_udp(target)
            if problem is not None:
                self._post(None, "callee probe", partial(self._unreachable, call_id, problem))

        threading.Thread(target=probe, name=f"probe-{call_id}", daemon=True).start()

    def _unreachable(self, call_id: str, problem: str) -> None:
        leg = self._unanswered(call_id)
        if leg is not None and leg.state != "ringing":
            self._give_up(leg, f"{leg.remote} unreachable: {problem}")

    def _hangup(self, leg: Leg) -> str:
        code = 603 if leg.direction == "inbound" and leg.state == "ringing" else 0
        leg.hung_up_by = "agent"  # the overlay's Hang up: the agent ended the call
        leg.call.hangup(_op(code))
        return f"{leg.call_id}: hanging up"

    def _supervise(self, leg: Leg, mode: SuperviseMode, uri: str, name: str, target: str) -> str:
        if mode == "off":
            if leg.supervisor is None:
                return f"{leg.call_id}: no supervisor connected"
            leg.mode = None
            leg.supervisor.hangup(_op())
            return f"{leg.call_id}: supervisor disconnected"
        if leg.state not in ("confirmed", "held"):
            raise ControlError(f"{leg.call_id} is not connected yet")
        leg.mode = mode
        if leg.supervisor is not None and leg.supervisor_uri == uri:
            leg.supervisor_name = name
            leg.rewire()
            return f"{leg.call_id}: supervisor now in {mode} mode"
        if leg.supervisor is not None:
            leg.supervisor.hangup(_op())
        sup = self._call()
        sup.owner, sup.role = leg.call_id, "supervisor"
        sup.placed_at = time.monotonic()
        try:
            sup.makeCall(target, _op())
            failure = ""
        except pj.Error as exc:
            failure = exc.reason
        if failure:
            leg.mode = None
            self._bury(sup)
            del sup  # as in _dial: not kept alive by the error's traceback
            raise ControlError(f"cannot call supervisor {uri}: {failure}")
        leg.supervisor, leg.supervisor_uri, leg.supervisor_name = sup, uri, name
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
            leg.connected = True
            leg.last_rx = (-1, time.monotonic())
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            if not leg.connected and leg.end_reason == "hangup":
                leg.end_reason = "failed" if leg.direction == "outbound" else "missed"
            reason = leg.timeout_reason or ci.lastReason
            how = {"agent": "the agent hung up (overlay)", "unknown": reason}
            leg.note_hangup(how.get(leg.hung_up_by, f"BYE from {leg.remote or 'the remote party'}"))
            if ci.lastStatusCode in (401, 407) and not leg.connected:
                who = self.cfg.username or self.cfg.uri
                reason = f"the proxy refused the credentials for {who} ({ci.lastReason})"
                leg.timeout_reason = reason  # our wording is the outcome, not "407 ..."
            self._finish(leg, "ended", reason, ci.lastStatusCode)

    def _on_supervisor_state(self, call: SipCall, ci: pj.CallInfo) -> None:
        leg = self.legs.get(call.owner)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            call.connected = True
            return
        if ci.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        self._bury(call)
        if leg is None or leg.supervisor is not call:
            return
        uri, name, mode = leg.supervisor_uri, leg.supervisor_name, leg.mode
        leg.supervisor, leg.supervisor_uri, leg.supervisor_name, leg.mode = None, "", "", None
        leg.rewire()
        outcome = f"{ci.lastStatusCode} {ci.lastReason}"
        if mode is None:  # `off` was asked for: the console already has its answer
            self.notify(f"{leg.call_id}: supervisor disconnected ({outcome})")
            return
        failed = not call.connected
        if failed:
            message = f"the supervisor's phone {uri} did not connect: {outcome}"
        else:
            message = f"the supervisor {uri} left the call ({outcome})"
        self.notify(f"{leg.call_id}: {message}")
        action = SupervisorAction(
            mode="off", supervisor=name or uri, ok=not failed, message=message
        )
        # The console records its request (ok: calling) once our reply reaches it; a refusal
        # on loopback can beat that, so it is noted no sooner than SUPERVISOR_REPORT_S after
        # the call was placed: the board then ends with "off", not the request's mode.
        wait = max(0.0, call.placed_at + SUPERVISOR_REPORT_S - time.monotonic())
        self.pump.later(wait, lambda: leg.submit(lambda s: s.note(action)))

    def _on_media(self, call: SipCall) -> None:
        leg = self.legs.get(call.owner)
        if leg is None:
            return
        recording = leg.recorder is not None
        try:
            leg.rewire()  # a failed player/recorder is raised once the routes are up
        finally:
            if not recording and leg.recorder is not None:
                self.notify(f"{leg.call_id}: recording what the agent hears in {leg.record_dir}")
            if call is leg.call:
                _, media = call.audio()
                codec = call.codec() if media == "active" else ""
                if codec and codec != leg.codec:
                    leg.codec = codec
                    self.notify(f"{leg.call_id}: audio codec {codec}")
                if media == "held":
                    leg.note_state("held")
                elif media == "active" and leg.state == "held":
                    leg.note_state("confirmed")

    def _finish(self, leg: Leg, state: str, reason: str, code: int | None) -> None:
        if self.legs.pop(leg.call_id, None) is None:
            return
        leg.note_state(state, reason, code)
        leg.finished = True
        sup = leg.supervisor
        if sup is not None:
            self._contain(leg, "supervisor hangup", lambda: sup.hangup(_op()))
        stream = None
        try:
            stream = leg.release()
        finally:
            self._bury(leg.call)
            self.notify(f"{leg.call_id}: ended ({reason})")
            outcome = f"{code} {reason}" if code and not leg.timeout_reason else reason
            self.ended(leg.call_id, leg.end_reason, outcome)
            if leg.runner is not None:
                self._end_after_taps(leg.call_id, leg.runner, leg.end_reason, stream)

    def _watch_calls(self, now: float) -> None:
        """Media timeout: a confirmed call whose RTP has stopped is hung up as dropped."""
        for leg in list(self.legs.values()):
            self._contain(leg, "media watch", partial(self._watch_leg, leg, now))

    def _watch_leg(self, leg: Leg, now: float) -> None:
        if leg.state != "confirmed" or leg.timeout_reason:
            return
        pkts = leg.call.rx_packets()
        if pkts != leg.last_rx[0]:
            leg.last_rx = (pkts, now)
        elif now - leg.last_rx[1] >= self.cfg.media_timeout_s:
            leg.end_reason = "dropped"
            leg.timeout_reason = f"media timeout (no RTP for {self.cfg.media_timeout_s:g} s)"
            leg.hung_up_by = "unknown"
            self.notify(f"{leg.call_id}: {leg.timeout_reason}; hanging up")
            leg.call.hangup(_op(408))


def _refused(call: SipCall, code: int) -> None:
    """The deferred final answer to an INVITE we do not take (pump thread)."""
    try:
        if call.placed:
            call.hangup(_op(code))
    finally:
        detach(call)


def _new_id() -> str:
    """48 random bits: unique in any store without asking it (a collision is still refused)."""
    return f"sip-{uuid.uuid4().hex[:12]}"
