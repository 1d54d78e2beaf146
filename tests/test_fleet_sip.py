"""A listen on a real SIP call, requested through the floor's bus.

Real parts only: a redis-server with an ACL user per role, `assist sip` (the agent's plugin,
with `[fleet]`), baresip as the customer calling the agent with a 400 Hz tone, a pjsua2 peer
as the supervisor's phone (records what it hears), and `assist console` serving the
supervisor. The test is the supervisor's page: over the console's websocket it asks to listen;
the console puts the command on the agent's command stream, the plugin dials the supervisor's
phone and bridges it, and its answer and the `supervisor_action` event come back through Redis.
The supervisor must hear the customer's tone; the console must show the action (the event,
named by the supervisor's token name, and the board's mode).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from fleet.acl import console_rules, plugin_rules, plugin_user, setuser
from tests.redis_helpers import RedisServer
from tests.sip_helpers import (
    Proc,
    assist,
    baresip,
    events,
    peer,
    plugin_config,
    read_wav,
    tone,
    tone_level,
    wait_event,
    window,
    write_wav,
)

CUSTOMER_HZ, SUPERVISOR_HZ, REFERENCE_HZ = 400.0, 2200.0, 1700.0
HEARD = 0.04  # as tests/test_sip_supervisor.py: a routed -12 dBFS tone arrives at ~0.175
SUP_TOKEN = "floor-supervisor-token-0123456789"
AGENT_TOKEN = "agent-token-alice-0123456789"
LISTEN_S = 3.0


def _fleet(url: str, user: str, password: str) -> str:
    return (
        f'[fleet]\nurl = "{url}"\nusername = "{user}"\npassword = "{password}"\n'
        "heartbeat_s = 0.5\nheartbeat_ttl_s = 2.0\n"
    )


class Page:
    """The supervisor's websocket on the console: every message, in order."""

    def __init__(self, port: str) -> None:
        self._stack = contextlib.ExitStack()
        url = f"ws://127.0.0.1:{port}/ws?token={SUP_TOKEN}"
        self.ws = self._stack.enter_context(connect(url, open_timeout=10))
        hello = json.loads(self.ws.recv(timeout=10))
        assert hello["type"] == "hello" and hello["role"] == "supervisor", hello
        self.ws.send(json.dumps({"type": "subscribe", "since": {}}))
        self.seen: list[dict[str, Any]] = []
        self.unread: list[dict[str, Any]] = []  # received while waiting for something else

    def until(self, pred: Any, what: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first message, in order, that `pred` accepts: one that came in earlier (e.g. the
        action's event before the command's reply) counts too."""
        for i, msg in enumerate(self.unread):
            if pred(msg):
                return self.unread.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            self.seen.append(msg)
            if pred(msg):
                return msg
            self.unread.append(msg)
        raise AssertionError(f"the console sent no {what}; got {[m['type'] for m in self.seen]}")

    def supervise(self, call_id: str, mode: str, ref: str) -> tuple[float, dict[str, Any]]:
        self.ws.send(json.dumps({"type": "supervise", "id": ref, "call_id": call_id, "mode": mode}))
        reply = self.until(lambda m: m.get("id") == ref or m.get("ref") == ref, f"reply to {ref}")
        return time.time(), reply

    def close(self) -> None:
        self._stack.close()


@pytest.mark.timeout(150)
def test_listen_through_the_bus_bridges_the_supervisors_phone(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    redis.acl(
        [
            setuser("console", console_rules("assist", "console-pw-0123")),
            setuser(plugin_user("alice"), plugin_rules("assist", "alice", "alice-pw-0123")),
        ]
    )
    procs: list[Proc] = []
    page: Page | None = None
    try:
        sup = peer(
            *("--play", str(write_wav(tmp_path / "sup.wav", tone(SUPERVISOR_HZ, 5)))),
            *("--record", str(tmp_path / "sup_heard.wav")),
        )
        procs.append(sup)
        _, m = sup.wait_for(r"ready (\d+)")
        sup_uri = f"sip:sue@127.0.0.1:{m.group(1)}"

        console_cfg = tmp_path / "console.toml"
        console_cfg.write_text(
            _fleet(redis.url, "console", "console-pw-0123")
            + '[overlay]\nhost = "127.0.0.1"\nport = 0\n'
            f'[[overlay.supervisor]]\nname = "sue"\ntoken = "{SUP_TOKEN}"\nsip = "{sup_uri}"\n'
        )
        console = assist("console", "--config", str(console_cfg))
        procs.append(console)
        _, m = console.wait_for(r"Supervisor: http://127\.0\.0\.1:(\d+)/")
        console_port = m.group(1)

        overlay = (
            '[overlay]\nhost = "127.0.0.1"\nport = 0\n'
            f'[[overlay.agent]]\nname = "alice"\ntoken = "{AGENT_TOKEN}"\n'
        )
        cfg = plugin_config(
            tmp_path / "alice.toml",
            overlay=overlay + _fleet(redis.url, plugin_user("alice"), "alice-pw-0123"),
        )
        ev = tmp_path / "alice.jsonl"
        plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--asr", "off")
        procs.append(plugin)
        plugin.wait_for(r"fleet: publishing as agent 'alice'")
        _, m = plugin.wait_for(r"listening on udp port (\d+)")

        cust_tone = tone(CUSTOMER_HZ, 40, rate=8000)  # baresip streams it at 8 kHz
        cust_wav = write_wav(tmp_path / "customer.wav", cust_tone, rate=8000)
        procs.append(
            baresip(tmp_path / "baresip", cust_wav, seconds=40, dial=f"sip:agent@127.0.0.1:{m[1]}")
        )
        call_id = wait_event(ev, type="call_state", state="confirmed")["call_id"]

        page = Page(console_port)
        page.until(
            lambda msg: (
                msg["type"] == "calls"
                and any(c["call_id"] == call_id and c["live"] for c in msg["calls"])
            ),
            "live row for the SIP call",
        )
        t_listen, reply = page.supervise(call_id, "listen", "s1")
        assert reply["type"] == "result", reply
        assert f"calling supervisor {sup_uri} to listen" in reply["message"]
        t_rec, _ = sup.wait_for(r"recording ([\d.]+)", timeout=15)
        action = page.until(
            lambda msg: msg.get("type") == "supervisor_action" and msg["call_id"] == call_id,
            "supervisor_action event",
        )
        page.until(
            lambda msg: (
                msg["type"] == "calls"
                and any(
                    c["call_id"] == call_id and c["supervisor"] == "listen" for c in msg["calls"]
                )
            ),
            "board row in listen mode",
        )
        time.sleep(LISTEN_S)
        t_off, reply = page.supervise(call_id, "off", "s2")
        assert reply["type"] == "result" and "supervisor disconnected" in reply["message"], reply
        page.until(
            lambda msg: (
                msg["type"] == "calls"
                and any(c["call_id"] == call_id and c["supervisor"] is None for c in msg["calls"])
            ),
            "board row with nobody listening",
        )
        sup.wait_for(r"^ended", timeout=15)  # `off` hung up the supervisor's phone
        assert plugin.stop() == 0, plugin.text
        assert console.stop() == 0, console.text
        pending = redis.admin().xpending("assist:{alice}:cmd", "plugin")
    finally:
        if page is not None:
            page.close()
        for p in procs:
            p.kill()
        redis.stop()

    # the supervisor heard the customer while listening
    x, rate = read_wav(tmp_path / "sup_heard.wav")
    clip = window(x, rate, max(t_rec, t_listen) + 1.0 - t_rec, t_off - 0.3 - t_rec)
    heard = tone_level(clip, rate, CUSTOMER_HZ, reference=REFERENCE_HZ, quantile=0.8)
    assert heard > HEARD, f"customer tone level at the supervisor: {heard:.4f}"

    # the console showed the action as the plugin recorded it: named by the token, not the URI
    assert action["data"] == {"mode": "listen", "supervisor": "sue", "ok": True} | {
        "message": action["data"]["message"]
    }
    assert sup_uri in action["data"]["message"]
    recorded = [e["data"] for e in events(ev) if e["type"] == "supervisor_action"]
    assert [(a["mode"], a["ok"], a["supervisor"]) for a in recorded] == [
        ("listen", True, "sue"),
        ("off", True, "sue"),
    ]
    assert pending["pending"] == 0  # both commands acknowledged by the plugin
    assert "Traceback" not in plugin.text + console.text
