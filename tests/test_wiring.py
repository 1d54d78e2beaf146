"""A command's outputs are opened in one place and closed in order, also when start-up fails
part way: an overlay port already in use must not leave the fleet's heartbeat in Redis for
its TTL (consoles would show a plugin that is not there) nor the events file unflushed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_helpers import RedisServer

from fleet.keys import Keys

ROOT = Path(__file__).resolve().parents[1]
TTL_S = 600  # long: a heartbeat left behind would still be there when the test looks


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _config(path: Path, srv: RedisServer, agent: str, overlay_port: int, sip: str = "") -> Path:
    url = f"redis://:{srv.admin_password}@127.0.0.1:{srv.port}/0"
    path.write_text(
        sip + f'[fleet]\nurl = "{url}"\nagent = "{agent}"\nheartbeat_s = 0.1\n'
        f"heartbeat_ttl_s = {TTL_S}\n[overlay]\nport = {overlay_port}\n"
    )
    return path


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "assist", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


def _heartbeat_gone(srv: RedisServer, agent: str) -> bool:
    r = redis.Redis(port=srv.port, password=srv.admin_password)
    try:
        return not r.exists(Keys("assist").heartbeat(agent))
    finally:
        r.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("command", ["demo", "sip"])
def test_a_port_in_use_leaves_no_heartbeat_and_closes_the_events_file(
    command: str, redis_server: RedisServer, busy_port: int, tmp_path: Path
) -> None:
    agent = f"leak-{command}"
    sip = '[sip]\nuri = "sip:agent@127.0.0.1"\nbind = "127.0.0.1"\nport = 0\n'
    cfg = _config(
        tmp_path / "assist.toml", redis_server, agent, busy_port, sip if command == "sip" else ""
    )
    events = tmp_path / "events.jsonl"
    extra = ["--fast", "--asr", "off"] if command == "demo" else ["--asr", "off"]
    started = time.monotonic()
    r = _run(
        command, "--config", str(cfg), "--events", str(events), "--store",
        str(tmp_path / "calls.sqlite3"), *extra,
    )  # fmt: skip
    assert r.returncode != 0
    assert f"port {busy_port} on 127.0.0.1 is already in use" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "fleet: publishing as agent" in r.stderr, r.stderr  # the fleet had started
    assert _heartbeat_gone(redis_server, agent), "the heartbeat outlived the command"
    assert events.exists()
    assert time.monotonic() - started < 30
