"""Hand-written SIPREC INVITEs over UDP, for what a library client would never send: a broken
multipart body, bad metadata, three streams, no SDP. `send_invite` returns the responses (status
line and headers) until the final one, and ACKs a final error as the RFC asks, so the server's
transaction ends. Loopback only.
"""

from __future__ import annotations

import socket
import time
import uuid

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
    """One INVITE to 127.0.0.1:`port`; the responses (code, headers) up to the final one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        me = s.getsockname()[1]
        call_id = uuid.uuid4().hex
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        tag = uuid.uuid4().hex[:8]
        data = body.encode()
        common = (
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
            f"From: <sip:src@127.0.0.1:{me}>;tag={tag}\r\n"
            f"Call-ID: {call_id}\r\n"
        )
        msg = (
            f"INVITE sip:srs@127.0.0.1:{port} SIP/2.0\r\n{common}"
            f"To: <sip:srs@127.0.0.1:{port}>\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:src@127.0.0.1:{me}>;+sip.src\r\nMax-Forwards: 70\r\n"
            f"Require: siprec\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        s.sendto(msg, ("127.0.0.1", port))
        out: list[tuple[int, dict[str, str]]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw, _ = s.recvfrom(65536)
            except TimeoutError:
                continue
            code, headers = _parse(raw.decode("utf-8", "replace"))
            out.append((code, headers))
            if code >= 200:
                if code >= 300:
                    ack = (
                        f"ACK sip:srs@127.0.0.1:{port} SIP/2.0\r\n{common}"
                        f"To: {headers.get('to', '')}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
                        "Content-Length: 0\r\n\r\n"
                    )
                    s.sendto(ack.encode(), ("127.0.0.1", port))
                return out
        raise AssertionError(f"no final response within {timeout} s; got {out}")


def _parse(text: str) -> tuple[int, dict[str, str]]:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    code = int(head[0].split()[1])
    headers: dict[str, str] = {"status": head[0]}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return code, headers
