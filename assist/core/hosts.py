"""Hosts and ports as configs and SIP URIs write them: one parser, one loopback test.

`sip.public_address`, `sip.stun_servers`, the host of every SIP URI (`sip/uri.py`), the
overlay's bind address: each is read here, so what one accepts the others accept too.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def split_host_port(text: str, *, port: bool = True) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port or None); with `port=False`
    a port is refused and a bare IPv6 address is taken. A host is a DNS name, an IPv4 address
    or an IPv6 address (returned without brackets). Raises ValueError with a one-line reason."""
    host, number = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unclosed [ in the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after the address")
        number = rest[1:]
        if rest and not number:
            raise ValueError("empty port")
    elif text.count(":") > 1:
        if not port and _is_ipv6(text):
            return text, None
        raise ValueError("an IPv6 address must be in [brackets]")
    else:
        if ":" in text:
            host, number = text.split(":")
            if not number:
                raise ValueError("empty port")
        if not host:
            raise ValueError("no host")
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"{host!r} is not a host name or address")
        if all(label.isdigit() for label in labels):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv4 address") from None
    if number and not port:
        raise ValueError(f"a port ({number}) is not allowed here: give the host alone")
    if number and (not number.isdigit() or not 1 <= int(number) <= 65535):
        raise ValueError(f"port {number!r} is not a port number (1-65535)")
    return host, int(number) if number else None


def host_problem(text: str, *, port: bool = True) -> str | None:
    """Why `text` is not a host (or host:port), or None if it is one."""
    try:
        split_host_port(text, port=port)
    except ValueError as exc:
        return str(exc)
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` keeps traffic on this machine: `localhost` or a loopback address (bare or
    [bracketed]). Any other name may resolve anywhere, so it counts as beyond loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
