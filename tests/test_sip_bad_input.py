"""Nothing a command line, a config or an overlay page sends reaches a pjsua2 assertion: bad
URIs are one-line errors (exit 2) before the phone starts, and a bad `dial` from the agent's
page during a live call is refused while the call goes on to its normal end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.sip_helpers import (
    assist,
    baresip,
    events,
    plugin_config,
    speech_wav,
    stored_calls,
    wait_event,
)

AGENT_TOKEN = "agent-token-for-bad-input"
OVERLAY = (
    f'[overlay]\nport = 0\n[[overlay.agent]]\nname = "alice"\ntoken = "{AGENT_TOKEN}"\n'
    "dial = true\n"  # placing calls is a permission of the token
)
BAD_DIALS = [
    ("sip:bob@@", "more than one @"),
    ("sips:bob@127.0.0.1", 'needs sip.transport = "tls"'),
    ("sip:bob@127.0.0.1;transport=tls", "asks for transport=tls"),
    ("sip:bob@127.0.0.1;transport=tcp", "asks for transport=tcp"),
    ("sip:bob@127.0.0.1?X=y", "headers"),
]


def _one_error_line(text: str) -> str:
    assert "Traceback" not in text and "Assertion" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("assist: error")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("uri", "why"), BAD_DIALS)
def test_sip_call_with_a_bad_uri_is_one_line_exit_2(tmp_path: Path, uri: str, why: str) -> None:
    cfg = plugin_config(tmp_path / "assist.toml")
    proc = assist("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off")
    assert proc.p.wait(30) == 2, proc.text
    proc.stop()
    line = _one_error_line(proc.text)
    assert line.startswith("assist: error: sip call: ") and why in line, line


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("extra", "overlay", "key"),
    [
        ({"registrar": "sip:pbx@@"}, "", "sip.registrar: expected a SIP URI like sip:alice@host"),
        ({"transport": "tcp", "registrar": "sip:pbx;transport=udp"}, "", "sip.registrar"),
        (
            {},
            '[overlay]\n[[overlay.supervisor]]\nname = "sue"\n'
            'token = "a-long-supervisor-token"\nsip = "sips:sue@h"\n',
            "overlay.supervisor[0].sip: 'sips:sue@h': a sips: URI needs",
        ),
    ],
)
def test_bad_uris_in_the_config_are_one_line_exit_2(
    tmp_path: Path, extra: dict[str, Any], overlay: str, key: str
) -> None:
    cfg = plugin_config(tmp_path / "assist.toml", overlay=overlay, **extra)
    proc = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off")
    assert proc.p.wait(30) == 2, proc.text
    proc.stop()
    line = _one_error_line(proc.text)
    assert line.startswith(f"assist: error: {cfg}: {key}"), line


def _request(ws: ClientConnection, msg: dict[str, Any], ref: str) -> dict[str, Any]:
    ws.send(json.dumps({**msg, "id": ref}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = json.loads(ws.recv(timeout=10))
        if reply.get("id") == ref:
            return reply  # type: ignore[no-any-return]
    raise AssertionError(f"no reply to {msg}")


@pytest.mark.timeout(90)
def test_bad_dials_from_the_overlay_leave_the_live_call_alone(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=14)
    cfg = plugin_config(tmp_path / "assist.toml", overlay=OVERLAY)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--asr", "off")
    caller = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        sip_port = m.group(1)
        _, m = plugin.wait_for(r"Overlay: http://127\.0\.0\.1:(\d+)/")
        url = f"ws://127.0.0.1:{m.group(1)}/ws?token={AGENT_TOKEN}"
        caller = baresip(
            tmp_path / "caller", wav, seconds=10, dial=f"sip:agent@127.0.0.1:{sip_port}"
        )
        call_id = wait_event(ev, type="call_state", state="confirmed")["call_id"]
        with connect(url, open_timeout=10) as ws:
            json.loads(ws.recv(timeout=10))  # hello
            for i, (uri, why) in enumerate(BAD_DIALS):
                reply = _request(ws, {"type": "dial", "uri": uri}, f"d{i}")
                assert reply.get("code") == "control_failed" and why in reply["error"], reply
        # the live call goes on: the customer still speaks, then hangs up as planned
        wait_event(ev, call_id=call_id, type="speech", speaker="customer", state="start")
        ended = wait_event(ev, timeout=20, call_id=call_id, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        if caller is not None:
            caller.kill()
    assert "Assertion" not in plugin.text and "Traceback" not in plugin.text, plugin.text
    assert ended["data"]["reason"] == "hangup"
    states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
    assert states == ["ringing", "confirmed", "ended"]
    assert len({e["call_id"] for e in events(ev)}) == 1  # no call was placed for a bad URI
    assert [c["call_id"] for c in stored_calls()] == [call_id]
