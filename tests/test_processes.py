"""Processes the tests start are ended whatever the outcome (tests/processes.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import end, end_all, spawn
from tests.redis_helpers import RedisServer


def test_a_process_left_running_is_ended_at_the_end() -> None:
    proc = spawn([sys.executable, "-c", "import time; time.sleep(600)"])
    assert proc.poll() is None
    left = end_all([proc])  # what the session's end does with every one still running
    assert proc.poll() is not None and len(left) == 1 and "time.sleep(600)" in left[0]


def test_end_kills_what_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(600)"
    )
    proc = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "1\n"
    t0 = time.monotonic()
    assert end(proc, timeout=0.5) == -9
    assert time.monotonic() - t0 < 5


def test_a_redis_server_that_cannot_start_is_not_left_running(tmp_path: Path) -> None:
    """Its port taken: start() fails, and no redis-server of it is left behind."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        srv = RedisServer(tmp_path / "redis", port=port)
        with pytest.raises(RuntimeError, match="did not start"):
            srv.start()
    assert srv.proc is None
    mine = [pid for pid in os.listdir("/proc") if pid.isdigit() and str(tmp_path) in _cmdline(pid)]
    assert mine == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
