"""Admission control for new INVITEs, before pjsua sets up any media: a pjsip module (ctypes).

Why: for every new INVITE with an SDP offer, pjsua opens the media sockets (RTP and RTCP per
offered audio stream) before `onIncomingCall` runs, and a closed socket's slot in pjsip's socket
table (64, PJ_IOQUEUE_MAX_HANDLES) comes back only PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) later.
A burst of INVITEs that Python then refused ran the table dry and pjsip's assertion in
`pj_ioqueue_register_sock2` aborted the process (measured: 20 three-stream INVITEs at once,
every run within five bursts). Beyond its 4 call slots pjsua also answered `486` by itself, with
no Retry-After. So a module of ours sees each INVITE and UPDATE after the transaction layer
(which absorbs retransmissions) and before the dialog layer and pjsua, and the server's `judge`
decides: a new INVITE may be refused statelessly (`pjsip_endpt_respond_stateless`,
`Retry-After` on 503): pjsua never sees it, nothing is opened.

The same module lets pjsip take RFC 7866's metadata-only re-INVITE or UPDATE: pjsip 2.15.1
answers an in-dialog request whose body has no SDP `415`/`488` (its PJSIP_INV_ACCEPT_UNKNOWN_BODY
is off in the wheel), before our code sees it. When the judge says so, the module takes the body
off the parsed message (`msg->body = NULL`; the received text, which our code reads, is left
whole), so pjsip sees an offerless re-INVITE (answered 200 with our SDP as the offer, the client's
ACK answering it) or UPDATE (200), as RFC 3261 and 3311 have it.

Why ctypes: pjsua2 has no way to add a pjsip module; the wheel's `_pjsua2` library exports
`pjsip_endpt_register_module`, `pjsip_endpt_respond_stateless`, `pjsip_rx_data_get_info` and
`pjsip_retry_after_hdr_create` (as sip/recorder.py uses `pjsip_endpt_add_capability`). The
structs are pjsip 2.15.1's (pjsip_module, pj_str_t); of `pjsip_rx_data` only `tp_info.pool`
(its first field) is read at a fixed offset. The message text (`msg_info.msg_buf`, `len`) and
the parsed message (`msg_info.msg`) sit after the packet buffer, whose size is a build option,
so their offset is found on the first request (the field after them holds the pointer
`pjsip_rx_data_get_info` returns) and checked on every one; a body is dropped only after the
parsed message's method name and the body's media type read back as expected. If the layout is
not as expected the gate stands aside (pjsua gets every request, as before) and says so once.

The callback runs on the thread that polls pjsip (the pump: threadCnt 0, mainThreadOnly); on
any other thread it stands aside. Installed and removed on that thread too.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pjsua2 as pj

from assist.core.errors import ServiceError

PRIORITY = 31  # PJSIP_MOD_PRIORITY_UA_PROXY_LAYER (the dialogs) - 1; transactions are 16
_PACKET_AT = 320  # pjsip_rx_data: tp_info (pool, transport, tp_data, op_key: 35 words), timestamp
_SCAN_TO = 66_000  # the packet buffer is PJSIP_MAX_PKT_LEN long: 4000 by default, < 64 KiB
PJSIP_VERSION = b"2.15.1"  # the layouts below are this release's; another: the gate stands aside
_METHODS = (b"Request msg INVITE/", b"Request msg UPDATE/")
_MSG_BODY_AT = 104  # pjsip_msg: type, line (32 bytes from 8), hdr (a 64-byte pjsip_hdr), body
_BODY_TYPES = {(b"application", b"rs-metadata+xml"), (b"application", b"rs-metadata"),
               (b"multipart", b"mixed")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the request statelessly with this status (and Retry-After, if > 0)."""

    code: int
    reason: str
    retry_after_s: int = 0


DROP_BODY: Literal["drop body"] = "drop body"  # pjsip is to see the request without its body
Verdict = Refuse | Literal["drop body"] | None  # None: pjsip and pjsua as usual
Judge = Callable[[str], Verdict]  # the whole message of an INVITE or UPDATE


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_long)]


class _PjStrAt(ctypes.Structure):
    """pj_str_t as read from pjsip's memory (not NUL-terminated: the pointer, not a copy)."""

    _fields_ = [("ptr", ctypes.c_void_p), ("slen", ctypes.c_long)]

    def read(self, limit: int = 64) -> bytes:
        return ctypes.string_at(self.ptr, self.slen) if self.ptr and 0 < self.slen < limit else b""


_RX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _Module(ctypes.Structure):
    """pjsip_module (pjsip 2.15.1 sip_module.h): list links, name, id, priority, 9 callbacks."""

    _fields_ = [
        ("prev", ctypes.c_void_p),
        ("next", ctypes.c_void_p),
        ("name", _PjStr),
        ("id", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("load", ctypes.c_void_p),
        ("start", ctypes.c_void_p),
        ("stop", ctypes.c_void_p),
        ("unload", ctypes.c_void_p),
        ("on_rx_request", _RX),
        ("on_rx_response", ctypes.c_void_p),
        ("on_tx_request", ctypes.c_void_p),
        ("on_tx_response", ctypes.c_void_p),
        ("on_tsx_state", ctypes.c_void_p),
    ]


_lib = ctypes.PyDLL(pj._pjsua2.__file__)
_lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
_lib.pj_get_version.restype = ctypes.c_char_p
_lib.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Module)]
_lib.pjsip_endpt_register_module.restype = ctypes.c_int
_lib.pjsip_endpt_unregister_module.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Module)]
_lib.pjsip_endpt_unregister_module.restype = ctypes.c_int
_lib.pjsip_rx_data_get_info.argtypes = [ctypes.c_void_p]
_lib.pjsip_rx_data_get_info.restype = ctypes.c_void_p
_lib.pjsip_retry_after_hdr_create.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.pjsip_retry_after_hdr_create.restype = ctypes.c_void_p
_lib.pj_list_insert_before.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_lib.pj_list_insert_before.restype = None
_lib.pjsip_endpt_respond_stateless.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_PjStr), ctypes.c_void_p,
    ctypes.c_void_p,
]  # fmt: skip
_lib.pjsip_endpt_respond_stateless.restype = ctypes.c_int
_lib.pjsua_enum_calls.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_uint)]
_lib.pjsua_enum_calls.restype = ctypes.c_int

_KEEP: list[Gate] = []  # a registered module and its callback live as long as the process
_WORD = ctypes.sizeof(ctypes.c_void_p)


def calls_in_pjsua() -> int:
    """pjsua's call slots in use: sessions, listens, calls being set up or refused."""
    ids = (ctypes.c_int * 64)()
    count = ctypes.c_uint(len(ids))
    if _lib.pjsua_enum_calls(ids, ctypes.byref(count)) != 0:
        raise ServiceError("pjsua_enum_calls failed")
    return int(count.value)


class Gate:
    """The module; `judge(whole message)` decides each INVITE and UPDATE (owner thread)."""

    def __init__(
        self,
        judge: Judge,
        *,
        on_owner: Callable[[], bool],
        failed: Callable[[str], None],
    ) -> None:
        self.judge = judge
        self.on_owner = on_owner
        self.failed = failed
        self.refused = 0  # INVITEs this module answered
        self.standing_aside = ""  # why the module lets every INVITE through, if it does
        self._info_at = 0  # offset of msg_info.info in pjsip_rx_data, once found
        self._endpt: int | None = None
        self._callback = _RX(self._on_rx_request)
        self._name = b"mod-assist-srs-gate"
        self._module = _Module()
        self._module.name = _PjStr(self._name, len(self._name))
        self._module.id = -1
        self._module.priority = PRIORITY
        self._module.on_rx_request = self._callback

    def install(self) -> None:
        """Register the module (pjsua's thread, after libInit); with a pjsip other than the
        one whose structs it reads, stand aside (say so) and register nothing."""
        version = _lib.pj_get_version() or b"?"
        if version != PJSIP_VERSION:
            self._stand_aside(f"pjsip is {version.decode(errors='replace')}, not 2.15.1")
            return
        endpt = _lib.pjsua_get_pjsip_endpt()
        if not endpt:
            raise ServiceError("pjsua has no SIP endpoint (install the gate after libInit)")
        status = _lib.pjsip_endpt_register_module(endpt, ctypes.byref(self._module))
        if status != 0:
            raise ServiceError(f"cannot register the admission module (pj_status {status})")
        self._endpt = endpt
        _KEEP.append(self)

    def remove(self) -> None:
        """Unregister (pjsua's thread, before libDestroy); the struct stays alive anyway."""
        endpt, self._endpt = self._endpt, None
        if endpt is not None:
            _lib.pjsip_endpt_unregister_module(endpt, ctypes.byref(self._module))

    # -- pjsip's callback (the thread polling pjsip) -------------------------------------------

    def _on_rx_request(self, rdata: int | None) -> int:
        try:
            if not rdata or self.standing_aside or not self.on_owner():
                return 0
            info = _lib.pjsip_rx_data_get_info(rdata)
            head = ctypes.string_at(info)[: len(_METHODS[0])] if info else b""
            if head not in _METHODS:
                return 0
            text = self._message(rdata, info)
            if text is None:
                return 0
            verdict = self.judge(text)
            if verdict is None:
                return 0
            if verdict == DROP_BODY:
                self._drop_body(rdata, head[12:18])
                return 0
            return 1 if self._respond(rdata, verdict) else 0
        except Exception as exc:  # noqa: BLE001 - never out of a C callback; pjsua takes it
            self.failed(f"admission check failed ({type(exc).__name__}: {exc}); pjsua decides")
            return 0

    def _message(self, rdata: int, info: int) -> str | None:
        """The whole received message (headers and body) of `rdata`, or None (stand aside)."""
        at = self._info_at or self._find_info(rdata, info)
        if not at:
            return None
        buf = ctypes.c_void_p.from_address(rdata + at - 3 * _WORD).value or 0
        size = ctypes.c_int.from_address(rdata + at - 2 * _WORD).value
        if not (rdata + _PACKET_AT <= buf and 0 < size and buf + size <= rdata + at - 3 * _WORD):
            self._stand_aside("the received message is not where pjsip 2.15.1 keeps it")
            return None
        return ctypes.string_at(buf, size).decode("utf-8", "surrogateescape")

    def _find_info(self, rdata: int, info: int) -> int:
        """msg_info is {msg_buf, len, msg, info, ...}: the word holding `info`, with a buffer
        pointer into the packet and a length that fits before it, three words back."""
        for at in range(_PACKET_AT + 3 * _WORD, _SCAN_TO, _WORD):
            if ctypes.c_void_p.from_address(rdata + at).value != info:
                continue
            buf = ctypes.c_void_p.from_address(rdata + at - 3 * _WORD).value or 0
            size = ctypes.c_int.from_address(rdata + at - 2 * _WORD).value
            if rdata + _PACKET_AT <= buf and 0 < size and buf + size <= rdata + at:
                self._info_at = at
                return at
            break
        self._stand_aside("pjsip_rx_data is not laid out as in pjsip 2.15.1")
        return 0

    def _stand_aside(self, why: str) -> None:
        self.standing_aside = why
        self.failed(f"admission control is off: {why}; pjsua takes every INVITE")

    def _drop_body(self, rdata: int, method: bytes) -> None:
        """msg->body = NULL, once the parsed message reads back as this request with a body
        of a type we let through (else nothing is written and pjsip decides as before)."""
        msg = ctypes.c_void_p.from_address(rdata + self._info_at - _WORD).value
        if not msg or ctypes.c_int.from_address(msg).value != 0:  # PJSIP_REQUEST_MSG
            return
        if _PjStrAt.from_address(msg + 2 * _WORD).read() != method:  # line.req.method.name
            self._stand_aside("pjsip_msg is not laid out as in pjsip 2.15.1")
            return
        slot = ctypes.c_void_p.from_address(msg + _MSG_BODY_AT)
        body = slot.value
        if not body:
            return
        kind = _PjStrAt.from_address(body).read().lower()  # content_type.type, .subtype
        sub = _PjStrAt.from_address(body + ctypes.sizeof(_PjStrAt)).read().lower()
        if (kind, sub) in _BODY_TYPES:
            slot.value = None

    def _respond(self, rdata: int, verdict: Refuse) -> bool:
        assert self._endpt is not None
        code, reason, retry_after = verdict.code, verdict.reason, verdict.retry_after_s
        phrase = reason[:120].replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")
        text = _PjStr(phrase, len(phrase))
        headers = None
        if retry_after > 0:
            pool = ctypes.c_void_p.from_address(rdata).value  # tp_info.pool: the first field
            hdr = _lib.pjsip_retry_after_hdr_create(pool, retry_after)
            if not hdr:
                return False
            head = (ctypes.c_void_p * 8)()  # a pjsip_hdr list head: only prev/next are used
            head[0] = head[1] = ctypes.addressof(head)
            _lib.pj_list_insert_before(ctypes.addressof(head), hdr)
            headers = ctypes.addressof(head)
        status = _lib.pjsip_endpt_respond_stateless(
            self._endpt, rdata, code, ctypes.byref(text), headers, None
        )
        if status != 0:
            self.failed(f"could not answer an INVITE {code} (pj_status {status}); pjsua decides")
            return False
        self.refused += 1
        return True
