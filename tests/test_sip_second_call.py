"""A second call while one is live: refused with 486 Busy Here by default (auto-answer used to
connect both to one agent); with `second_call = "ring"` it rings and is answered like the first
(call waiting: both calls are on the board)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ports import free_rtp_base
from tests.sip_helpers import assist, baresip, events, plugin_config, speech_wav, wait_event


def _two_callers(tmp_path: Path, rtp_port: int, **sip: object):
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=9)
    cfg = plugin_config(tmp_path / "assist.toml", rtp_port=rtp_port, **sip)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--no-server", "--asr", "off")
    procs = [plugin]
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        uri = f"sip:agent@127.0.0.1:{m[1]}"
        procs.append(baresip(tmp_path / "first", wav, seconds=8, dial=uri))
        first = wait_event(ev, type="call_state", state="confirmed")["call_id"]
        second = baresip(tmp_path / "second", wav, seconds=6, dial=uri)
        procs.append(second)
        yield plugin, second, ev, first
    finally:
        for p in procs:
            p.kill()


@pytest.mark.timeout(60)
def test_a_second_call_gets_busy_by_default(tmp_path: Path) -> None:
    for plugin, second, ev, first in _two_callers(tmp_path, free_rtp_base()):
        second.wait_for(r"486 Busy Here", timeout=15)
        plugin.wait_for(r"busy: refused a second call from .*customer")
        wait_event(ev, timeout=20, call_id=first, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    calls = {e["call_id"] for e in events(ev)}
    assert calls == {first}  # the second caller never became a call
    states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
    assert states == ["ringing", "confirmed", "ended"]


@pytest.mark.timeout(60)
def test_second_call_ring_takes_both(tmp_path: Path) -> None:
    for plugin, _second, ev, first in _two_callers(tmp_path, free_rtp_base(), second_call="ring"):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(_confirmed(ev)) < 2:
            time.sleep(0.1)
        wait_event(ev, timeout=20, call_id=first, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    confirmed = _confirmed(ev)
    assert len(confirmed) == 2 and first in confirmed, events(ev)
    assert "busy" not in plugin.text


def _confirmed(ev: Path) -> set[str]:
    return {
        e["call_id"]
        for e in events(ev)
        if e["type"] == "call_state" and e["data"]["state"] == "confirmed"
    }
