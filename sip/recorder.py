"""The SIPREC recording server (RFC 7866): recording sessions in, one analysed call each.

It shares the softphone's machinery: the pjsua2 Endpoint on one pump thread (sip/endpoint.py),
the C-side analysis taps (sip/tap.py) and their reader (sip/tapfile.py). What differs is the
call: a recording client (SBC, PBX) sends an INVITE with `Require: siprec`, a multipart body
(SDP with two `sendonly` labelled audio streams, RFC 7865 metadata; parsed in sip/siprec.py)
and never hears anything from us. Each stream goes to one tap; which one is the agent's comes
from the metadata and the `agents` patterns (or stream order, said in a `recording` event).

Why ctypes for `Require: siprec`: the PyPI wheel is pjsip 2.15.1, which has no recording-server
support and answers such an INVITE `420 Bad Extension` (pjsip_inv_verify_request checks
Require against the endpoint's Supported tags). Recording-server support landed after 2.15.1
(pjproject PR 4132, in 2.16, with no wheel on PyPI). The wheel's `_pjsua2` library exports
`pjsua_get_pjsip_endpt` and `pjsip_endpt_add_capability`; declaring the `siprec` option tag
through them is all pjsip needs to let the INVITE through to `onIncomingCall`, where the whole
message (`rdata.wholeMsg`) has the multipart body. Answering with `audioCount = 2` gives two
streams; pjmedia's negotiator answers `sendonly` with `recvonly` on its own.

Mid-call, a re-INVITE or UPDATE may bring new metadata (a transfer: the parties, the agent's
stream and who sees the call change) or pause/resume the recording (no media timeout while
paused). A supervisor may listen: the server calls their phone and the bridge plays both
recorded streams to it; that call takes a call slot like a session (docs/siprec.md).

Every failure of one session (a body we cannot record, a limit reached, a callback that
raises) is that session's SIP error response and a `refused` report; the server goes on. New
INVITEs are judged before pjsua opens anything for them (`_admit`, through sip/gate.py), so a
flood of them cannot run pjsip's socket table dry.
Methods starting with `_` run on the pump thread.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pjsua2 as pj

from assist.core.errors import ServiceError
from assist.core.events import CallState, Error, Hangup, SupervisorAction
from assist.runtime.control import ControlError, SuperviseMode
from assist.runtime.runner import CallRunner
from sip.account import SRTP_USE
from sip.call import SipCall
from sip.endpoint import Pump
from sip.gate import DROP_BODY, Gate, Refuse, Verdict, calls_in_pjsua
from sip.owner import WATCH_EVERY_S, CallOwner, EndRunner, detach, failure_text
from sip.refusals import RefusalLog
from sip.siprec import (
    METADATA_TYPES,
    AgentChoice,
    NoSdp,
    Offer,
    SiprecError,
    choose_agent,
    merge_metadata,
    read_offer,
    read_update,
    split_body,
)
from sip.srs_config import SrsConfig
from sip.tap import RecorderTaps
from sip.tapfile import TapStream
from sip.uri import UriError, check_uri, dial_uri

SUPERVISOR_REPORT_S = 1.0  # as sip/phone.py: a refusal is noted after the console's request
STREAMS = 2
# New sessions let through to pjsua in any ADMIT_WINDOW_S: `srs.sessions_per_s` (at most 6).
# Each one's media sockets hold their slots in pjsip's socket table (64) until 500 ms after it
# ends, so sessions that end at once (a client that cancels each INVITE) must not be replaced
# faster than the slots come back: (4 call slots live + 4 ending + 6 new) calls x 4 sockets =
# 56 stay under 64 (sip/gate.py, sip/srs_config.py).
ADMIT_WINDOW_S = 1.0
PJSUA_SLOTS = 4  # the PyPI wheel's PJSUA_MAX_CALLS, whatever uaConfig.maxCalls asks (measured)
# A client's `sendonly` stream is "remote hold" to pjsua: for a recording it is the normal
# state (we only receive), so both states are tapped and watched for RTP.
RECEIVING = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)

# -- `Supported: siprec` through the wheel's own C symbols (see the module docstring) -------


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_long)]


_lib = ctypes.PyDLL(pj._pjsua2.__file__)
_lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
_lib.pjsip_endpt_add_capability.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_PjStr), ctypes.c_uint,
    ctypes.POINTER(_PjStr),
]  # fmt: skip
_lib.pjsip_endpt_add_capability.restype = ctypes.c_int
_lib.pjsua_conf_connect.argtypes = [ctypes.c_int, ctypes.c_int]
_lib.pjsua_conf_connect.restype = ctypes.c_int
_lib.pjsua_conf_disconnect.argtypes = [ctypes.c_int, ctypes.c_int]
_lib.pjsua_conf_disconnect.restype = ctypes.c_int
_lib.pjsua_call_get_max_count.restype = ctypes.c_uint
_lib.pjmedia_sdp_print.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
_lib.pjmedia_sdp_print.restype = ctypes.c_int


def sdp_text(session: Any) -> str:
    """The SDP of a `pjmedia_sdp_session *` (pjsua2's SWIG pointer object) as text."""
    buf = ctypes.create_string_buffer(16384)
    n = _lib.pjmedia_sdp_print(int(session), buf, len(buf))
    if n <= 0:
        raise ValueError("pjmedia_sdp_print failed")
    return buf.raw[:n].decode("utf-8", "replace")


_TAG = b"siprec"
_TAGS = (_PjStr * 1)(_PjStr(_TAG, len(_TAG)))  # pjsip keeps the pointers: module-lifetime


def declare_siprec() -> None:
    """Add `siprec` to the endpoint's Supported tags (pump thread, after libInit)."""
    endpt = _lib.pjsua_get_pjsip_endpt()
    if not endpt:
        raise ServiceError("pjsua has no SIP endpoint (declare_siprec before libInit)")
    status = _lib.pjsip_endpt_add_capability(endpt, None, pj.PJSIP_H_SUPPORTED, None, 1, _TAGS)
    if status != 0:
        raise ServiceError(f"cannot declare the siprec option tag (pj_status {status})")


# -- the recording sessions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the command needs to start a recorded call's analysis."""

    call_id: str
    remote: str  # the recording client (From of its INVITE)
    choice: AgentChoice
    session_id: str = ""  # the metadata's recording session id, if any
    participants: tuple[str, ...] = ()  # every AoR the metadata names


NewRunner = Callable[[SessionInfo], CallRunner]
Refused = Callable[[str], None]  # a line on refused INVITEs (no call was made): sip/refusals.py
# new metadata or a pause/resume (re-INVITE, UPDATE): (runner, parties now, paused)
Updated = Callable[[CallRunner, SessionInfo, bool], None]


def _op(code: int = 0, headers: dict[str, str] | None = None) -> pj.CallOpParam:
    prm = pj.CallOpParam(True)
    prm.opt.audioCount = STREAMS
    prm.opt.videoCount = 0
    if code:
        prm.statusCode = code
    for name, value in (headers or {}).items():
        h = pj.SipHeader()
        h.hName, h.hValue = name, value
        prm.txOption.headers.append(h)
    return prm


def split_message(whole: str) -> tuple[dict[str, str], bytes]:
    """A SIP message's headers (lower-case names, compact forms expanded; the first of each
    kind) and its body, as bytes."""
    head, _, body = whole.partition("\r\n\r\n")
    if not _:
        head, _, body = whole.partition("\n\n")
    compact = {
        "c": "content-type", "k": "supported", "f": "from", "t": "to", "i": "call-id",
        "l": "content-length",
    }  # fmt: skip
    headers: dict[str, str] = {}
    for line in head.splitlines()[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = compact.get(key, key)
        headers.setdefault(key, value.strip())
    return headers, body.encode("utf-8", "surrogateescape")


def session_info(
    call_id: str, remote: str, offer: Offer, cfg: SrsConfig, *, fallback: int = 0
) -> SessionInfo:
    """`fallback`: the agent's stream (1-based) when the metadata cannot say; default the
    config's (mid-call: the stream the agent has now, so unclear metadata swaps nothing)."""
    labels = [s.label for s in offer.streams]
    choice = choose_agent(
        offer.metadata, labels, cfg.agents, fallback=fallback or cfg.fallback_agent_stream
    )
    meta = offer.metadata
    return SessionInfo(
        call_id=call_id,
        remote=remote,
        choice=choice,
        session_id=meta.session_ids[0] if meta is not None and meta.session_ids else "",
        participants=tuple(p.aor for p in meta.participants if p.aor) if meta else (),
    )


class RecordingCall(SipCall):
    """A recording session's pjsua2 call: also re-INVITEs (new metadata) and our answer's SDP
    (each stream keeps its label, RFC 7866 section 8.1.1)."""

    def __init__(self, acc: pj.Account, call_id: int, **kw: Any) -> None:
        on_reinvite = kw.pop("on_reinvite")
        super().__init__(acc, call_id, **kw)
        self.on_reinvite: Callable[[RecordingCall, str], None] = on_reinvite
        self.labels: list[tuple[int, str]] = []  # (m= index, label) of the offer

    def onCallRxReinvite(self, prm: pj.OnCallRxReinviteParam) -> None:  # noqa: N802
        self.on_reinvite(self, prm.rdata.wholeMsg)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # noqa: N802
        """An UPDATE (pjsua answers it itself; onCallRxReinvite is for re-INVITEs only)."""
        body = prm.e.body.tsxState
        tsx = body.tsx
        if (
            body.type == pj.PJSIP_EVENT_RX_MSG
            and tsx.role == pj.PJSIP_ROLE_UAS
            and tsx.method == "UPDATE"
        ):
            self.on_reinvite(self, body.src.rdata.wholeMsg)

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:  # noqa: N802
        if not self.labels:
            return
        try:  # this wheel hands Python an empty wholeSdp: print the C session ourselves
            text = prm.sdp.wholeSdp or sdp_text(prm.sdp.pjSdpSession)
        except Exception:  # noqa: BLE001 - labels in the answer are a courtesy: leave it
            return
        if "m=" in text:
            prm.sdp.wholeSdp = _with_labels(text, dict(self.labels))


def _with_labels(sdp: str, labels: dict[int, str]) -> str:
    out: list[str] = []
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            if index in labels:
                out.append(f"a=label:{labels[index]}")
            index += 1
        if not line.startswith("a=label:"):
            out.append(line)
    if index in labels:
        out.append(f"a=label:{labels[index]}")
    return "\r\n".join(out) + "\r\n"


class Session:
    """One recording session under analysis (pump thread)."""

    def __init__(
        self, info: SessionInfo, call: RecordingCall, offer: Offer, tap_dir: Path, silence: Any
    ) -> None:
        self.info = info
        self.call = call
        self.offer = offer
        self.taps = RecorderTaps(tap_dir, info.call_id, self._push, silence)
        self.taps.stream.on_drop = self._dropped
        self.runner: CallRunner | None = None
        self.connected: dict[int, int] = {}  # media index -> the bridge port tapped
        self.tapped: dict[int, int] = {}  # media index -> the tap port it is connected to
        # the agent's m= index: new metadata that names the other stream's sender as the agent
        # (a transfer, or metadata after a stream-order fallback) swaps the taps
        self.agent_media = offer.streams[info.choice.agent].index
        self.sip_call_id = ""  # the client's Call-ID (the dialog's)
        self.finished = False
        self.confirmed = False
        self.paused = False  # the client paused the recording (a=inactive): no media timeout
        self.end_reason = "hangup"
        self.last_rx = (-1, time.monotonic())
        # a supervisor listening (their phone called by us, hearing both streams mixed)
        self.listener: SipCall | None = None
        self.listener_uri = ""
        self.listener_name = ""
        self.listen_routes: set[tuple[int, int]] = set()  # (stream port, listener port)
        # mid-call errors (broken metadata in each UPDATE): said once per kind and window
        self.update_errors: RefusalLog | None = None

    @property
    def call_id(self) -> str:
        return self.info.call_id

    def note_state(self, state: str, reason: str = "", code: int | None = None) -> None:
        """A `call_state` event (talk time counts from `confirmed`)."""
        runner = self.runner
        if runner is None:
            return
        data = CallState(
            state=state,  # type: ignore[arg-type]
            direction="inbound",
            remote=self.info.remote,
            reason=reason,
            code=code,
        )
        runner.submit(lambda session: session.note(data))

    def _push(self, agent: Any, customer: Any) -> None:
        runner = self.runner
        if runner is not None:
            runner.push(agent, customer)

    def _dropped(self, frames: int) -> None:
        runner = self.runner
        if runner is not None:
            runner.count_dropped(frames)

    def tap(self) -> None:
        """Each receiving stream to its tap, all in back-to-back C connects (see sip/tap.py).

        Every call connects them all again: pjsua_conf_connect leaves an existing connection
        as it is, and a stream pjsua made anew (a pause ends it, the resume makes it again)
        can get the very bridge port number it had, with none of its connections. A stream
        not receiving (paused) is forgotten, so its resume is tapped again."""
        if not self.call.placed or not self.taps.ports:
            return
        ci = self.call.getInfo()
        agent = self.agent_media
        wanted: list[tuple[int, int]] = []
        receiving: set[int] = set()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status not in RECEIVING:
                continue
            receiving.add(mi.index)
            port = self.call.getAudioMedia(mi.index).getPortId()
            end = "agent_tap" if mi.index == agent else "customer_tap"
            wanted.append((port, self.taps.ports[end].getPortId()))
            self.connected[mi.index], self.tapped[mi.index] = wanted[-1]
        for index in [i for i in self.connected if i not in receiving]:
            del self.connected[index]
            self.tapped.pop(index, None)
        for src, dst in wanted:
            status = _lib.pjsua_conf_connect(src, dst)
            if status:
                raise pj.Error(status, "pjsua_conf_connect", "cannot tap a stream", "", 0)

    def swap_agent(self, agent_media: int) -> None:
        """The agent's stream is now `agent_media`: every stream is cut from its tap and tapped
        again, to the other side's (the connects are back to back, as in `tap`)."""
        self.agent_media = agent_media
        for index, port in self.connected.items():
            tap = self.tapped.get(index)
            if tap is not None:
                _lib.pjsua_conf_disconnect(port, tap)
        self.connected.clear()
        self.tapped.clear()
        self.tap()

    def streams(self) -> list[int]:
        """The bridge ports of the recorded streams now receiving."""
        if not self.call.placed:
            return []
        ci = self.call.getInfo()
        return [
            self.call.getAudioMedia(mi.index).getPortId()
            for mi in ci.media
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in RECEIVING
        ]

    def route_listener(self) -> None:
        """Both recorded streams to the listening supervisor's call (the bridge mixes them);
        nothing back: the supervisor is heard by nobody."""
        want: set[tuple[int, int]] = set()
        sup = self.listener
        if sup is not None and not self.finished:
            media, state = sup.audio()
            if media is not None and state == "active":
                dst = media.getPortId()
                want = {(src, dst) for src in self.streams()}
        for src, dst in sorted(self.listen_routes - want):
            _lib.pjsua_conf_disconnect(src, dst)  # a port gone with its stream: nothing to do
        for src, dst in sorted(want):  # all again, as in `tap`: a remade stream lost its own
            status = _lib.pjsua_conf_connect(src, dst)
            if status:
                raise pj.Error(status, "pjsua_conf_connect", "cannot route to the listener", "", 0)
        self.listen_routes = want

    def rx_packets(self) -> int:
        if not self.call.placed:
            return -1
        total = 0
        ci = self.call.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in RECEIVING:
                stat = self.call.getStreamStat(mi.index)
                rtcp = stat.rtcp
                total += int(rtcp.rxStat.pkt)
        return total

    def release(self) -> TapStream:
        self.connected.clear()
        self.tapped.clear()
        return self.taps.release()


class RecordingServer(CallOwner):
    """Owns the recording sessions; the Pump's owner (its hooks run on the pump thread)."""

    def __init__(
        self,
        cfg: SrsConfig,
        *,
        new_runner: NewRunner,
        end_runner: EndRunner,
        notify: Callable[[str], None] = lambda line: None,
        refused: Refused = lambda line: None,
        updated: Updated = lambda runner, info, paused: None,
        log_level: int = 1,
        log_file: str = "",
    ) -> None:
        super().__init__(end_runner=end_runner, notify=notify)
        self.cfg = cfg
        self.new_runner = new_runner
        self.refused = refused
        self.updated = updated
        self.pump = Pump(
            port=cfg.port,
            bind=cfg.bind,
            transport=cfg.transport,
            owner=self,
            log_level=log_level,
            log_file=log_file,
            tls=(cfg.tls_cert, cfg.tls_key, cfg.tls_ca, False),
        )
        self.account: _Account | None = None
        self.sessions: dict[str, Session] = {}
        self.refusals = 0
        self.refusal_log = RefusalLog(self._say_refused)  # one line per kind and window
        self.slots = PJSUA_SLOTS  # pjsua's call slots: read from the build in setup
        self.listeners: list[SipCall] = []  # supervisors' listen calls, until disconnected
        self.gate: Gate | None = None  # admission control ahead of pjsua (pump thread)
        self._admitted: deque[float] = deque()  # when INVITEs were let through to pjsua

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> RecordingServer:
        self.pump.start()
        return self

    def stop(self) -> None:
        self.pump.stop()

    @property
    def port(self) -> int:
        return self.pump.bound_port

    @property
    def gate_off(self) -> bool:
        """True when new INVITEs reach pjsua unjudged (no gate, or it stands aside)."""
        return self.gate is None or bool(self.gate.standing_aside)

    @property
    def max_sessions(self) -> int:
        """Sessions plus listens at once: `srs.max_sessions`, at most pjsua's call slots.

        With the admission gate, every slot can hold a session: a new INVITE is refused
        (503) before pjsua sees it once the calls in pjsua (sessions, listens, calls still
        ending) fill `max_sessions`, so pjsua never runs out and never answers 486 itself.
        Without the gate (another pjsip, or its structs not as expected) one slot stays free
        for pjsua to take the INVITE that `_incoming` refuses with 503."""
        return max(1, min(self.cfg.max_sessions, self.slots - (1 if self.gate_off else 0)))

    def session_ids(self) -> list[str]:
        return list(self.pump.run(lambda: list(self.sessions)))

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        """Listen (call the supervisor's phone, play both recorded streams to it) or `off`.
        Whisper and barge need a leg into the call, which SIPREC does not give."""
        if mode in ("whisper", "barge"):
            raise ControlError(
                f"{mode} is not available on a recorded (SIPREC) call: the recording server "
                "gets a copy of the audio and has no leg into the call (listen works)"
            )
        target = ""
        if mode == "listen":
            if not supervisor:
                raise ControlError(
                    "this supervisor has no SIP URI (set sip in [[overlay.supervisor]])"
                )
            target = self._target(supervisor)
        try:
            return str(
                self.pump.run(lambda: self._supervise(call_id, mode, supervisor, name, target))
            )
        except (ServiceError, TimeoutError) as exc:
            why = str(exc) or "timed out"
            raise ControlError(f"the recording server did not answer: {why}") from None
        except pj.Error as exc:
            raise ControlError(exc.reason) from None

    def _target(self, uri: str) -> str:
        """`uri` as this server can call it (UDP and TCP both listen with `udp+tcp`)."""
        try:
            if self.cfg.transport != "udp+tcp":
                return dial_uri(uri, self.cfg.transport)
            scheme, _ = check_uri(uri)
            if scheme == "sips":
                raise UriError(f'{uri!r}: a sips: URI needs srs.transport = "tls"')
            return uri
        except UriError as exc:
            raise ControlError(f"this supervisor's SIP URI cannot be called: {exc}") from None

    # -- pump owner hooks ----------------------------------------------------------------------

    def setup(self, ep: pj.Endpoint, port: int) -> None:
        self.ep = ep  # first: a setup that fails part-way is still released (the gate removed)
        declare_siprec()
        self.gate = Gate(self._admit, on_owner=lambda: self.pump.on_pump, failed=self.notify)
        self.gate.install()
        self.slots = int(_lib.pjsua_call_get_max_count())
        if self.max_sessions < self.cfg.max_sessions:
            spare = " (one kept to answer 503: admission control is off)" if self.gate_off else ""
            self.notify(
                f"srs.max_sessions is {self.cfg.max_sessions}, but this pjsua build holds "
                f"{self.slots} calls at once{spare}: taking at most {self.max_sessions} "
                "sessions and listens"
            )
        self._start_media(ep, self.cfg.codecs, "srs.codecs")
        acc = _Account(self._incoming, self.notify)
        acfg = pj.AccountConfig()
        host = self.cfg.bind or "127.0.0.1"
        # over TLS our Contact is sips: a client that sends sips: (SBCs over TLS do) hangs up
        # on a sip: Contact ("480 SIPS Required"), and pjsip refuses a sips: request whose
        # Contact is not sips: (480), so the test client sends sips: both ways
        scheme = "sips" if self.cfg.transport == "tls" else "sip"
        acfg.idUri = f"{scheme}:srs@{host}:{port}"
        acfg.regConfig.registerOnAdd = False
        acfg.mediaConfig.transportConfig.port = self.cfg.rtp_port
        if self.cfg.bind:
            acfg.mediaConfig.transportConfig.boundAddress = self.cfg.bind
        acfg.mediaConfig.srtpUse = SRTP_USE[self.cfg.srtp]
        acfg.mediaConfig.srtpSecureSignaling = 1 if self.cfg.transport == "tls" else 0
        acfg.natConfig.contactUseSrcPort = False
        acc.create(acfg, True)
        self.account = acc
        self.pump.later(WATCH_EVERY_S, self._watch)

    def closing(self) -> None:
        self._closing = True
        for s in self.sessions.values():
            s.end_reason = "interrupted"

    def idle(self) -> bool:
        return not self.sessions and not self._ending and not self.listeners

    def connection_lost(self, reason: str, remote: str) -> None:
        """A TCP/TLS connection closed: the recording server registers nowhere, so nothing
        depends on it (each session's SIP dialog reports its own end)."""

    def failed(self, exc: BaseException, where: str) -> None:
        self.notify(
            f"internal error on the SIP thread ({where}): {failure_text(exc)}; the server goes on"
        )

    def release(self) -> None:
        self._contain(None, "refusal counts", partial(self.refusal_log.flush, everything=True))
        for s in list(self.sessions.values()):
            self._finish(s, "shutdown", None)
        for sup in self.listeners:  # listen calls that did not end in time
            if sup.placed:
                self._contain(None, "listen hangup", partial(sup.hangup, _op()))
            detach(sup)
        self._graveyard.extend(self.listeners)
        self.listeners.clear()
        if self.ep is None:
            return
        self._release_media()
        self.sessions.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        if self.gate is not None:
            self.gate.remove()
        gc.collect()

    # -- pump thread ---------------------------------------------------------------------------

    def _contain(self, s: Session | None, where: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - contained per session, reported
            if s is None:
                self.failed(exc, where)
                return
            self.notify(f"{s.call_id}: {where} failed: {failure_text(exc)}; the session goes on")

    def _admit(self, whole: str) -> Verdict:
        """An INVITE or UPDATE before pjsip's dialogs and pjsua see it (the gate's judge).

        A new INVITE is refused here when the server is full, shutting down or taking
        sessions too fast, or when its body cannot be recorded (as `_incoming` would refuse
        it, after pjsua opened its media). A body with no SDP goes on to pjsua, which answers
        it itself (415) and opens nothing. In a dialog: see `_in_dialog`."""
        headers, body = split_message(whole)
        if ";tag=" in headers.get("to", "").replace(" ", "").lower():
            return self._in_dialog(whole, headers, body)
        if not whole.startswith("INVITE "):
            return None
        now = time.monotonic()
        while self._admitted and now - self._admitted[0] >= ADMIT_WINDOW_S:
            self._admitted.popleft()
        code, why, kind = 0, "", ""
        held = calls_in_pjsua()
        if self._closing:
            code, why, kind = 503, "the recording server is shutting down", "503 shutting down"
        elif held >= self.max_sessions:
            calls = "1 call" if held == 1 else f"{held} calls"
            code, why, kind = 503, f"busy: {calls} in progress (srs.max_sessions)", "503 full"
        elif len(self._admitted) >= self.cfg.sessions_per_s:
            code, kind = 503, "503 too fast"
            why = f"busy: {len(self._admitted)} sessions began within {ADMIT_WINDOW_S:g} s"
        else:
            try:
                read_offer(headers.get("content-type", ""), body)
            except NoSdp:
                pass
            except SiprecError as exc:
                code, why = exc.code, str(exc)
                kind = _kind(code, why)
        if not code:
            self._admitted.append(now)
            return None
        client = headers.get("from", "?")
        if ">" in client:
            client = client[client.find("<") + 1 : client.find(">")]
        client = client.split(";", 1)[0].strip()
        self._note_refusal(client, code, why, kind)
        return Refuse(code, why, self.cfg.retry_after_s if code == 503 else 0)

    def _in_dialog(self, whole: str, headers: dict[str, str], body: bytes) -> Verdict:
        """A re-INVITE or UPDATE with metadata and no SDP (RFC 7866: new
        metadata alone): pjsip is to take it without its body (else it answers 415 or 488
        itself); the metadata goes through the usual update path. An UPDATE's already does
        (pjsua reports the transaction, `onCallTsxState`, with the message whole); a
        re-INVITE with no offer never reaches `onCallRxReinvite`, so it is handed over here,
        on the next pump step (pjsip is in the middle of the message now)."""
        try:
            types = {p.content_type for p in split_body(headers.get("content-type", ""), body)}
        except SiprecError:
            return None  # pjsip answers what it cannot take, as before
        if not body.strip() or "application/sdp" in types or not types & set(METADATA_TYPES):
            return None
        if whole.startswith("INVITE "):
            cid = headers.get("call-id", "")
            s = next((s for s in self.sessions.values() if cid and s.sip_call_id == cid), None)
            if s is None:
                return None
            self.pump.later(
                0, lambda: self._contain(s, "re-INVITE", lambda: self._on_reinvite(s.call, whole))
            )
        return DROP_BODY

    def _say_update_error(self, s: Session, message: str) -> None:
        self.notify(f"{s.call_id}: {message}")
        runner = s.runner
        if runner is not None:
            error = Error(source="srs", message=message, recoverable=True)
            runner.submit(lambda session: session.note(error))

    def _note_refusal(self, client: str, code: int, why: str, kind: str) -> None:
        """A refused INVITE: said (stderr and an `error` event) if the first of its kind in
        the window, else counted (sip/refusals.py)."""
        self.refusals += 1
        self.refusal_log.refused(kind, f"refused a recording from {client}: {code} {why}")

    def _say_refused(self, line: str) -> None:
        self.notify(line)
        self.refused(line)

    def _refuse(self, call: RecordingCall, client: str, code: int, why: str) -> None:
        """Answer the INVITE with an error on the next pump step, not inside onIncomingCall:
        pjsua2 frees the INVITE's cloned rdata when that callback returns, and a final
        response sent inside it can have freed it already (an assertion that aborts the
        process, seen with a refusal right after another)."""
        self._graveyard.append(call)
        kind = "503 full" if why.startswith("busy") else _kind(code, why)
        self._note_refusal(client, code, why, "503 shutting down" if self._closing else kind)
        self.pump.later(
            0, lambda: self._contain(None, "refusal", partial(self._send_refusal, call, code, why))
        )

    def _send_refusal(self, call: RecordingCall, code: int, why: str) -> None:
        if not call.placed:
            return
        headers = {"Retry-After": str(self.cfg.retry_after_s)} if code == 503 else {}
        prm = _op(code, headers)
        prm.reason = why[:120].replace("\r", " ").replace("\n", " ")
        try:
            call.hangup(prm)
        finally:
            detach(call)

    def _make_call(self, pj_id: int) -> RecordingCall:
        def on_state(c: SipCall) -> None:
            self._contain(self.sessions.get(c.owner), "call state", lambda: self._on_state(c))

        def on_media(c: SipCall) -> None:
            self._contain(self.sessions.get(c.owner), "call media", lambda: self._on_media(c))

        def on_reinvite(c: RecordingCall, whole: str) -> None:
            s = self.sessions.get(c.owner)
            self._contain(s, "re-INVITE", lambda: self._on_reinvite(c, whole))

        return RecordingCall(
            self.account, pj_id, on_state=on_state, on_media=on_media, on_reinvite=on_reinvite
        )

    def _incoming(self, pj_id: int, whole: str) -> None:
        call = self._make_call(pj_id)
        client = "?"
        try:
            client = call.getInfo().remoteUri
            headers, body = split_message(whole)
            if self._closing:
                self._refuse(call, client, 503, "the recording server is shutting down")
                return
            if len(self.sessions) + len(self.listeners) >= self.max_sessions:
                why = f"busy: {len(self.sessions)} recording sessions (srs.max_sessions)"
                if self.listeners:
                    why += f" and {len(self.listeners)} supervisor listening"
                self._refuse(call, client, 503, why)
                return
            try:
                offer = read_offer(headers.get("content-type", ""), body)
            except SiprecError as exc:
                self._refuse(call, client, exc.code, str(exc))
                return
            call_id = _new_id()
            info = session_info(call_id, client, offer, self.cfg)
            assert self.tap_dir is not None and self.silence is not None
            call.labels = [(st.index, st.label) for st in offer.streams if st.label]
            session = Session(info, call, offer, self.tap_dir, self.silence)
        except Exception as exc:
            self._refuse(call, client, 500, f"internal error: {failure_text(exc)}")
            raise
        call.owner = call_id
        session.sip_call_id = headers.get("call-id", "")
        self.sessions[call_id] = session
        self.tap_reader.add(session.taps.stream)
        call.answer(_op(180))
        self.notify(f"{call_id}: recording session from {client}")
        threading.Thread(
            target=self._build, args=(session,), name=f"setup-{call_id}", daemon=True
        ).start()

    def _build(self, s: Session) -> None:
        """Off the pump thread: the call's runner and recognisers, then back to answer."""
        try:
            runner = self.new_runner(s.info)
        except Exception as exc:  # noqa: BLE001 - the session is refused, and the line says why
            why = failure_text(
                exc
            )  # not the exception: its traceback would hold this frame (cycle)
            self._post(None, "session setup", lambda: self._unbuilt(s, why))
            return
        self._post(s, "session setup", lambda: self._built(s, runner))

    def _post(self, s: Session | None, where: str, fn: Callable[[], None]) -> None:
        try:
            self.pump.post(lambda: self._contain(s, where, fn))
        except ServiceError as exc:
            self.notify(f"{where}: {exc}")

    def _built(self, s: Session, runner: CallRunner) -> None:
        s.runner = runner
        if s.finished:
            self.end_runner(runner, s.end_reason)
            return
        s.call.answer(_op(200))

    def _unbuilt(self, s: Session, why: str) -> None:
        self.notify(f"{s.call_id}: cannot set up the analysis: {why}; refusing")
        if not s.finished:
            s.end_reason = "failed"
            s.call.hangup(_op(500))

    def _on_state(self, call: SipCall) -> None:
        s = self.sessions.get(call.owner)
        if s is None:
            return
        ci = call.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            s.confirmed = True
            s.last_rx = (-1, time.monotonic())
            s.note_state("confirmed")
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            if not s.confirmed and s.end_reason == "hangup":
                s.end_reason = "failed"
            if s.confirmed and s.runner is not None:
                # the recording client's BYE: it does not say which party hung up (checklist n/a)
                gone = Hangup(by="unknown", how="the recording client ended the session")
                s.runner.submit(lambda session: session.note(gone))
            self._finish(s, ci.lastReason, ci.lastStatusCode)

    def _on_media(self, call: SipCall) -> None:
        s = self.sessions.get(call.owner)
        if s is not None:
            before = len(s.connected)
            s.tap()
            if len(s.connected) != before:
                self.notify(f"{s.call_id}: {len(s.connected)} streams tapped")
            s.route_listener()  # a re-INVITE may have given a stream a new bridge port

    def _on_reinvite(self, call: RecordingCall, whole: str) -> None:
        """A re-INVITE or UPDATE: new metadata (a transfer, a new participant: the parties,
        the agent's stream and who sees the call change) and/or a pause or resume."""
        s = self.sessions.get(call.owner)
        if s is None or s.runner is None:
            return
        headers, body = split_message(whole)
        try:
            update = read_update(headers.get("content-type", ""), body)
        except SiprecError as exc:
            if s.update_errors is None:
                s.update_errors = RefusalLog(
                    partial(self._say_update_error, s), noun="mid-call updates ignored"
                )
            s.update_errors.refused(
                _kind(exc.code, str(exc)), f"new metadata mid-call ignored: {exc}"
            )
            return
        changed = False
        if update.metadata is not None:
            meta = merge_metadata(s.offer.metadata, update.metadata)
            offer = Offer(streams=s.offer.streams, metadata=meta)
            now = 1 + [st.index for st in offer.streams].index(s.agent_media)
            info = session_info(s.call_id, s.info.remote, offer, self.cfg, fallback=now)
            s.offer, s.info, changed = offer, info, True
            agent_media = offer.streams[info.choice.agent].index
            self.notify(f"{s.call_id}: new metadata: agent {info.choice.agent_aor or '?'}")
            if agent_media != s.agent_media:
                s.swap_agent(agent_media)
                self.notify(f"{s.call_id}: the agent's stream is now stream {agent_media + 1}")
        if update.paused is not None and update.paused != s.paused:
            s.paused, changed = update.paused, True
            s.last_rx = (-1, time.monotonic())
            self.notify(f"{s.call_id}: recording {'paused' if s.paused else 'resumed'}")
        if changed:
            self.updated(s.runner, s.info, s.paused)

    # -- listen --------------------------------------------------------------------------------

    def _supervise(
        self, call_id: str, mode: SuperviseMode, uri: str, name: str, target: str
    ) -> str:
        s = self.sessions.get(call_id)
        if s is None:
            raise ControlError(f"no live recorded call {call_id!r}")
        if mode == "off":
            if s.listener is None:
                return f"{call_id}: no supervisor connected"
            sup = s.listener
            s.listener, s.listener_uri, s.listener_name = None, "", ""
            s.route_listener()
            sup.hangup(pj.CallOpParam(True))
            return f"{call_id}: supervisor disconnected"
        if not s.confirmed:
            raise ControlError(f"{call_id} is not connected yet")
        if s.listener is not None and s.listener_uri == uri:
            s.listener_name = name
            return f"{call_id}: supervisor already listening"
        held = len(self.sessions) + len(self.listeners) - (s.listener is not None)
        if held >= self.max_sessions:
            raise ControlError(
                f"no free call slot to call the supervisor: {len(self.sessions)} recording "
                f"sessions and {len(self.listeners)} listening take the {self.max_sessions} this "
                "server holds (srs.max_sessions); a listen takes one, like a session"
            )
        if calls_in_pjsua() >= self.slots:
            raise ControlError(
                "no free call slot to call the supervisor: a call that ended is still "
                "closing in pjsua; try again in a moment"
            )
        assert self.ep is not None
        try:
            self.ep.utilVerifySipUri(target)
        except pj.Error as exc:
            raise ControlError(f"{uri!r} is not a SIP URI pjsip accepts: {exc.reason}") from None
        if s.listener is not None:
            old, s.listener = s.listener, None
            s.route_listener()
            old.hangup(pj.CallOpParam(True))
        sup = self._make_listener()
        sup.owner, sup.role = call_id, "supervisor"
        sup.placed_at = time.monotonic()
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        try:
            sup.makeCall(target, prm)
            failure = ""
        except pj.Error as exc:
            failure = exc.reason
        if failure:
            self._graveyard.append(sup)
            del sup  # not kept alive by the error's traceback (see sip/phone.py _dial)
            raise ControlError(f"cannot call supervisor {uri}: {failure}")
        self.listeners.append(sup)
        s.listener, s.listener_uri, s.listener_name = sup, uri, name
        self.notify(f"{call_id}: calling supervisor {uri} to listen")
        return f"{call_id}: calling supervisor {uri} to listen"

    def _make_listener(self) -> SipCall:
        def on_state(c: SipCall) -> None:
            self._contain(self.sessions.get(c.owner), "listen call", lambda: self._on_listener(c))

        def on_media(c: SipCall) -> None:
            s = self.sessions.get(c.owner)
            if s is not None and s.listener is c:
                self._contain(s, "listen media", s.route_listener)

        return SipCall(self.account, on_state=on_state, on_media=on_media)

    def _on_listener(self, call: SipCall) -> None:
        if not call.placed:
            return
        ci = call.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            call.connected = True
            return
        if ci.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        self.listeners = [c for c in self.listeners if c is not call]  # by identity (SWIG)
        self._graveyard.append(call)
        detach(call)  # its slot may be the next session's before the object goes
        s = self.sessions.get(call.owner)
        if s is None or s.listener is not call:
            return  # `off` was asked for, or the session ended: nothing more to say
        uri, name = s.listener_uri, s.listener_name
        s.listener, s.listener_uri, s.listener_name = None, "", ""
        s.route_listener()
        outcome = f"{ci.lastStatusCode} {ci.lastReason}"
        if call.connected:
            message = f"the supervisor {uri} left the call ({outcome})"
        else:
            message = f"the supervisor's phone {uri} did not connect: {outcome}"
        self.notify(f"{s.call_id}: {message}")
        action = SupervisorAction(
            mode="off", supervisor=name or uri, ok=call.connected, message=message
        )
        runner = s.runner
        if runner is None:
            return
        # noted no sooner than SUPERVISOR_REPORT_S after the call was placed, as sip/phone.py:
        # the console records its own request (ok: calling) once our reply reaches it
        wait = max(0.0, call.placed_at + SUPERVISOR_REPORT_S - time.monotonic())

        def note() -> None:
            runner.submit(lambda session: session.note(action))

        self.pump.later(wait, note)

    def _finish(self, s: Session, reason: str, code: int | None) -> None:
        if self.sessions.pop(s.call_id, None) is None:
            return
        s.finished = True
        if s.update_errors is not None:
            self._contain(None, "update errors", partial(s.update_errors.flush, everything=True))
        s.note_state("ended", reason, code)
        stream = None
        try:
            sup, s.listener = s.listener, None
            self._contain(None, "listen routes", s.route_listener)
            if sup is not None and sup.placed:
                self._contain(None, "listen hangup", lambda: sup.hangup(pj.CallOpParam(True)))
            stream = s.release()
        finally:
            self._bury(s.call)  # its slot may be the next session's before the object goes
            self.notify(f"{s.call_id}: ended ({code or ''} {reason})".replace("( ", "("))
            if s.runner is not None:
                self._end_after_taps(s.call_id, s.runner, s.end_reason, stream)
            elif stream is not None:
                self.tap_reader.close(stream, lambda: None)

    def _watch_calls(self, now: float) -> None:
        """Refusal counts and update errors said; media timeout: a confirmed session whose RTP
        stopped on every stream is ended."""
        self._contain(None, "refusal counts", partial(self.refusal_log.flush, now))
        for s in list(self.sessions.values()):
            if s.update_errors is not None:
                self._contain(s, "update errors", partial(s.update_errors.flush, now))
            self._contain(s, "media watch", partial(self._watch_one, s, now))

    def _watch_one(self, s: Session, now: float) -> None:
        if not s.confirmed or s.end_reason == "dropped" or s.paused:
            return  # a paused recording has no RTP by design (RFC 7866 section 8.1.2)
        pkts = s.rx_packets()
        if pkts != s.last_rx[0]:
            s.last_rx = (pkts, now)
        elif now - s.last_rx[1] >= self.cfg.media_timeout_s:
            s.end_reason = "dropped"
            self.notify(f"{s.call_id}: media timeout (no RTP for {self.cfg.media_timeout_s:g} s)")
            s.call.hangup(_op(408))


class _Account(pj.Account):
    """No registration; every INVITE goes to the server with its whole message."""

    def __init__(
        self, on_incoming: Callable[[int, str], None], notify: Callable[[str], None]
    ) -> None:
        super().__init__()
        self.on_incoming = on_incoming
        self.notify = notify

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        try:
            self.on_incoming(prm.callId, prm.rdata.wholeMsg)
        except Exception as exc:  # noqa: BLE001 - never out of a pjsua2 callback; reported
            self.notify(f"incoming session failed: {failure_text(exc)}")


def _kind(code: int, why: str) -> str:
    """A refusal's kind for sip/refusals.py: its status and reason, kept short."""
    text = f"{code} {why}"
    return text if len(text) <= 80 else text[:79] + "…"


def _new_id() -> str:
    return f"srs-{uuid.uuid4().hex[:12]}"
