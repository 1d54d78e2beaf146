"""The floor on a Redis Cluster: three primaries of Debian's redis-server on loopback (made with
`redis-cli --cluster create`), plugins whose agents hash to every node, and one console.

The console reads per-slot batches (a cluster refuses one XREAD across slots); what each plugin
wrote to its JSONL is compared with what the console holds, event for event, and a supervisor
command travels to a plugin and back through its node. Every process logs in as its own ACL
user, set on every node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fleet.acl import console_rules, plugin_rules, plugin_user, setuser
from fleet.console import slot_batches
from fleet.keys import Keys
from tests.fleet_helpers import SUP_TOKEN, Supervisor, console_history, env, read_jsonl
from tests.processes import end, spawn
from tests.redis_helpers import RedisClusterServers, free_port

AGENTS = [f"agent-c{i}" for i in range(6)]  # their hash tags fall on nodes 0, 1, 2, 2, 0, 1
TIMING = "heartbeat_s = 0.5\nheartbeat_ttl_s = 2.0\ncluster = true\n"


def test_slot_batches_keep_an_agents_keys_together_and_split_the_rest() -> None:
    keys = Keys("assist")
    streams = {
        keys.floor: "0",
        keys.call("alice", "c1"): "0",
        keys.call("alice", "c2"): "5-1",
        keys.call("bob", "c3"): "0",
    }
    batches = slot_batches(streams)
    assert sorted(map(sorted, batches)) == sorted(
        [[keys.floor], sorted([keys.call("alice", "c1"), keys.call("alice", "c2")])]
        + [[keys.call("bob", "c3")]]
    )
    assert {k: v for b in batches for k, v in b.items()} == streams  # nothing lost, ids kept


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    c = RedisClusterServers(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield c
    finally:
        c.stop()


def held_by(node: redis.Redis, key: str) -> bool:
    """Whether this node holds `key` (another node's slot: it answers MOVED)."""
    try:
        return bool(node.exists(key))
    except redis.exceptions.MovedError:
        return False


def fleet(url: str, user: str, password: str) -> str:
    return f'[fleet]\nurl = "{url}"\nusername = "{user}"\npassword = "{password}"\n' + TIMING


@pytest.mark.timeout(240)
def test_a_floor_on_a_three_node_cluster_loses_and_duplicates_nothing(
    cluster: RedisClusterServers, tmp_path: Path
) -> None:
    keys = Keys("assist")
    nodes = {a: cluster.node_of(keys.heartbeat(a)) for a in AGENTS}
    assert set(nodes.values()) == {0, 1, 2}, nodes  # every node serves some agents
    cluster.acl([setuser("console", console_rules("assist", "console-pw-0123"))])
    cluster.acl(
        [setuser(plugin_user(a), plugin_rules("assist", a, f"{a}-pw-0123")) for a in AGENTS]
    )
    port = free_port()
    cfg = tmp_path / "console.toml"
    cfg.write_text(
        fleet(cluster.url, "console", "console-pw-0123")
        + f'[overlay]\nport = {port}\n[[overlay.supervisor]]\nname = "sue"\n'
        f'token = "{SUP_TOKEN}"\n'
    )
    console = spawn(
        [sys.executable, "-m", "assist", "console", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    procs: list[subprocess.Popen[str]] = []
    sup: Supervisor | None = None
    try:
        assert console.stderr is not None
        lines = [console.stderr.readline() for _ in range(2)]
        assert "entries read from the floor" in lines[0] and "Supervisor:" in lines[1], lines
        sup = Supervisor(port, subscribe=False)
        for a in AGENTS:
            pcfg = tmp_path / f"{a}.toml"
            pcfg.write_text(fleet(cluster.url, plugin_user(a), f"{a}-pw-0123") + f'agent = "{a}"\n')
            args = [sys.executable, "-m", "assist", "demo", "--no-server", "--asr", "off"]
            args += ["--speed", "4", "--config", str(pcfg), "--call-id", f"call-{a}"]
            args += ["--events", str(tmp_path / f"{a}.jsonl")]
            e = env()
            e["ASSIST_DB"] = str(tmp_path / f"{a}.sqlite3")
            procs.append(spawn(args, stderr=subprocess.PIPE, text=True, env=e))
        # a command to the plugin of agent-c2 (node 2) and its answer back through the cluster
        sup.wait(lambda: (r := sup.row("call-agent-c2")) and r["live"], 60)
        sup.ws.send(
            json.dumps({"type": "supervise", "call_id": "call-agent-c2", "mode": "listen", "id": 1})
        )
        reply = sup.wait(lambda: [r for r in sup.results if r.get("id") == 1], 30)[0]
        assert reply["type"] == "error" and "not available in demo mode" in reply["error"], reply
        for p in procs:
            _, err = p.communicate(timeout=150)
            assert p.returncode == 0, err
            assert "unreachable" not in err and "refused" not in err, err
        assert not [r["call_id"] for r in sup.board if r.get("lost")], sup.board
        held = console_history(port, [f"call-{a}" for a in AGENTS])
    finally:
        if sup is not None:
            sup.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
        code = end(console, 20)  # SIGTERM (SIGKILL if it hangs)
    assert code == 0
    for a in AGENTS:
        sent = read_jsonl(tmp_path / f"{a}.jsonl")
        assert sent[0]["type"] == "call_started" and sent[-1]["type"] == "call_ended"
        assert held[f"call-{a}"] == sent, f"{a}: the console differs from the plugin's JSONL"
        # the call's stream is on the node its agent's slot belongs to, and nowhere else
        where = [held_by(n.admin(), keys.call(a, f"call-{a}")) for n in cluster.nodes]
        assert where == [i == nodes[a] for i in range(3)], (a, where)
    action = [
        e for e in read_jsonl(tmp_path / "agent-c2.jsonl") if e["type"] == "supervisor_action"
    ]
    assert [(x["data"]["ok"], x["data"]["supervisor"]) for x in action] == [(False, "sue")]
    node = cluster.nodes[nodes["agent-c2"]].admin()
    assert node.xpending(keys.commands("agent-c2"), "plugin")["pending"] == 0  # acknowledged
