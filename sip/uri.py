"""SIP URIs checked before pjsua2 sees them (pure: no pjsua2 import, unit-tested on its own).

pjsua2 asserts (and aborts the process, taking every live call with it) on some URIs it cannot
use: `sip:bob@@`, a `sips:` URI or `;transport=tls` with no TLS transport, a transport the
endpoint has no listener for. So every URI from the CLI, the config or an overlay page goes
through `dial_uri()` first: it accepts a conservative subset of RFC 3261 (no headers, no
password, one `@`, a host name, IPv4 or [IPv6] address, an optional port, token parameters) and
returns the URI to dial, with `;transport=` added when the endpoint's one transport is not UDP
(pjsip would otherwise pick UDP, which it has no listener for).
"""

from __future__ import annotations

import re

from assist.core.hosts import split_host_port

MAX_URI = 256
TRANSPORTS = ("udp", "tcp", "tls")
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:/&+$]+")


class UriError(ValueError):
    """A URI the softphone will not hand to pjsua2; the message is one line for the user."""


def _host(hostport: str, uri: str) -> None:
    """The host part, read by the one host parser of configs and URIs (assist/core/hosts.py)."""
    try:
        split_host_port(hostport)
    except ValueError as exc:
        raise UriError(f"{uri!r}: {exc}") from None


def check_uri(uri: str) -> tuple[str, str | None]:
    """Check the syntax; return (scheme, transport parameter or None). Raises UriError."""
    if not isinstance(uri, str) or not uri:
        raise UriError("empty SIP URI (like sip:bob@host)")
    if len(uri) > MAX_URI:
        raise UriError(f"SIP URI longer than {MAX_URI} characters")
    if any(ord(c) <= 32 or ord(c) >= 127 for c in uri):
        raise UriError(f"{uri!r}: spaces and control or non-ASCII characters are not allowed")
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips"):
        raise UriError(f"{uri!r} is not a SIP URI like sip:bob@host")
    if "?" in rest.rpartition("@")[2]:
        raise UriError(f"{uri!r}: URI headers (?...) are not supported")
    if rest.count("@") > 1:
        raise UriError(f"{uri!r}: more than one @")
    user, at, hostpart = rest.rpartition("@")
    if at:
        if not user:
            raise UriError(f"{uri!r}: empty user before @")
        if ":" in user:
            raise UriError(f"{uri!r}: no password in the URI, please (use sip.password)")
        if not _USER.fullmatch(user):
            raise UriError(f"{uri!r}: {user!r} is not a valid SIP user part")
    hostport, *params = hostpart.split(";")
    _host(hostport, uri)
    transport = None
    for param in params:
        name, eq, value = param.partition("=")
        if not _TOKEN.fullmatch(name) or (eq and not _PARAM_VALUE.fullmatch(value)):
            raise UriError(f"{uri!r}: bad URI parameter {param!r}")
        if name.lower() == "transport":
            transport = value.lower()
            if transport not in TRANSPORTS:
                raise UriError(f"{uri!r}: transport={value} (known: {', '.join(TRANSPORTS)})")
    return scheme, transport


def dial_uri(uri: str, transport: str) -> str:
    """The URI to hand to pjsua2 on an endpoint whose one SIP transport is `transport`, or a
    UriError saying why this endpoint cannot call it."""
    scheme, wanted = check_uri(uri)
    if scheme == "sips" and transport != "tls":
        raise UriError(f'{uri!r}: a sips: URI needs sip.transport = "tls" (it is {transport!r})')
    if wanted is not None and wanted != transport:
        raise UriError(
            f"{uri!r}: asks for transport={wanted} but this softphone uses {transport!r} "
            "(sip.transport)"
        )
    if wanted is None and transport != "udp":
        return f"{uri};transport={transport}"
    return uri
