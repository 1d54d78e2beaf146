"""The overlay's softphone buttons on a real SIP call: with auto-answer off, baresip's call rings
until the agent's overlay connection sends `answer`; `hangup` ends it; `dial` places a call to
a second baresip. Requests travel over the real websocket with the agent's token, into
`assist sip`'s SipControl. Loopback only; every process is killed; each test bounds its time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from assist.runtime.wavio import resample
from tests.conftest import timeline
from tests.ports import free_udp_port
from tests.sip_helpers import (
    assist,
    baresip,
    events,
    plugin_config,
    stored_calls,
    wait_event,
    write_wav,
)

AGENT_TOKEN = "agent-token-for-overlay-control"
OVERLAY = (
    f'[overlay]\nport = 0\n[[overlay.agent]]\nname = "alice"\ntoken = "{AGENT_TOKEN}"\n'
    "dial = true\n"  # placing calls is a permission of the token
)


def _request(ws: ClientConnection, msg: dict[str, Any], ref: str) -> dict[str, Any]:
    ws.send(json.dumps({**msg, "id": ref}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = json.loads(ws.recv(timeout=10))
        if reply.get("id") == ref:
            return reply  # type: ignore[no-any-return]
    raise AssertionError(f"no reply to {msg}")


@pytest.mark.timeout(90)
def test_answer_hangup_and_dial_from_the_overlay(tmp_path: Path) -> None:
    x = timeline(20.0, [(0.5, 2.5)], seed=7)
    wav = write_wav(tmp_path / "customer8k.wav", resample(x, 16_000, 8_000), rate=8_000)
    cfg = plugin_config(tmp_path / "assist.toml", overlay=OVERLAY, auto_answer=False)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--asr", "off")
    procs = [plugin]
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        sip_port = m.group(1)
        _, m = plugin.wait_for(r"Overlay: http://127\.0\.0\.1:(\d+)/")
        http_port = m.group(1)
        caller = baresip(
            tmp_path / "caller", wav, seconds=30, dial=f"sip:agent@127.0.0.1:{sip_port}"
        )
        procs.append(caller)
        inbound = wait_event(ev, type="call_state", state="ringing")["call_id"]
        time.sleep(1.5)
        states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
        assert states == ["ringing"]  # auto-answer is off: nobody has answered

        url = f"ws://127.0.0.1:{http_port}/ws?token={AGENT_TOKEN}"
        with connect(url, open_timeout=10) as ws:
            hello = json.loads(ws.recv(timeout=10))
            assert hello["role"] == "agent" and hello["telephony"] is True
            reply = _request(ws, {"type": "answer", "call_id": inbound}, "a")
            assert reply["type"] == "result", reply
            wait_event(ev, call_id=inbound, type="call_state", state="confirmed")
            again = _request(ws, {"type": "answer", "call_id": inbound}, "a2")
            assert again["code"] == "control_failed" and "not ringing" in again["error"]
            assert _request(ws, {"type": "hangup", "call_id": inbound}, "h")["type"] == "result"
            ended = wait_event(ev, call_id=inbound, type="call_ended")
            assert ended["data"]["reason"] == "hangup"
            # manual answer: the session ran while it rang; talk time counts from the answer
            answered = wait_event(ev, call_id=inbound, type="call_state", state="confirmed")
            assert answered["t"] >= 1.4  # it rang for 1.5 s before the overlay answered
            d = ended["data"]
            assert d["talk_s"] == pytest.approx(d["duration_s"] - answered["t"], abs=0.01)

            port = free_udp_port()
            callee = baresip(tmp_path / "callee", wav, seconds=30, port=port)
            procs.append(callee)
            callee.wait_for(r"baresip is ready", timeout=10)
            uri = f"sip:customer@127.0.0.1:{port}"
            dialled = _request(ws, {"type": "dial", "uri": uri}, "d")
            assert dialled["type"] == "result", dialled
            outbound = wait_event(ev, type="call_state", state="confirmed", direction="outbound")
            assert outbound["call_id"] != inbound
            assert outbound["call_id"] in dialled["message"]
            assert (
                _request(ws, {"type": "hangup", "call_id": outbound["call_id"]}, "h2")["type"]
                == "result"
            )
            wait_event(ev, call_id=outbound["call_id"], type="call_ended")
        assert plugin.stop() == 0, plugin.text
        assert "Assertion" not in plugin.text and "Traceback" not in plugin.text
    finally:
        for p in procs:
            p.kill()
    starts = {e["call_id"]: e["data"]["remote"] for e in events(ev) if e["type"] == "call_started"}
    assert starts[outbound["call_id"]] == uri
    stored = {c["call_id"]: c["status"] for c in stored_calls()}
    assert stored[inbound] == "hangup" and stored[outbound["call_id"]] == "hangup", stored
    # the overlay's Hang up is the agent hanging up; the checklist judges it
    hangups = {e["call_id"]: e["data"]["by"] for e in events(ev) if e["type"] == "hangup"}
    assert hangups == {inbound: "agent", outbound["call_id"]: "agent"}, hangups
    final = [e["data"] for e in events(ev) if e["type"] == "checklist" and e["call_id"] == inbound]
    items = {i["name"]: i["state"] for i in final[-1]["items"]}
    assert final[-1]["final"] and items["customer_hung_up_first"] == "no"
    assert items["answered_promptly"] == "yes"  # rang 1.5 s (answer_s 15)
    assert items["not_hung_up_on_upset"] == "n/a"  # no words heard (--asr off): never upset
