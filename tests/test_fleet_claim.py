"""One floor name, one process (fleet/claim.py), against a real redis-server.

- Two starts in the same instant with one name (threads released by a barrier into
  `start_fleet`, as two processes started together): exactly one gets it, the other is refused
  with the holder named; a clean exit frees the name at once.
- The heartbeat renews only its own claim: a name another process has taken stops the
  publisher (said once), and its exit does not delete the other's key.
- A plugin ACL user made before `+eval +get`: the heartbeat falls back to a plain SET, says so.
- `assist sip` and `assist demo` with the name of a live `assist sip`: exit 2, one line.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from assist.commands.fleet_link import start_fleet, stop_fleet
from assist.core.errors import ConfigError
from assist.runtime.control import CallRegistry
from fleet.acl import PLUGIN_COMMANDS, plugin_rules, plugin_user, setuser
from fleet.claim import beat
from fleet.publisher import FleetPublisher
from tests.redis_helpers import RedisServer
from tests.sip_helpers import Proc, assist, plugin_config, tone, write_wav
from tests.waits import wait_until

TTL_S = 2.0
KEY = "assist:{twin}:hb"


def fleet_table(srv: RedisServer, agent: str = "twin", user: str = "default", pw: str = "") -> str:
    return (
        f'[fleet]\nurl = "{srv.url}"\nusername = "{user}"\n'
        f'password = "{pw or srv.admin_password}"\nagent = "{agent}"\n'
        f"heartbeat_s = 0.5\nheartbeat_ttl_s = {TTL_S}\n"
    )


def test_two_starts_in_the_same_instant_one_gets_the_name(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "srs.toml"
    cfg.write_text(fleet_table(redis_server))
    admin = redis_server.admin()
    for _ in range(3):
        won, lost = _start_together(cfg)
        try:
            assert len(won) == 1 and len(lost) == 1, (won, lost)
            held = json.loads(admin.get(KEY) or "{}")
            assert held["owner"] == won[0].owner
            assert re.fullmatch(
                rf"{re.escape(str(cfg))}: fleet\.agent: 'twin' is already publishing on this "
                r"floor \(its heartbeat is live: pid \d+ on \S+\); give each recording server "
                r"its own name",
                lost[0],
            ), lost[0]
        finally:
            for pub in won:
                stop_fleet(pub)
        assert not admin.exists(KEY)  # a clean exit frees the name at once
        # the refused one waited for the key to expire (a crashed holder's would have), said so
        err = capsys.readouterr().err
        assert err.count("'twin' has a live heartbeat on the floor; waiting up to 2.5 s") == 1


def _start_together(cfg: Path) -> tuple[list[FleetPublisher], list[str]]:
    """`start_fleet` in two threads let go by one barrier: (publishers, refusals)."""
    gate = threading.Barrier(2)
    won: list[FleetPublisher] = []
    lost: list[str] = []

    def start() -> None:
        gate.wait()
        try:
            pub = start_fleet(str(cfg), agent="x", registry=CallRegistry(), control=None,
                              server=True)  # fmt: skip
            assert pub is not None
            won.append(pub)
        except ConfigError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won, lost


def test_the_heartbeat_renews_only_its_own_claim(redis_server: RedisServer, tmp_path: Path) -> None:
    cfg = tmp_path / "srs.toml"
    cfg.write_text(fleet_table(redis_server))
    admin = redis_server.admin()
    pub = start_fleet(str(cfg), agent="x", registry=CallRegistry(), control=None, server=True)
    assert pub is not None
    said: list[str] = []
    pub.failed = said.append
    try:
        time.sleep(TTL_S + 0.5)
        assert json.loads(admin.get(KEY) or "{}")["owner"] == pub.owner  # renewed past its TTL
        other = beat("twin", "another-process-owner-id")  # took the name while we were away
        admin.set(KEY, other, px=int(TTL_S * 1000))
        wait_until(lambda: said and not pub.alive)  # it says so, then its task ends
        assert pub.died is not None
        assert "'twin' is held on the floor by another process" in said[0], said
        assert admin.get(KEY) == other  # not overwritten ...
    finally:
        stop_fleet(pub)
    assert admin.get(KEY) == other  # ... nor deleted at our exit
    admin.delete(KEY)


def test_an_acl_user_without_eval_falls_back_to_a_plain_heartbeat(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = [r for r in plugin_rules("assist", "old", "old-pw-0123") if r not in ("+eval", "+get")]
    assert len(old) == len(plugin_rules("assist", "old", "old-pw-0123")) - 2
    assert "+eval" in PLUGIN_COMMANDS
    redis_server.acl([setuser(plugin_user("old"), old)])
    cfg = tmp_path / "old.toml"
    cfg.write_text(fleet_table(redis_server, "old", plugin_user("old"), "old-pw-0123"))
    admin = redis_server.admin()
    pub = start_fleet(str(cfg), agent="x", registry=CallRegistry(), control=None, server=True)
    assert pub is not None
    try:
        time.sleep(TTL_S + 0.5)
        assert admin.exists("assist:{old}:hb")  # renewed all the same
        assert pub.alive
    finally:
        stop_fleet(pub)
    said = capsys.readouterr().err
    assert said.count("Redis refused EVAL (ACL)") == 1, said  # said once, not every beat
    assert "heartbeat refused" not in said and "stopped" not in said, said
    assert not admin.exists("assist:{old}:hb")


@pytest.mark.timeout(120)
def test_a_second_plugin_under_a_live_plugins_name_is_refused(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    overlay = (
        '[overlay]\nport = 0\n[[overlay.agent]]\nname = "carol"\ntoken = "carol-token-0123456789"\n'
    )
    table = fleet_table(redis_server, "carol")
    first = plugin_config(tmp_path / "first.toml", overlay=overlay + table)
    second = plugin_config(tmp_path / "second.toml", overlay=overlay + table)  # a second desk
    wav = write_wav(tmp_path / "call.wav", tone(300.0, 3))
    sip = assist("sip", "--config", str(first), "--no-server", "--no-store", "--asr", "off")
    others: list[Proc] = []
    try:
        sip.wait_for(r"fleet: publishing as agent 'carol'", timeout=60)
        others.append(
            assist("sip", "--config", str(second), "--no-server", "--no-store", "--asr", "off")
        )
        others.append(
            assist("demo", "--agent", str(wav), "--customer", str(wav), "--config",
                   str(second), "--no-server", "--no-store", "--asr", "off", "--fast")
        )  # fmt: skip
        codes = [p.p.wait(60) for p in others]
        assert sip.p.poll() is None  # the first runs on, untouched
        assert sip.stop() == 0, sip.text
    finally:
        for p in (sip, *others):
            p.kill()
    for p, code in zip(others, codes, strict=True):
        assert code == 2, p.text
        assert "Traceback" not in p.text, p.text
        last = p.text.strip().splitlines()[-1]
        assert re.fullmatch(
            rf"assist: error: {re.escape(str(second))}: fleet\.agent: 'carol' is already "
            r"publishing on this floor \(its heartbeat is live: pid \d+ on \S+\); give each "
            r"agent's plugin its own name",
            last,
        ), p.text
    assert not redis_server.admin().exists("assist:{carol}:hb")  # freed at the first's exit
