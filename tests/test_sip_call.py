"""End to end with a real Debian SIP peer: baresip calls `assist sip` (and is called by it),
streaming speech-like audio from a WAV through its aufile source; the plugin's events must
show the call's states, the customer's speech and the prompt that follows it.

The agent side is the null sound device (silence), so after the customer speaks the
`agent_silence` rule ("Customer is waiting — respond") must fire. Loopback only; every process
is killed in `finally`; each test bounds its time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assist.runtime.wavio import resample
from tests.conftest import timeline
from tests.ports import free_udp_port
from tests.sip_helpers import (
    assist,
    baresip,
    events,
    peer,
    plugin_config,
    speech_wav,
    stored_calls,
    transcripts,
    wait_event,
    write_wav,
)

CUSTOMER_SPEECH = [(0.5, 2.5)]
CUSTOMER_SAYS = "This is ridiculous. I want to cancel my account."


def _customer_wav(tmp_path: Path, seconds: float = 18.0) -> Path:
    x = timeline(seconds, CUSTOMER_SPEECH, seed=7)
    return write_wav(tmp_path / "customer8k.wav", resample(x, 16_000, 8_000), rate=8_000)


def _plugin(tmp_path: Path, *extra: str, **sip: object):
    cfg = plugin_config(tmp_path / "assist.toml", **sip)
    ev = tmp_path / "events.jsonl"
    proc = assist("sip", *extra, "--config", str(cfg), "--events", str(ev))
    return proc, ev


def _clean_exit(proc) -> None:
    assert proc.stop() == 0, proc.text
    assert "Assertion" not in proc.text and "Traceback" not in proc.text, proc.text


@pytest.mark.timeout(60)
def test_baresip_calls_in_customer_speech_and_prompt(tmp_path: Path) -> None:
    """Default settings (call store on, speech recognition auto): the call is analysed,
    the customer's words are recognised over G.711, and `assist calls` lists the call."""
    wav = speech_wav(tmp_path / "customer8k.wav", CUSTOMER_SAYS, seconds=18.0)
    plugin, ev = _plugin(tmp_path, "--no-server")
    peer = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        peer = baresip(
            tmp_path / "baresip", wav, seconds=16, dial=f"sip:agent@127.0.0.1:{m.group(1)}"
        )
        wait_event(ev, type="call_state", state="confirmed")
        speech = wait_event(ev, type="speech", speaker="customer", state="start")
        prompt = wait_event(ev, timeout=20, type="prompt", rule="agent_silence")
        ended = wait_event(ev, timeout=15, type="call_ended")
        _clean_exit(plugin)
    finally:
        plugin.kill()
        if peer is not None:
            peer.kill()
    assert 0.3 < speech["data"]["at"] < 1.5  # speech began 0.5 s into the customer's audio
    stops = [e for e in events(ev) if e["type"] == "speech" and e["data"]["state"] == "stop"]
    assert prompt["t"] > stops[-1]["data"]["at"] + 4.5  # 5 s of agent silence after speech
    assert ended["data"]["reason"] == "hangup"
    # words arrived from the customer's side (which words, and the cues on them over PCMU:
    # tests/test_sip_g711_words.py)
    assert " ".join(transcripts(ev)).split(), events(ev)
    stored = {c["call_id"]: c for c in stored_calls()}
    call_id = ended["call_id"]
    assert stored[call_id]["status"] == "hangup" and stored[call_id]["source"] == "sip"
    assert stored[call_id]["events"] == len(events(ev))
    states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
    assert states == ["ringing", "confirmed", "ended"]
    # baresip sent the BYE: the customer hung up, just before the call's `ended` state
    got = [
        (e["type"], e["data"].get("by"))
        for e in events(ev)
        if e["type"] in ("hangup", "call_state")
    ]
    assert got[-2:] == [("hangup", "customer"), ("call_state", None)]
    final = [e["data"] for e in events(ev) if e["type"] == "checklist"][-1]
    items = {i["name"]: i["state"] for i in final["items"]}
    assert final["final"] and items["customer_hung_up_first"] == "yes"
    assert items["answered_promptly"] == "yes"  # auto-answer
    assert not [e for e in events(ev) if e["type"] == "speech" and e["data"]["speaker"] == "agent"]
    started = events(ev)[0]
    assert started["type"] == "call_started" and started["data"]["source"] == "sip"
    assert started["data"]["asr"]  # live calls get speech recognition like demo calls


@pytest.mark.timeout(60)
def test_peer_vanishing_without_bye_is_a_dropped_call(tmp_path: Path) -> None:
    wav = _customer_wav(tmp_path)
    plugin, ev = _plugin(tmp_path, "--no-server", "--asr", "off", media_timeout_s=2)
    peer = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        peer = baresip(
            tmp_path / "baresip", wav, seconds=30, dial=f"sip:agent@127.0.0.1:{m.group(1)}"
        )
        wait_event(ev, type="speech", speaker="customer", state="start")
        peer.kill()  # SIGKILL: no BYE, RTP just stops
        killed = time.monotonic()
        ended = wait_event(ev, timeout=10, type="call_ended")
        assert time.monotonic() - killed < 6
        _clean_exit(plugin)
    finally:
        plugin.kill()
        if peer is not None:
            peer.kill()
    assert ended["data"]["reason"] == "dropped"
    last_state = [e for e in events(ev) if e["type"] == "call_state"][-1]["data"]
    assert last_state["state"] == "ended" and "media timeout" in last_state["reason"]
    hangup = [e["data"] for e in events(ev) if e["type"] == "hangup"]
    assert [h["by"] for h in hangup] == ["unknown"] and "media timeout" in hangup[0]["how"]


@pytest.mark.timeout(60)
def test_plugin_calls_out_to_baresip(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "customer8k.wav", CUSTOMER_SAYS, seconds=8.0)
    port = free_udp_port()
    peer = baresip(tmp_path / "baresip", wav, seconds=7, port=port)
    plugin = None
    try:
        peer.wait_for(r"baresip is ready", timeout=10)
        plugin, ev = _plugin(
            tmp_path,
            *("call", f"sip:customer@127.0.0.1:{port}", "--no-server"),
        )
        plugin.p.wait(30)  # `sip call` returns when the call has ended
        assert plugin.p.returncode == 0, plugin.text
        assert "Assertion" not in plugin.text, plugin.text
    finally:
        peer.kill()
        if plugin is not None:
            plugin.kill()
    got = events(ev)
    started = [e for e in got if e["type"] == "call_started"]
    assert len(started) == 1 and started[0]["data"]["remote"] == f"sip:customer@127.0.0.1:{port}"
    states = [e["data"] for e in got if e["type"] == "call_state"]
    assert [s["state"] for s in states][-2:] == ["confirmed", "ended"]
    assert all(s["direction"] == "outbound" for s in states)
    assert [e for e in got if e["type"] == "speech" and e["data"]["speaker"] == "customer"]
    assert got[-1]["type"] == "call_ended" and got[-1]["data"]["reason"] == "hangup"
    assert transcripts(ev), "no words recognised on the outbound call"
    stored = [c for c in stored_calls() if c["call_id"] == started[0]["call_id"]]
    assert stored and stored[0]["status"] == "hangup", stored


@pytest.mark.timeout(60)
def test_hold_and_resume_are_call_states(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "customer.wav", timeline(3.0, [(0.2, 2.0)], seed=3))
    plugin, ev = _plugin(tmp_path, "--no-server", "--asr", "off")
    caller = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        caller = peer(
            *("--play", str(wav), "--record", str(tmp_path / "heard.wav")),
            *("--dial", f"sip:agent@127.0.0.1:{m.group(1)}", "--hold", "1.5", "3.0"),
            *("--seconds", "4.5"),
        )
        caller.wait_for(r"^ended", timeout=20)
        wait_event(ev, type="call_ended")
        _clean_exit(plugin)
    finally:
        plugin.kill()
        if caller is not None:
            caller.kill()
    assert "resumed" in caller.text
    states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
    assert states == ["ringing", "confirmed", "held", "confirmed", "ended"]
    assert [e["data"]["reason"] for e in events(ev) if e["type"] == "call_ended"] == ["hangup"]


@pytest.mark.timeout(60)
def test_sip_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    port = free_udp_port()
    first, _ = _plugin(tmp_path, "--no-server", "--asr", "off", port=port)
    try:
        first.wait_for(r"listening on udp port")
        second, _ = _plugin(tmp_path, "--no-server", "--asr", "off", port=port)
        assert second.p.wait(20) == 2
        second.stop()
        errors = [line for line in second.text.splitlines() if line.startswith("assist: error")]
        assert errors == [
            f"assist: error: cannot start the SIP endpoint: cannot listen for SIP on 127.0.0.1 "
            f"port {port} (udp): Address already in use"
        ], second.text
        _clean_exit(first)
    finally:
        first.kill()
