"""What `assist sip` says and how it exits, as a script sees it: `--events -` puts JSON lines
and nothing else on stdout (pjlib's own lines go to stderr), a call that fails exits 1 with one
line, a registrar that is not there is reported within seconds (and as an `error` event), and
`--port` picks the overlay's port like `assist demo`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_port, free_udp_port
from tests.sip_helpers import (
    ROOT,
    Proc,
    assist,
    baresip,
    plugin_config,
    speech_wav,
    wait_event,
)

DATA = Path(__file__).with_name("data")


@pytest.mark.timeout(60)
def test_events_dash_puts_json_lines_only_on_stdout(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=6)
    port = free_udp_port()
    callee = baresip(tmp_path / "callee", wav, seconds=10, port=port)
    cfg = plugin_config(tmp_path / "assist.toml", log_level=4)
    try:
        callee.wait_for(r"baresip is ready", timeout=10)
        r = subprocess.run(
            [sys.executable, "-m", "assist", "sip", "call", f"sip:customer@127.0.0.1:{port}"]
            + ["--config", str(cfg), "--no-server", "--asr", "off", "--events", "-"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=40,
        )
    finally:
        callee.kill()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    got = [json.loads(line) for line in lines]  # every line is one JSON event
    assert got[0]["type"] == "call_started" and got[-1]["type"] == "call_ended", lines
    assert "pjlib" in r.stderr and "pjlib" not in r.stdout  # pjsip's log (level 4): stderr


@pytest.mark.timeout(60)
def test_an_events_file_that_fails_mid_call_is_one_line_and_the_call_is_still_stored(
    tmp_path: Path,
) -> None:
    """`assist sip` used to say nothing of a sink that failed (the demo did): --events on a
    full disk (/dev/full) is now one line as it happens, and the store has the whole call."""
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=4)
    port = free_udp_port()
    callee = baresip(tmp_path / "callee", wav, seconds=8, port=port)
    cfg = plugin_config(tmp_path / "assist.toml")
    db = tmp_path / "calls.sqlite3"
    try:
        callee.wait_for(r"baresip is ready", timeout=10)
        r = subprocess.run(
            [sys.executable, "-m", "assist", "sip", "call", f"sip:customer@127.0.0.1:{port}"]
            + ["--config", str(cfg), "--no-server", "--asr", "off", "--events", "/dev/full"]
            + ["--store", str(db)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=40,
        )
    finally:
        callee.kill()
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if line.startswith("assist: warning")]
    assert len(said) == 1, r.stderr
    assert said[0].endswith(": OSError(28, 'No space left on device'); the call goes on")
    assert "Traceback" not in r.stderr
    out = subprocess.run(
        [sys.executable, "-m", "assist", "calls", "--json", "--store", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    (call,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert call["status"] != "live" and call["events"] > 2


@pytest.mark.timeout(60)
def test_a_call_that_fails_exits_1_with_one_line(tmp_path: Path) -> None:
    port = free_udp_port()
    busy = Proc(
        ["/usr/bin/sipp", "-sf", str(DATA / "uas_busy.xml"), "-i", "127.0.0.1", "-p", str(port)]
        + ["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"],
        cwd=tmp_path,
    )
    cfg = plugin_config(tmp_path / "assist.toml")
    ev = tmp_path / "events.jsonl"
    uri = f"sip:bob@127.0.0.1:{port}"
    try:
        plugin = assist(
            *("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off"),
            *("--events", str(ev)),
        )
        assert plugin.p.wait(30) == 1, plugin.text
        plugin.stop()
        assert busy.p.wait(10) == 0, busy.text
    finally:
        busy.kill()
    errors = [line for line in plugin.text.splitlines() if line.startswith("assist: error")]
    assert errors == [f"assist: error: the call to {uri} failed: 486 Busy Here"], plugin.text
    ended = wait_event(ev, type="call_ended")
    assert ended["data"]["reason"] == "failed"
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text


@pytest.mark.timeout(60)
def test_a_call_pjsua2_cannot_place_exits_1_with_one_line(tmp_path: Path) -> None:
    """An IPv6 callee passes sip/uri.py, but this softphone has only an IPv4 UDP transport:
    pjsua2's makeCall raises at once. That is a failed call (exit 1), not bad input (2)."""
    cfg = plugin_config(tmp_path / "assist.toml")
    ev = tmp_path / "events.jsonl"
    uri = "sip:bob@[::1]:5060"
    plugin = assist(
        *("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off"),
        *("--events", str(ev)),
    )
    try:
        assert plugin.p.wait(30) == 1, plugin.text
    finally:
        plugin.stop()
    errors = [line for line in plugin.text.splitlines() if line.startswith("assist: error")]
    assert errors == [
        f"assist: error: the call to {uri} failed: Unsupported transport (PJSIP_EUNSUPTRANSPORT)"
    ], plugin.text
    ended = wait_event(ev, type="call_ended")
    assert ended["data"]["reason"] == "failed"
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text


@pytest.mark.timeout(60)
def test_an_unreachable_udp_registrar_is_reported_within_seconds(tmp_path: Path) -> None:
    port = free_udp_port()  # nothing listens there: ICMP port unreachable on loopback
    cfg = plugin_config(tmp_path / "assist.toml", registrar=f"sip:127.0.0.1:{port}")
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off", "--events", str(ev))
    try:
        t0, _ = plugin.wait_for(r"listening on udp port")
        t1, m = plugin.wait_for(r"registrar (\S+) unreachable: (.*); still trying", timeout=10)
        event = wait_event(ev, timeout=5, type="error", source="registration")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
    assert m[1] == f"sip:127.0.0.1:{port}"
    assert m[2] == f"nothing listens on 127.0.0.1 port {port} (udp)"
    assert event["call_id"] == "" and "unreachable" in event["data"]["message"]
    assert t1 - t0 < 10  # not SIP's 32 s transaction timeout


@pytest.mark.timeout(60)
def test_port_option_sets_the_overlay_port(tmp_path: Path) -> None:
    port = free_port()
    cfg = plugin_config(tmp_path / "assist.toml")
    plugin = assist("sip", "--config", str(cfg), "--port", str(port), "--asr", "off")
    try:
        plugin.wait_for(rf"Overlay: http://127\.0\.0\.1:{port}/")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
    bad = assist("sip", "--config", str(cfg), "--port", "70000")
    assert bad.p.wait(20) == 2
    bad.stop()
    assert "assist: error: --port must be between 0 and 65535" in bad.text
