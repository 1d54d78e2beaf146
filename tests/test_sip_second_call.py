"""A second call while one is live: refused with 486 Busy Here by default (auto-answer used to
connect both to one agent); with `second_call = "ring"` it rings and is answered like the first
(call waiting: both calls are on the board)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.ports import free_rtp_base, free_udp_port
from tests.sip_helpers import (
    Proc,
    assist,
    baresip,
    events,
    plugin_config,
    speech_wav,
    wait_event,
)

DATA = Path(__file__).with_name("data")


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


@pytest.mark.timeout(90)
def test_callers_turned_away_while_busy_leave_the_next_call_alone(tmp_path: Path) -> None:
    """Three callers are refused (486) during a call; the next call comes the moment that call
    ends. pjsua hands out call slots round-robin, so it lands in the first call's slot while
    the first call's finished pjsua2 object still waits to be freed: that object must not hang
    up the new call, nor unhook its callbacks. The refusals are sent after onIncomingCall has
    returned (a final answer inside it can free the INVITE under pjsua)."""
    port = free_udp_port()
    cfg = plugin_config(tmp_path / "assist.toml", port=port)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--no-server", "--asr", "off")
    procs = [plugin]
    sipp = ["/usr/bin/sipp", "-i", "127.0.0.1", f"127.0.0.1:{port}", "-s", "agent", "-nostdin"]
    try:
        plugin.wait_for(rf"listening on udp port {port}", timeout=30)
        calls = Proc(  # two calls back to back: 3 s each, the second as soon as the first ends
            [*sipp, "-sn", "uac", "-m", "2", "-l", "1", "-r", "10", "-d", "3000"]
            + ["-timeout", "40s", "-timeout_error", "-trace_err"],
            cwd=tmp_path,
        )
        procs.append(calls)
        wait_event(ev, timeout=20, type="call_state", state="confirmed")
        (tmp_path / "refused").mkdir()
        refused = Proc(
            [*sipp, "-sf", str(DATA / "uac_refused.xml"), "-m", "3", "-l", "3", "-r", "50"]
            + ["-timeout", "20s", "-timeout_error", "-trace_err"],
            cwd=tmp_path / "refused",
        )
        procs.append(refused)
        assert refused.p.wait(25) == 0, refused.text  # each got its 486
        assert calls.p.wait(45) == 0, calls.text  # neither call was hung up by us
        assert plugin.stop() == 0, plugin.text
    finally:
        for p in procs:
            p.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    assert plugin.text.count("busy: refused a second call") == 3, plugin.text
    ended = [e for e in events(ev) if e["type"] == "call_ended"]
    assert len(ended) == 2 and {e["data"]["reason"] for e in ended} == {"hangup"}, ended
