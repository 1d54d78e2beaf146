"""Hand-written SIPREC INVITEs over UDP, for what a library client would never send: a broken
multipart body, bad metadata, three streams, no SDP. `send_invite` returns the responses (status
line and headers) until the final one, and ACKs a final error as the RFC asks, so the server's
transaction ends. `record` goes on where a session is answered: ACK, RTP (G.711 mu-law) to each
answered stream, BYE; many at once make a burst. Loopback only.
"""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections.abc import Callable

import numpy as np

SDP_STREAM = "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=label:{label}\r\n"

METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="raw-session"/>
  <participant participant_id="c"><nameID aor="sip:+15550001111@carrier.example"/></participant>
  <participant participant_id="a"><nameID aor="sip:1001@pbx.example.com"/></participant>
  <stream stream_id="s1" session_id="raw-session"><label>1</label></stream>
  <stream stream_id="s2" session_id="raw-session"><label>2</label></stream>
  <participantstreamassoc participant_id="c"><send>s1</send></participantstreamassoc>
  <participantstreamassoc participant_id="a"><send>s2</send></participantstreamassoc>
</recording>
"""


def sdp(labels: list[str], base_port: int = 40000) -> str:
    head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    return head + "".join(
        SDP_STREAM.format(port=base_port + 2 * i, label=lab) for i, lab in enumerate(labels)
    )


def multipart(parts: list[tuple[str, str]], boundary: str = "srs-boundary") -> tuple[str, str]:
    body = "".join(f"--{boundary}\r\nContent-Type: {t}\r\n\r\n{b}\r\n" for t, b in parts)
    return f"multipart/mixed;boundary={boundary}", body + f"--{boundary}--\r\n"


def send_invite(
    port: int, content_type: str, body: str, *, timeout: float = 10.0
) -> list[tuple[int, dict[str, str]]]:
    """One INVITE to 127.0.0.1:`port`; the responses (code, headers) up to the final one.
    A session answered 200 is left unacknowledged (the server gives up on it): see `record`."""
    return record(port, content_type, body, timeout=timeout, audio=None)


def record(
    port: int,
    content_type: str,
    body: str,
    *,
    timeout: float = 10.0,
    audio: list[np.ndarray] | None = None,
    on_final: Callable[[int], None] = lambda code: None,
) -> list[tuple[int, dict[str, str]]]:
    """One INVITE; if answered 200 and `audio` is given (one float array at 8 kHz per stream;
    none: hang up at once), ACK, send each array as RTP to its answered stream in real time,
    then BYE (its response appended). The responses (code, headers), as `send_invite`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        me = s.getsockname()[1]
        call_id = uuid.uuid4().hex
        tag = uuid.uuid4().hex[:8]
        data = body.encode()

        def common() -> str:
            branch = "z9hG4bK" + uuid.uuid4().hex[:16]
            return (
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
                f"From: <sip:src@127.0.0.1:{me}>;tag={tag}\r\n"
                f"Call-ID: {call_id}\r\n"
            )

        invite_via = common()
        msg = (
            f"INVITE sip:srs@127.0.0.1:{port} SIP/2.0\r\n{invite_via}"
            f"To: <sip:srs@127.0.0.1:{port}>\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:src@127.0.0.1:{me}>;+sip.src\r\nMax-Forwards: 70\r\n"
            f"Require: siprec\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        s.sendto(msg, ("127.0.0.1", port))
        out: list[tuple[int, dict[str, str]]] = []
        answer = _final(s, out, timeout, "INVITE")
        code, headers = out[-1]
        on_final(code)
        to = headers.get("to", "")
        if code >= 300:  # the same transaction: the INVITE's own Via branch
            ack = (
                f"ACK sip:srs@127.0.0.1:{port} SIP/2.0\r\n{invite_via}"
                f"To: {to}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            s.sendto(ack.encode(), ("127.0.0.1", port))
            return out
        if code != 200 or audio is None:
            return out

        def request(method: str, cseq: int) -> bytes:
            return (
                f"{method} sip:srs@127.0.0.1:{port} SIP/2.0\r\n{common()}"
                f"To: {to}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()

        s.sendto(request("ACK", 1), ("127.0.0.1", port))
        if audio:
            send_rtp(_audio_ports(answer), audio)
        s.sendto(request("BYE", 2), ("127.0.0.1", port))
        _final(s, out, timeout, "BYE")
        return out


def _final(
    s: socket.socket, out: list[tuple[int, dict[str, str]]], timeout: float, method: str
) -> str:
    """Read responses to `method` until a final one (appended to `out`); its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw, _ = s.recvfrom(65536)
        except TimeoutError:
            continue
        text = raw.decode("utf-8", "replace")
        if text.startswith("SIP/2.0") and method in text.split("\r\n\r\n", 1)[0]:
            code, headers = _parse(text)
            if headers.get("cseq", "").endswith(method) and code >= 100:
                if code >= 200:
                    out.append((code, headers))
                    return text.split("\r\n\r\n", 1)[-1]
                out.append((code, headers))
    raise AssertionError(f"no final response to {method} within {timeout} s; got {out}")


def _audio_ports(sdp_text: str) -> list[int]:
    return [int(line.split()[1]) for line in sdp_text.splitlines() if line.startswith("m=audio")]


def ulaw(x: np.ndarray) -> bytes:
    """G.711 mu-law of float samples in [-1, 1]."""
    v = np.clip(x, -1.0, 1.0) * 32635.0
    sign = np.where(v < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(v).astype(np.int32) + 0x84, 0x7FFF)
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    mant = (mag >> (exp + 3)) & 0x0F
    return bytes((~(sign | (exp << 4) | mant) & 0xFF).astype(np.uint8))


def send_rtp(ports: list[int], audio: list[np.ndarray]) -> None:
    """Each array (8 kHz) as PCMU RTP to its port on 127.0.0.1, 20 ms per packet, in real time."""
    streams = [ulaw(a) for a in audio[: len(ports)]]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic()
        for n in range(max(len(b) for b in streams) // 160):
            for i, (port, b) in enumerate(zip(ports, streams, strict=False)):
                head = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160, 0x5EC0 + i)
                s.sendto(head + b[n * 160 : (n + 1) * 160], ("127.0.0.1", port))
            time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))


def _parse(text: str) -> tuple[int, dict[str, str]]:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    code = int(head[0].split()[1])
    headers: dict[str, str] = {"status": head[0]}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return code, headers
