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

import ipaddress
import re

MAX_URI = 256
TRANSPORTS = ("udp", "tcp", "tls")
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_PARAM_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:/&+$]+")


class UriError(ValueError):
    """A URI the softphone will not hand to pjsua2; the message is one line for the user."""


def _host(hostport: str, uri: str) -> None:
    host, port = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise UriError(f"{uri!r}: unclosed [ in the IPv6 address")
        host, rest = hostport[1:end], hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UriError(f"{uri!r}: {host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise UriError(f"{uri!r}: unexpected {rest!r} after the address")
        port = rest[1:]
        if rest and not port:
            raise UriError(f"{uri!r}: empty port")
    else:
        if hostport.count(":") > 1:
            raise UriError(f"{uri!r}: an IPv6 address must be in [brackets]")
        if ":" in hostport:
            host, port = hostport.split(":")
            if not port:
                raise UriError(f"{uri!r}: empty port")
        if not host:
            raise UriError(f"{uri!r}: no host (like sip:bob@pbx.example.com)")
        labels = host.rstrip(".").split(".")
        if not all(_LABEL.fullmatch(label) for label in labels) or len(host) > 253:
            raise UriError(f"{uri!r}: {host!r} is not a host name or address")
        if all(label.isdigit() for label in labels):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise UriError(f"{uri!r}: {host!r} is not an IPv4 address") from None
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise UriError(f"{uri!r}: port {port!r} is not a port number (1-65535)")


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
