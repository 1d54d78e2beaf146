"""TLS to the floor's Redis: a redis-server listening on TLS only (certificates made with
openssl at test time), a plugin and the console connecting with `rediss://` and `tls_ca`;
a mistaken URL or CA is one clear line and exit 2, not a console retrying forever."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from fleet.acl import console_rules, plugin_rules, plugin_user, setuser
from overlay.hub import COALESCIBLE
from tests.processes import end, spawn
from tests.redis_helpers import RedisServer

ROOT = Path(__file__).resolve().parents[1]
SUP_TOKEN = "floor-supervisor-token-0123456789"


def env(tmp: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["ASSIST_DB"] = str(tmp / "calls.sqlite3")
    return e


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis-tls"), tls=True).start() as server:
        server.acl(
            [
                setuser("console", console_rules("assist", "console-pw-0123")),
                setuser(plugin_user("tina"), plugin_rules("assist", "tina", "tina-pw-0123")),
            ]
        )
        yield server


def fleet(url: str, user: str, password: str, ca: Path | None) -> str:
    table = f'[fleet]\nurl = "{url}"\nusername = "{user}"\npassword = "{password}"\n'
    return table + (f'tls_ca = "{ca}"\n' if ca is not None else "")


@pytest.mark.timeout(120)
def test_plugin_and_console_talk_to_redis_over_tls(tls_redis: RedisServer, tmp_path: Path) -> None:
    console_cfg = tmp_path / "console.toml"
    console_cfg.write_text(
        fleet(tls_redis.url, "console", "console-pw-0123", tls_redis.ca)
        + f'[overlay]\nport = 0\n[[overlay.supervisor]]\nname = "sue"\ntoken = "{SUP_TOKEN}"\n'
    )
    console = spawn(
        [sys.executable, "-m", "assist", "console", "--config", str(console_cfg)],
        stderr=subprocess.PIPE,
        text=True,
        env=env(tmp_path),
    )
    stack = contextlib.ExitStack()
    try:
        assert console.stderr is not None
        lines = [console.stderr.readline() for _ in range(2)]
        assert "entries read from the floor" in lines[0], lines
        port = lines[1].split("http://127.0.0.1:")[1].split("/")[0]
        ws = stack.enter_context(
            connect(f"ws://127.0.0.1:{port}/ws?token={SUP_TOKEN}", max_size=2**24)
        )
        assert json.loads(ws.recv(10))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe", "call_id": "call-tls", "since": {}}))

        plugin_cfg = tmp_path / "tina.toml"
        plugin_cfg.write_text(
            fleet(tls_redis.url, plugin_user("tina"), "tina-pw-0123", tls_redis.ca)
            + 'agent = "tina"\n'
        )
        jsonl = tmp_path / "tina.jsonl"
        plugin = subprocess.run(
            [sys.executable, "-m", "assist", "demo", "--no-server", "--asr", "off"]
            + ["--speed", "4", "--config", str(plugin_cfg), "--call-id", "call-tls"]
            + ["--events", str(jsonl)],
            capture_output=True,
            text=True,
            env=env(tmp_path),
            timeout=90,
        )
        assert plugin.returncode == 0, plugin.stderr
        assert "publishing as agent 'tina' to rediss://127.0.0.1:" in plugin.stderr
        assert "unreachable" not in plugin.stderr, plugin.stderr

        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (got and got[-1]["type"] == "call_ended"):
            m = json.loads(ws.recv(max(0.1, deadline - time.monotonic())))
            if m.get("call_id") == "call-tls" and "seq" in m:
                got.append(m)
    finally:
        stack.close()
        end(console, 20)
    sent = [json.loads(line) for line in jsonl.read_text().splitlines()]
    # every event over TLS, once and in order; only state updates (meters, checklist, partial
    # words) may coalesce on the way, as the hub does for any client that falls behind
    assert [e for e in got if not _coalescible(e)] == [e for e in sent if not _coalescible(e)]
    later = iter(sent)
    assert all(any(e == s for s in later) for e in got), "an event not sent, or out of order"
    assert got[-1] == sent[-1]
    # the server has no plain port at all (port 0): what reached it came over TLS
    assert tls_redis.admin().config_get("port")["port"] == "0"


def _coalescible(e: dict[str, Any]) -> bool:
    kind = e["type"]
    return kind in COALESCIBLE or (kind == "transcript" and e["data"].get("kind") == "partial")


def run_assist(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assist", *args],
        capture_output=True,
        text=True,
        env=env(tmp),
        timeout=60,
    )


@pytest.mark.parametrize("command", ["console", "demo"])
def test_plain_url_to_a_tls_only_redis_is_one_line_and_exit_2(
    tls_redis: RedisServer, tmp_path: Path, command: str
) -> None:
    plain = tls_redis.url.replace("rediss://", "redis://")
    cfg = tmp_path / "plain.toml"
    cfg.write_text(fleet(plain, "console", "console-pw-0123", None))
    extra = ["--no-server", "--asr", "off", "--speed", "8"] if command == "demo" else []
    r = run_assist(tmp_path, command, "--config", str(cfg), *extra)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1] == (
        f"assist: error: {cfg}: fleet.url: 127.0.0.1:{tls_redis.port} accepts TLS only: use "
        f"rediss://127.0.0.1:{tls_redis.port}/… (and fleet.tls_ca for a private CA)"
    ), r.stderr
    assert "Traceback" not in r.stderr


def test_an_untrusted_certificate_is_one_line_and_exit_2(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    cfg = tmp_path / "no-ca.toml"
    cfg.write_text(fleet(tls_redis.url, "console", "console-pw-0123", None))  # system CAs only
    r = run_assist(tmp_path, "console", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert "fleet.tls_ca: the certificate of 127.0.0.1:" in r.stderr
    assert "is not trusted" in r.stderr and "Traceback" not in r.stderr


def test_a_wrong_password_is_one_line_and_exit_2(tls_redis: RedisServer, tmp_path: Path) -> None:
    cfg = tmp_path / "bad-pw.toml"
    cfg.write_text(fleet(tls_redis.url, "console", "not-the-password", tls_redis.ca))
    r = run_assist(tmp_path, "console", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert f"{cfg}: fleet.password: Redis at 127.0.0.1:" in r.stderr
    assert "refused the login" in r.stderr
