"""The overlay websocket protocol, v1: typed client messages, their validation, server replies.

Events travel in the one envelope of assist/core/events.py (they carry `seq`); everything else the
server sends is a *protocol message* without `seq`: `hello`, `calls`, `phone`, `result`,
`error`.
Clients send `subscribe`, `feedback`, `supervise`, `message` (a supervisor's text to the
agent), and the softphone's `answer`, `hangup` and `dial`. `decode()` turns a raw frame into one
of the frozen message classes below or raises `ProtocolError` with a stable `code`; nothing
is string-matched elsewhere. See docs/protocol.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, cast

from assist.core.events import SCHEMA_VERSION, Verdict
from assist.runtime.control import SUPERVISE_MODES, SuperviseMode

PROTOCOL_VERSION = 1
MAX_MESSAGE = 16 * 1024  # bytes of one client message; larger ones get a `too_large` error
MAX_FRAME = 1024 * 1024  # transport limit: beyond this the connection is closed (1009)
MAX_SINCE = 1000  # calls in one `since` map
MAX_ID = 128  # characters of a call id, prompt id or request id
MAX_URI = 256  # characters of a SIP URI to dial
MAX_TEXT = 280  # characters of a supervisor's text message to an agent

ErrorCode = Literal[
    "bad_message",  # not JSON, not an object, a field missing or of the wrong type
    "unknown_type",  # a `type` this protocol version does not have
    "too_large",  # over MAX_MESSAGE
    "unauthorized",  # missing or unknown token (the connection is then closed, code 4401)
    "forbidden",  # the token's role may not do this (an agent's token and another call)
    "no_such_call",  # the call is not live on this server
    "unknown_prompt",  # feedback for a prompt this call never raised
    "control_failed",  # call control refused (e.g. "not available in demo mode")
    "rate_limited",  # over the connection's message rate (config messages_per_s); not acted on
    "too_many_connections",  # over the token's connection cap (then closed, code 4429)
]
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 1013
CLOSE_TOO_MANY = 4429
MESSAGE_BURST = 40  # messages a connection may send at once, beyond its rate (config)


class RateLimit:
    """A token bucket per connection: `allow(now)` spends one message or says no.

    Time comes from the caller (the server's loop clock), so the bucket is pure."""

    def __init__(self, rate: float, burst: int = MESSAGE_BURST) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.last: float | None = None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class ProtocolError(ValueError):
    """A client message that cannot be accepted; sent back as an `error` message."""

    def __init__(self, code: ErrorCode, message: str, ref: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


# --- client -> server -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Stream one call (`call_id`) or every call the token may see, resuming after `since`."""

    call_id: str | None = None
    since: tuple[tuple[str, int], ...] = ()
    ref: str | int | None = None
    latest: bool = False  # of calls not in `since`, replay only the newest


@dataclass(frozen=True, slots=True)
class SendFeedback:
    """The agent pressed "done" or "not helpful" on a prompt card."""

    call_id: str
    prompt_id: str
    verdict: Verdict
    ref: str | int | None = None


@dataclass(frozen=True, slots=True)
class Supervise:
    """A supervisor asks to listen, whisper, barge into a call, or to stop (`off`)."""

    call_id: str
    mode: SuperviseMode
    ref: str | int | None = None


@dataclass(frozen=True, slots=True)
class CallAction:
    """Answer a ringing call or hang up a call (the softphone's buttons on the overlay)."""

    call_id: str
    action: Literal["answer", "hangup"]
    ref: str | int | None = None


@dataclass(frozen=True, slots=True)
class Dial:
    """Place a call from the softphone to `uri` (a SIP URI)."""

    uri: str
    ref: str | int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A supervisor's short text to the agent on a call (shown on the agent's overlay)."""

    call_id: str
    text: str
    ref: str | int | None = None


ClientMessage = Subscribe | SendFeedback | Supervise | CallAction | Dial | Message


def decode(raw: str | bytes) -> ClientMessage:
    """Parse and validate one client frame; raises ProtocolError (never anything else)."""
    if isinstance(raw, bytes):
        raise ProtocolError("bad_message", "binary messages are not accepted")
    if len(raw) > MAX_MESSAGE or len(raw.encode("utf-8", "replace")) > MAX_MESSAGE:
        raise ProtocolError("too_large", f"message is larger than {MAX_MESSAGE} bytes")
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_message", "message is not JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("bad_message", "message must be an object with a string 'type'")
    ref = msg.get("id")
    if ref is not None and not (
        (isinstance(ref, str) and len(ref) <= MAX_ID and _utf8(ref))
        or (isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) < 2**53)
    ):
        raise ProtocolError(
            "bad_message", f"'id' must be a string of <= {MAX_ID} chars or a (JSON-safe) int"
        )
    kind = msg["type"]
    try:
        if kind == "subscribe":
            return _subscribe(msg, ref)
        if kind == "feedback":
            verdict = _str(msg, "verdict")
            if verdict not in ("done", "not_helpful"):
                raise ProtocolError("bad_message", "'verdict' must be 'done' or 'not_helpful'")
            call_id, prompt_id = _str(msg, "call_id"), _str(msg, "prompt_id")
            return SendFeedback(call_id, prompt_id, cast(Verdict, verdict), ref)
        if kind == "supervise":
            mode = _str(msg, "mode")
            if mode not in SUPERVISE_MODES:
                raise ProtocolError("bad_message", f"'mode' must be one of {list(SUPERVISE_MODES)}")
            return Supervise(_str(msg, "call_id"), mode, ref)
        if kind in ("answer", "hangup"):
            return CallAction(_str(msg, "call_id"), kind, ref)
        if kind == "dial":
            return Dial(_str(msg, "uri", MAX_URI), ref)
        if kind == "message":
            text = " ".join(_str(msg, "text", MAX_TEXT).split())
            if not text:
                raise ProtocolError("bad_message", "'text' must not be empty")
            return Message(_str(msg, "call_id"), text, ref)
    except ProtocolError as exc:
        exc.ref = ref
        raise
    raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}", ref)


def _utf8(value: str) -> bool:
    """Whether `value` can be sent back as UTF-8 (JSON's \\ud800 escapes make lone surrogates,
    which would break the echo of an `id` or the error naming a value)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _str(msg: dict[str, Any], key: str, limit: int = MAX_ID) -> str:
    value = msg.get(key)
    if not isinstance(value, str) or not value or len(value) > limit or not _utf8(value):
        raise ProtocolError("bad_message", f"'{key}' must be a non-empty string (<= {limit})")
    return value


def _subscribe(msg: dict[str, Any], ref: str | int | None) -> Subscribe:
    call_id = msg.get("call_id")
    if call_id is not None:
        call_id = _str(msg, "call_id")
    since = msg.get("since", {})
    if since is None:
        since = {}
    if (
        not isinstance(since, dict)
        or len(since) > MAX_SINCE
        or not all(
            isinstance(k, str) and len(k) <= MAX_ID and _utf8(k) and type(v) is int and v >= -1
            for k, v in since.items()
        )
    ):
        raise ProtocolError("bad_message", "'since' must map call ids to seq numbers (ints)")
    latest = msg.get("latest", False)
    if not isinstance(latest, bool):
        raise ProtocolError("bad_message", "'latest' must be true or false")
    return Subscribe(call_id, tuple(since.items()), ref, latest)


# --- server -> client -----------------------------------------------------------------------


def _dump(obj: dict[str, Any]) -> str:
    """Compact JSON; non-ASCII as UTF-8, but anything unencodable (a lone surrogate in a
    message from elsewhere) escaped rather than breaking the send."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text if _utf8(text) else json.dumps(obj, separators=(",", ":"))


def hello(
    *,
    server: str,
    role: str,
    name: str,
    calls: list[str],
    telephony: bool = False,
    dial: bool = False,
) -> str:
    """First message on every connection: versions, who the token is, which calls it sees,
    whether a phone is behind the server (answer/hangup/dial can work) and whether this token
    may place calls."""
    return _dump(
        {
            "type": "hello",
            "v": SCHEMA_VERSION,
            "protocol": PROTOCOL_VERSION,
            "server": server,
            "role": role,
            "name": name,
            "calls": calls,
            "telephony": telephony,
            "dial": dial,
        }
    )


RegistrationState = Literal["registering", "registered", "failing"]


def phone(registration: RegistrationState, message: str) -> str:
    """The softphone's own state, not any call's: whether its account is registered. Sent
    after `hello` when known, and again on every change, to every token."""
    return _dump({"type": "phone", "registration": registration, "message": message})


def error(code: ErrorCode, message: str, ref: str | int | None = None) -> str:
    out: dict[str, Any] = {"type": "error", "code": code, "error": message}
    if ref is not None:
        out["id"] = ref
    return _dump(out)


def result(message: str, ref: str | int | None = None) -> str:
    """A request (feedback, supervise, call control) was carried out; `message` is for the
    user."""
    out: dict[str, Any] = {"type": "result", "ok": True, "message": message}
    if ref is not None:
        out["id"] = ref
    return _dump(out)


def calls(summaries: list[dict[str, Any]]) -> str:
    """The supervisor board: every visible call, flagged calls first."""
    return _dump({"type": "calls", "calls": summaries})
