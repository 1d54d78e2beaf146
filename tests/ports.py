"""Free loopback ports from the OS, for every test that listens (never a hard-coded number:
other tests, and other jobs on the machine, run at the same time)."""

from __future__ import annotations

import socket

RTP_PAIRS = 8  # calls a test's pjsua2 process may have at once (each takes an RTP+RTCP pair)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing on 127.0.0.1 holds right now (TCP by default)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def free_rtp_base(pairs: int = RTP_PAIRS) -> int:
    """An even port where `pairs` RTP/RTCP pairs upwards are all free, for `[sip] rtp_port`:
    each pjsua2 process of a test gets its own range (a shared one garbled the audio, and
    fixed bases collided across test files)."""
    for _ in range(200):
        base = free_udp_port() & ~1
        if base + 2 * pairs > 65000:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + 2 * pairs):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free range of RTP ports on 127.0.0.1")


def bound(port: int, kind: str = "udp") -> bool:
    """Whether some process has a `kind` ("udp" or "tcp") socket bound to `port` (any
    address), from /proc/net: a peer that started is ready once this is true."""
    from pathlib import Path

    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]  # ADDR:PORT, the port in hex
            if int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_bound(port: int, kind: str = "udp", timeout: float = 10.0) -> None:
    """Until a process has bound `port` (a peer's start-up, waited on rather than slept)."""
    import time

    deadline = time.monotonic() + timeout
    while not bound(port, kind):
        if time.monotonic() >= deadline:
            raise AssertionError(f"nothing bound {kind} port {port} within {timeout} s")
        time.sleep(0.02)
