"""The plugin's publisher against a real redis-server: bounded and non-blocking when Redis is
away, no duplicates when a batch is sent twice, the [fleet] table checked key by key, and bad
input to the commands a one-line error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis_helpers import RedisServer, free_port
from waits import wait_until

from assist.core.errors import ConfigError
from assist.core.events import CallStarted, Event, Speech
from fleet.config import FleetConfig
from fleet.connect import open_redis
from fleet.keys import Keys
from fleet.publisher import FleetPublisher

ROOT = Path(__file__).resolve().parents[1]


def admin_url(srv: RedisServer) -> str:
    return f"redis://:{srv.admin_password}@127.0.0.1:{srv.port}/0"


def events(call_id: str, n: int) -> list[Event]:
    out = [Event(call_id, 0, 0.0, CallStarted(lang="en", source="demo", sample_rate=16000))]
    for i in range(1, n):
        out.append(Event(call_id, i, i * 0.1, Speech(speaker="agent", state="start", at=i * 0.1)))
    return out


def test_redis_away_the_sink_never_blocks_and_the_backlog_is_bounded() -> None:
    config = FleetConfig(url=f"redis://127.0.0.1:{free_port()}/0", backlog=100, agent="a1")
    pub = FleetPublisher(config, agent="a1").start()
    sink = pub.sink()
    t0 = time.monotonic()
    for ev in events("c-away", 150):
        sink.send(ev)
    took = time.monotonic() - t0
    deadline = time.monotonic() + 10
    while not pub.degraded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pub.degraded  # noticed, and told (fleet_degraded to live calls, a log line)
    assert pub.dropped == 50 and pub.backlog == 100
    assert pub.close(timeout=0.5) == 100  # what could not be sent is counted, not waited on
    print(f"150 sends with Redis away: {took * 1e3:.2f} ms")


def test_a_batch_sent_twice_is_stored_once(redis_server: RedisServer) -> None:
    config = FleetConfig(url=admin_url(redis_server), agent="a2")
    pub = FleetPublisher(config, agent="a2")  # not started: its loop is driven here
    for ev in events("c-twice", 30):
        pub.offer(ev)
    pub._take()
    batch = list(pub._ready_records)

    async def write_twice() -> None:
        r = open_redis(config, name="test")
        try:
            await pub._write(r, batch)  # a pipeline that reached Redis…
            await pub._write(r, batch)  # …sent again after a reconnect
        finally:
            await r.aclose()

    asyncio.run(write_twice())
    assert pub.published == 30 and pub.duplicates == 30
    admin = redis_server.admin()
    stored = admin.xrange(Keys("assist").call("a2", "c-twice"))
    assert [e[1]["e"] for e in stored] == [ev.to_json() for ev in events("c-twice", 30)]
    floor = [f for _, f in admin.xrange("assist:floor") if f["call_id"] == "c-twice"]
    assert [f["kind"] for f in floor] == ["started", "started"]  # the console drops the copy
    assert {f["seq"] for f in floor} == {"0"}


def test_fleet_table_is_checked_key_by_key(tmp_path: Path) -> None:
    ok = FleetConfig.from_table({"url": "rediss://r.example.com:6380/0"}, env={})
    assert ok.heartbeat_ttl_s == 6.0
    secret = FleetConfig.from_table(
        {"url": "redis://r:6379", "username": "u"}, env={"ASSIST_FLEET_PASSWORD": "s3cret"}
    )
    assert secret.password == "s3cret" and "s3cret" not in repr(secret)
    bad = {
        "url": ({"url": "http://r"}, "fleet.url"),
        "port": ({"url": "redis://r:99999"}, "fleet.url"),
        "user": ({"url": "redis://r", "password": "p"}, "fleet.username"),
        "ttl": ({"url": "redis://r", "heartbeat_s": 2, "heartbeat_ttl_s": 3}, "heartbeat_ttl_s"),
        "tls": ({"url": "redis://r", "tls_ca": "x.pem"}, "fleet.tls_ca"),
        "agent": ({"url": "redis://r", "agent": "a*b"}, "fleet.agent"),
        "unknown": ({"url": "redis://r", "colour": "red"}, "fleet.colour"),
        "type": ({"url": "redis://r", "backlog": "many"}, "fleet.backlog"),
        "missing": ({}, "fleet.url"),
    }
    for name, (table, where) in bad.items():
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            FleetConfig.from_table(table, env={})
        assert name


def run_assist(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "assist", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        ("console", "[overlay]\nport = 0\n", "fleet: missing [fleet] table"),
        ("console", '[fleet]\nurl = "http://x"\n', "fleet.url"),
        ("console", '[fleet]\nurl = "redis://x"\n[extra]\n', "extra: unknown table"),
        ("demo", '[fleet]\nurl = "redis://x"\nbacklog = 1\n', "fleet.backlog"),
        (
            "demo",
            '[fleet]\nurl = "redis://x"\nagent = "bob"\n[[overlay.agent]]\nname = "alice"\n'
            'token = "alice-token-0123456789"\n',
            "fleet.agent: 'bob' differs from the overlay agent 'alice'",
        ),
    ],
)
def test_bad_fleet_config_is_one_line_and_exit_2(
    tmp_path: Path, command: str, text: str, message: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    extra = ["--no-server", "--asr", "off"] if command == "demo" else []
    r = run_assist(command, "--config", str(cfg), *extra)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr


def test_a_heartbeat_that_dies_stops_the_publisher_and_says_so(
    redis_server: RedisServer,
) -> None:
    """Its failure used to vanish in gather(return_exceptions=True): consoles marked the
    plugin's live calls lost while the plugin believed it was on the floor."""
    from assist.runtime.control import CallRegistry

    class BrokenRegistry(CallRegistry):
        def ids(self) -> list[str]:
            raise RuntimeError("registry bug")

    config = FleetConfig(url=admin_url(redis_server), agent="a-dies")
    pub = FleetPublisher(config, agent="a-dies", registry=BrokenRegistry())
    said: list[str] = []
    pub.failed = said.append
    pub.start()
    try:
        wait_until(lambda: said)
        wait_until(lambda: not pub.alive)
    finally:
        pub.close(timeout=1)
    assert said == ["fleet: the heartbeat task stopped (RuntimeError('registry bug'))"]
    assert isinstance(pub.died, RuntimeError)


def test_a_publisher_that_cannot_start_is_an_error_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """start() used to wait 10 s for a loop that had died, then return as if running."""
    from assist.core.errors import ServiceError

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("bad client options")

    monkeypatch.setattr("fleet.publisher.open_redis", broken)
    pub = FleetPublisher(FleetConfig(url="redis://127.0.0.1:1/0", agent="a"), agent="a")
    t0 = time.monotonic()
    with pytest.raises(ServiceError, match="cannot start the publisher: ValueError"):
        pub.start()
    assert time.monotonic() - t0 < 5


def test_reconnects_back_off_with_jitter_so_plugins_do_not_retry_in_lockstep() -> None:
    """Two plugins that lost Redis at the same moment: their retries drift apart."""
    from assist.runtime.backoff import Backoff
    from fleet.publisher import RETRY_MAX_S, RETRY_MIN_S

    class Recorded(Backoff):
        def __init__(self) -> None:
            super().__init__(base=RETRY_MIN_S, cap=RETRY_MAX_S)
            self.delays: list[float] = []

        def next(self) -> float:
            self.delays.append(super().next())
            return self.delays[-1]

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    pubs = [FleetPublisher(FleetConfig(url=url, agent=f"j{i}"), agent=f"j{i}") for i in (1, 2)]
    for pub in pubs:
        pub.backoff = Recorded()
        pub.start()
        for ev in events(f"c-{pub.agent}", 3):
            pub.offer(ev)
    try:
        wait_until(lambda: all(len(p.backoff.delays) >= 4 for p in pubs), timeout=20)
    finally:
        for pub in pubs:
            pub.close(timeout=0.2)
    one, two = (p.backoff.delays[:4] for p in pubs)  # type: ignore[attr-defined]
    nominal = [0.2, 0.4, 0.8, 1.6]
    for delays in (one, two):
        assert all(d / 2 <= got <= d for got, d in zip(delays, nominal, strict=True)), delays
    assert one != two
