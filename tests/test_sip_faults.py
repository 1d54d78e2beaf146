"""Failures on the SIP thread: one call's failure is that call's `error` event and the phone
takes the next call; a SIP thread that dies anyway is reported and the process exits non-zero
(it used to go silent, taking calls no more)."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.sip_helpers import (
    Proc,
    assist,
    baresip,
    events,
    peer,
    plugin_config,
    speech_wav,
    stored_calls,
    wait_event,
)


@pytest.mark.timeout(90)
def test_a_failure_in_one_call_is_its_error_event_and_the_phone_goes_on(tmp_path: Path) -> None:
    """The folder for the agent's ear recordings is replaced by a file after start-up (a real
    failure inside a pjsua2 media callback): each call reports it and is analysed anyway."""
    ears = tmp_path / "ears"
    ears.mkdir()
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=6)
    cfg = plugin_config(tmp_path / "assist.toml", agent_record_dir=str(ears))
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--no-server", "--asr", "off")
    peers = []
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        ears.rmdir()
        ears.write_text("not a folder")
        for i in range(2):  # one call after the other: the phone took the second one too
            peers.append(
                baresip(tmp_path / f"c{i}", wav, seconds=5, dial=f"sip:agent@127.0.0.1:{m[1]}")
            )
            _wait_ended(ev, i + 1)
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        for p in peers:
            p.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
    ids = [e["call_id"] for e in events(ev) if e["type"] == "call_ended"]
    assert len(ids) == 2
    for call_id in ids:
        mine = [e for e in events(ev) if e["call_id"] == call_id]
        errors = [e["data"] for e in mine if e["type"] == "error"]
        assert errors and errors[0]["source"] == "sip" and errors[0]["recoverable"], mine
        assert "call media failed" in errors[0]["message"] and "File exists" in errors[0]["message"]
        assert [e for e in mine if e["type"] == "speech" and e["data"]["speaker"] == "customer"]
        assert mine[-1]["type"] == "call_ended" and mine[-1]["data"]["reason"] == "hangup"
    assert plugin.text.count("the call goes on") == 2
    assert {c["call_id"] for c in stored_calls()} == set(ids)


def _wait_ended(ev: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(e["type"] == "call_ended" for e in events(ev)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"not {count} calls ended within {timeout} s: {events(ev)}")


WRAPPER = textwrap.dedent(
    """
    import sys
    import sip.phone as phone

    setup = phone.Softphone.setup

    def dying_setup(self, ep, port):  # what no code path should do: kill the pump thread
        setup(self, ep, port)
        def die():
            raise SystemExit("the pump thread was killed by the test")
        self.pump.later(1.0, die)

    phone.Softphone.setup = dying_setup
    from assist.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.timeout(60)
def test_a_dead_sip_thread_is_reported_and_the_process_exits_non_zero(tmp_path: Path) -> None:
    cfg = plugin_config(tmp_path / "assist.toml")
    proc = Proc(
        [sys.executable, "-c", WRAPPER, "sip", "--config", str(cfg), "--no-server", "--asr", "off"]
    )
    try:
        assert proc.p.wait(30) == 1, proc.text
    finally:
        proc.kill()
    errors = [line for line in proc.text.splitlines() if line.startswith("assist: error")]
    assert errors == [
        "assist: error: the SIP thread stopped: SystemExit: the pump thread was killed by the "
        "test; every call is lost"
    ], proc.text
    assert "Traceback" not in proc.text


SLOW_SETUP = textwrap.dedent(
    """
    import sys, time
    import assist.commands.sip as cmd

    class SlowAsr(cmd.CallAsr):  # a recogniser that takes 2 s to set up (a big model)
        def __init__(self, *args, **kwargs):
            time.sleep(2.0)
            super().__init__(*args, **kwargs)
            print(f"analysis ready {time.time():.3f}", file=sys.stderr, flush=True)

    cmd.CallAsr = SlowAsr
    from assist.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.timeout(60)
def test_the_caller_hears_ringing_before_the_analysis_is_built(tmp_path: Path) -> None:
    """180 goes out at once; the recogniser is built off the SIP thread, and the call is
    answered (200) once the analysis is ready, so no audio goes unanalysed."""
    wav = speech_wav(tmp_path / "caller.wav", "Hello there.", seconds=4, rate=16_000)
    cfg = plugin_config(tmp_path / "assist.toml")
    ev = tmp_path / "events.jsonl"
    plugin = Proc(
        [sys.executable, "-c", SLOW_SETUP, "sip", "--config", str(cfg), "--no-server"]
        + ["--events", str(ev)]
    )
    caller = None
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        caller = peer(
            *("--play", str(wav), "--record", str(tmp_path / "heard.wav")),
            *("--dial", f"sip:agent@127.0.0.1:{m[1]}", "--seconds", "5"),
        )
        _, ringing = caller.wait_for(r"^state EARLY 180 ([\d.]+)")
        _, ready = plugin.wait_for(r"^analysis ready ([\d.]+)")
        _, confirmed = caller.wait_for(r"^state CONFIRMED 200 ([\d.]+)")
        wait_event(ev, timeout=20, type="call_ended")
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        if caller is not None:
            caller.kill()
    assert float(ringing[1]) < float(ready[1]) - 1.0, (ringing[1], ready[1])
    assert float(confirmed[1]) >= float(ready[1]), (confirmed[1], ready[1])
    states = [e["data"]["state"] for e in events(ev) if e["type"] == "call_state"]
    assert states[:2] == ["ringing", "confirmed"]
