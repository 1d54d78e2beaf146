"""Supervisor listen / whisper / barge on the real conference bridge, checked by ear.

Three parties, each with its own tone so a recording tells who is audible: the customer (a
pjsua2 peer process, 400 Hz), the agent (the plugin's `agent_play` WAV, 1000 Hz) and the
supervisor (another pjsua2 peer, 2200 Hz). The plugin is `assist sip` in its own process; the
test is the supervisor console, switching modes over the overlay websocket. Afterwards the
level of each tone in what each party recorded is checked against the mode in force.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.ports import free_udp_port
from tests.sip_helpers import (
    Proc,
    assist,
    events,
    peer,
    plugin_config,
    read_wav,
    stored_calls,
    tone,
    tone_level,
    wait_event,
    window,
    write_wav,
)

CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ = 400.0, 1000.0, 2200.0
REFERENCE_HZ = 1700.0  # nobody plays it: the level of clicks and noise
# Band RMS of a tone above the reference band: a routed -12 dBFS tone arrives at ~0.175.
HEARD, SILENT = 0.04, 0.01  # clicks can cut a heard tone to ~0.06 in the median
PHASE_S = 3.0
SUP_TOKEN = "supervisor-token-0123456789"
AGENT_TOKEN = "agent-token-0123456789abc"


def _supervise(ws, call_id: str, mode: str, ref: str) -> float:
    ws.send(json.dumps({"type": "supervise", "id": ref, "call_id": call_id, "mode": mode}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=10))
        if msg.get("ref") == ref or msg.get("id") == ref:
            assert msg["type"] == "result", msg
            return time.time()
    raise AssertionError(f"no answer to supervise {mode}")


@pytest.mark.timeout(120)
def test_listen_whisper_barge_route_audio_by_mode(tmp_path: Path) -> None:
    cust_wav = write_wav(tmp_path / "customer.wav", tone(CUSTOMER_HZ, 5))
    agent_wav = write_wav(tmp_path / "agent.wav", tone(AGENT_HZ, 60))
    sup_wav = write_wav(tmp_path / "supervisor.wav", tone(SUPERVISOR_HZ, 5))
    ears = tmp_path / "ears"
    procs = []
    try:
        sup = peer(
            *("--play", str(sup_wav), "--record", str(tmp_path / "sup_heard.wav")),
        )
        procs.append(sup)
        _, m = sup.wait_for(r"ready (\d+)")
        sup_uri = f"sip:peer@127.0.0.1:{m.group(1)}"
        overlay = (
            '[overlay]\nhost = "127.0.0.1"\nport = 0\n'
            f'[[overlay.agent]]\nname = "alice"\ntoken = "{AGENT_TOKEN}"\n'
            f'[[overlay.supervisor]]\nname = "sue"\ntoken = "{SUP_TOKEN}"\nsip = "{sup_uri}"\n'
        )
        cfg = plugin_config(
            tmp_path / "assist.toml",
            overlay=overlay,
            agent_play=str(agent_wav),
            agent_record_dir=str(ears),
        )
        ev = tmp_path / "events.jsonl"
        plugin = assist(*("sip", "--config", str(cfg), "--events", str(ev), "--asr", "off"))
        procs.append(plugin)
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        sip_port = m.group(1)
        _, m = plugin.wait_for(r"Supervisor: http://127\.0\.0\.1:(\d+)/")
        http_port = m.group(1)

        cust = peer(
            "--play",
            str(cust_wav),
            "--record",
            str(tmp_path / "cust_heard.wav"),
            "--dial",
            f"sip:agent@127.0.0.1:{sip_port}",
        )
        procs.append(cust)
        call_id = wait_event(ev, type="call_state", state="confirmed")["call_id"]
        t_cust, _ = cust.wait_for(r"recording")
        t_ear, _ = plugin.wait_for(r"recording what the agent hears")
        time.sleep(1.0)

        with connect(f"ws://127.0.0.1:{http_port}/ws?token={SUP_TOKEN}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            marks = {}
            for i, mode in enumerate(("listen", "whisper", "barge", "off")):
                marks[mode] = _supervise(ws, call_id, mode, f"s{i}")
                time.sleep(PHASE_S if mode != "off" else 1.5)
        t_sup, _ = sup.wait_for(r"recording")
        sup.wait_for(r"^ended", timeout=10)  # `off` hung up the supervisor's call
        cust.stop()
        plugin.wait_for(r"ended \(", timeout=10)
        assert plugin.stop() == 0, plugin.text
        assert "Assertion" not in plugin.text and "Traceback" not in plugin.text
    finally:
        for p in procs:
            p.kill()

    phases = {  # (start, end) wall time where each mode is surely in force
        "listen": (marks["listen"] + 1.0, marks["whisper"] - 0.3),
        "whisper": (marks["whisper"] + 0.7, marks["barge"] - 0.3),
        "barge": (marks["barge"] + 0.7, marks["off"] - 0.3),
    }
    heard = {
        "customer": (read_wav(tmp_path / "cust_heard.wav"), t_cust),
        "agent": (read_wav(ears / f"{call_id}-ear.wav"), t_ear),
        "supervisor": (read_wav(tmp_path / "sup_heard.wav"), t_sup),
    }

    def level(who: str, mode: str, hz: float, quantile: float) -> float:
        (x, rate), t0 = heard[who]
        a, b = phases[mode]
        clip = window(x, rate, a - t0, b - t0)
        return tone_level(clip, rate, hz, reference=REFERENCE_HZ, quantile=quantile)

    def levels(quantile: float) -> dict[tuple[str, str, float], float]:
        return {
            (who, mode, hz): level(who, mode, hz, quantile)
            for who in heard
            for mode in phases
            for hz in (CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ)
            if (who, hz) not in (("customer", CUSTOMER_HZ), ("supervisor", SUPERVISOR_HZ))
        }

    # Heard: the tone is there in at least a fifth of the 0.2 s chunks (late-packet clicks on
    # this loaded machine can spoil most of a phase; an unrouted tone is absent from all of
    # them). Silent: the median chunk has no trace of it.
    table = levels(0.8)
    quiet = levels(0.5)
    for mode in phases:
        # the supervisor hears both parties in every mode
        assert table["supervisor", mode, CUSTOMER_HZ] > HEARD, table
        assert table["supervisor", mode, AGENT_HZ] > HEARD, table
        # the call itself goes on: customer hears the agent, agent hears the customer
        assert table["customer", mode, AGENT_HZ] > HEARD, table
        assert table["agent", mode, CUSTOMER_HZ] > HEARD, table
    # who hears the supervisor: nobody (listen), the agent only (whisper), both (barge)
    expected = {
        ("agent", "listen"): False,
        ("customer", "listen"): False,
        ("agent", "whisper"): True,
        ("customer", "whisper"): False,
        ("agent", "barge"): True,
        ("customer", "barge"): True,
    }
    got = {k: (table[(*k, SUPERVISOR_HZ)], quiet[(*k, SUPERVISOR_HZ)]) for k in expected}
    wrong = {
        k: (round(hi, 4), round(mid, 4))
        for k, (hi, mid) in got.items()
        if (hi <= HEARD if expected[k] else mid >= SILENT)
    }
    assert not wrong, f"supervisor tone level (p80, median) by (party, mode): {got}"

    actions = [e["data"] for e in events(ev) if e["type"] == "supervisor_action"]
    assert [(a["mode"], a["ok"]) for a in actions] == [
        ("listen", True),
        ("whisper", True),
        ("barge", True),
        ("off", True),
    ]
    assert call_id in {c["call_id"] for c in stored_calls()}  # the call store is on


DATA = Path(__file__).with_name("data")


@pytest.mark.timeout(90)
def test_a_supervisor_phone_that_does_not_answer_is_an_event_and_clears_the_board(
    tmp_path: Path,
) -> None:
    """The supervisor's phone is busy (sipp answers 486): the console gets `ok` for placing
    the call, then a `supervisor_action` (off, ok false) saying why; the board shows no
    supervisor any more."""
    sup_port = free_udp_port()
    busy = Proc(
        ["/usr/bin/sipp", "-sf", str(DATA / "uas_busy.xml"), "-i", "127.0.0.1"]
        + ["-p", str(sup_port), "-m", "1", "-nostdin", "-timeout", "60s"],
        cwd=tmp_path,
    )
    sup_uri = f"sip:sue@127.0.0.1:{sup_port}"
    overlay = (
        '[overlay]\nhost = "127.0.0.1"\nport = 0\n'
        f'[[overlay.agent]]\nname = "alice"\ntoken = "{AGENT_TOKEN}"\n'
        f'[[overlay.supervisor]]\nname = "sue"\ntoken = "{SUP_TOKEN}"\nsip = "{sup_uri}"\n'
    )
    cfg = plugin_config(tmp_path / "assist.toml", overlay=overlay)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--events", str(ev), "--asr", "off")
    cust = None
    boards: list[dict] = []
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        sip_port = m.group(1)
        _, m = plugin.wait_for(r"Supervisor: http://127\.0\.0\.1:(\d+)/")
        cust = peer(
            *("--play", str(write_wav(tmp_path / "c.wav", tone(CUSTOMER_HZ, 5)))),
            *("--record", str(tmp_path / "cust_heard.wav")),
            *("--dial", f"sip:agent@127.0.0.1:{sip_port}", "--seconds", "30"),
        )
        call_id = wait_event(ev, type="call_state", state="confirmed")["call_id"]
        with connect(f"ws://127.0.0.1:{m[1]}/ws?token={SUP_TOKEN}", open_timeout=10) as ws:
            _supervise(ws, call_id, "listen", "s1")
            failed = wait_event(ev, type="supervisor_action", ok=False)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # boards after the failure: nobody listening
                msg = json.loads(ws.recv(timeout=10))
                if msg.get("type") == "calls":
                    boards.append({c["call_id"]: c["supervisor"] for c in msg["calls"]})
                    if boards[-1].get(call_id, "x") is None:
                        break
        assert plugin.stop() == 0, plugin.text
    finally:
        plugin.kill()
        busy.kill()
        if cust is not None:
            cust.kill()
    assert failed["data"]["mode"] == "off"
    assert failed["data"]["supervisor"] == "sue"  # the token's name, not its SIP URI
    assert "did not connect: 486 Busy Here" in failed["data"]["message"]
    assert boards[-1][call_id] is None  # the board no longer says "listen"
    actions = [
        (e["data"]["mode"], e["data"]["ok"]) for e in events(ev) if e["type"] == "supervisor_action"
    ]
    assert actions == [("listen", True), ("off", False)]
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text
