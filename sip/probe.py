"""Is a UDP registrar there at all? One SIP OPTIONS from a plain socket, a few seconds at most.

Over UDP a REGISTER to an address where nothing listens gets no answer; pjsip reports it only
when SIP's transaction timer gives up (32 s). When a REGISTER has had no answer for a few
seconds, the account asks this probe, on a thread of its own (never the pump's): any SIP
response means the registrar is there (and just slow); an ICMP "port unreachable" or silence
means the configured address is wrong or unreachable, which the user hears within seconds.
"""

from __future__ import annotations

import secrets
import socket

from assist.core.hosts import split_host_port
from sip.uri import check_uri

SIP_PORT = 5060
RETRANSMIT_S = (0.5, 1.0, 1.5)  # waits after each send: 3 s in all


def host_port(uri: str) -> tuple[str, int]:
    """The host and port a SIP URI points at (5060 when it names none)."""
    check_uri(uri)
    host, port = split_host_port(uri.partition(":")[2].rpartition("@")[2].split(";")[0])
    return host, port or SIP_PORT


def probe_worthy(uri: str) -> bool:
    """The probe asks the host and port pjsip would use only when the URI fixes them: an IP
    address or an explicit port (a bare domain goes through DNS SRV, which the probe skips)."""
    host, _ = host_port(uri)
    rest = uri.partition(":")[2].rpartition("@")[2].split(";")[0]
    explicit_port = rest.rpartition("]")[2].count(":") == 1 if rest.startswith("[") else ":" in rest
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return explicit_port


def _options(target: str, local: tuple[str, int]) -> bytes:
    ip, port = local
    host = f"[{ip}]" if ":" in ip else ip
    tag = secrets.token_hex(6)
    return (
        f"OPTIONS {target} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag={tag}\r\n"
        f"To: <{target}>\r\n"
        f"Call-ID: {tag}@{host}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "User-Agent: softphone-assist\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def probe_udp(uri: str) -> str | None:
    """None if a SIP server answers at `uri` over UDP; otherwise why not, in a few words."""
    host, port = host_port(uri)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        return f"cannot resolve {host} ({exc.strerror or exc})"
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect(addr)  # a connected socket hears ICMP errors (port unreachable)
            msg = _options(
                f"sip:{host}:{port}" if ":" not in host else f"sip:[{host}]:{port}",
                s.getsockname()[:2],
            )
            for wait in RETRANSMIT_S:
                s.send(msg)
                s.settimeout(wait)
                try:
                    reply = s.recv(4096)
                except TimeoutError:
                    continue
                if reply.startswith(b"SIP/2.0 "):
                    return None
        except ConnectionRefusedError:
            return f"nothing listens on {host} port {port} (udp)"
        except OSError as exc:
            return f"{host} port {port}: {exc.strerror or exc}"
    return f"no answer from {host} port {port} (udp) within {sum(RETRANSMIT_S):g} s"
