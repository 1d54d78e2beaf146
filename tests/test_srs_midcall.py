"""`assist srs` mid-call, against real recording clients on loopback: what an SBC sends after
the session is up, and a supervisor listening to a recorded call.

- A transfer: a re-INVITE or an UPDATE (pjsua2 client, tests/siprec_client.py) carries new
  metadata in which agent 2002 (bob) replaces agent 1001 (alice). From then on bob's page gets
  the call (its start first) and alice's nothing more; the `recording` event names bob.
- A pause (RFC 7866 section 8.1.2: every stream `a=inactive`, no RTP) and a resume: no
  `customer_silence` for the pause, and the media timeout does not end the paused session.
- sipp as a vendor SBC: an UPDATE with partial metadata (only the new participant) that also
  pauses, then a re-INVITE that resumes.
- Listen: the supervisor's phone (a pjsua2 peer recording what it hears) is called by the
  recording server and hears both recorded streams mixed (a tone on each); whisper and barge
  are refused with the reason; a listen takes a call slot (the next session gets 503, and
  with every slot recording a listen is refused); a busy supervisor phone is an event.
Every process is ended in `finally`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.sync.client import connect

from tests.ports import free_rtp_base, free_udp_port
from tests.sip_helpers import (
    ROOT,
    Proc,
    assist,
    events,
    peer,
    read_wav,
    speech_wav,
    stored_calls,
    tone,
    tone_level,
    wait_event,
    write_wav,
)
from tests.siprec_raw import METADATA, multipart, sdp, send_invite
from tests.test_srs import (
    ALICE,
    BOB,
    SUE,
    Watcher,
    _client,
    _sipp_session,
    _start,
    srs_config,
)
from tests.waits import wait_until

CLIENT = ROOT / "tests" / "siprec_client.py"
MT = "application/rs-metadata+xml"
CUSTOMER_HZ, AGENT_HZ, REFERENCE_HZ = 400.0, 1000.0, 1700.0
HEARD = 0.04  # band RMS of a routed -12 dBFS tone arrives at ~0.175 (test_sip_supervisor.py)

LONG = (  # about 11 s at espeak's 130 wpm, with a pause at each comma and full stop
    "Thank you for calling Acme, my name is Sam. I can see your account here, and I will "
    "check the last three bills with you now, one by one, so that we can find the charge."
)
# the transfer: participant "b" (agent 2002) now sends stream s2, in place of "a" (1001)
TRANSFERRED = (
    METADATA.replace('<participant participant_id="a"><nameID aor="sip:1001@pbx.example.com"/>',
                     '<participant participant_id="b"><nameID aor="sip:2002@pbx.example.com"/>')
    .replace('participant_id="a"><send>s2', 'participant_id="b"><send>s2')
)  # fmt: skip


@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["reinvite", "update"])
def test_a_transfer_moves_the_call_to_the_new_agents_page(tmp_path: Path, how: str) -> None:
    customer = speech_wav(tmp_path / "c.wav", LONG, seconds=14, rate=16_000, voice="en-gb")
    agent = speech_wav(tmp_path / "a.wav", LONG, seconds=14, rate=16_000, voice="en-us")
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    moved = tmp_path / "moved.xml"
    moved.write_text(TRANSFERRED)
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=3)
    srs, ev, port, http = _start(tmp_path, cfg, "--asr", "off", store=True)
    watchers: list[Watcher] = []
    client = None
    try:
        alice, bob = Watcher(http, ALICE), Watcher(http, BOB)
        watchers += [alice, bob]
        client = _client(
            port, [customer, agent], meta, "--seconds", "7",
            f"--{how}-at", "3", f"--{how}-metadata", str(moved),
        )  # fmt: skip
        update = wait_event(ev, timeout=40, type="recording", update=True)
        ended = wait_event(ev, timeout=40, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        ending = str(ended["call_id"])  # the overlay's last send has reached bob
        wait_until(lambda: any(m["type"] == "call_ended" for m in bob.of(ending)), timeout=10)
        assert srs.stop() == 0, srs.text
    finally:
        for w in watchers:
            w.close()
        srs.kill()
        if client is not None:
            client.kill()
    assert "Traceback" not in srs.text and "Assertion" not in srs.text, srs.text
    call_id = str(ended["call_id"])
    first = next(e["data"] for e in events(ev) if e["type"] == "recording")
    assert first["agent"] == "alice" and first["agent_aor"] == "sip:1001@pbx.example.com"
    data = update["data"]
    assert data["agent"] == "bob" and data["agent_aor"] == "sip:2002@pbx.example.com"
    assert data["customer_aor"] == "sip:+15550001111@carrier.example"
    assert "sip:1001@pbx.example.com" not in data["participants"]
    cut = update["seq"]
    # alice saw the call up to the transfer, nothing after it
    seen_a = alice.of(call_id)
    assert any(m["type"] == "call_started" for m in seen_a)
    assert seen_a and max(m["seq"] for m in seen_a) < cut, [m["seq"] for m in seen_a][-5:]
    # bob: the call's start, then everything from the transfer on, to its end
    seen_b = bob.of(call_id)
    assert seen_b[0]["type"] == "call_started", seen_b[:2]
    assert all(m["seq"] >= cut for m in seen_b[1:])
    assert any(m["type"] == "recording" for m in seen_b)
    assert any(m["type"] == "call_ended" for m in seen_b)
    assert any(m["type"] == "meters" for m in seen_b)
    # the analysis goes on after the transfer: both streams still tapped
    after = {e["data"]["speaker"] for e in events(ev) if e["type"] == "speech" and e["seq"] > cut}
    assert after == {"agent", "customer"}, after
    # the stored call is the new agent's (`assist calls`); its report names both, in order
    stored = {c["call_id"]: c for c in stored_calls()}
    assert stored[call_id]["agent"] == "bob", stored[call_id]
    if how == "reinvite":
        report = assist("report", call_id, "-o", str(tmp_path / "report.html"))
        assert report.p.wait(60) == 0, report.text
        assert "alice → bob" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.timeout(150)
def test_metadata_that_names_the_other_stream_as_the_agents_swaps_the_taps(
    tmp_path: Path,
) -> None:
    """No metadata at first (stream order: the second stream is the agent's); a re-INVITE's
    metadata then says agent 1001 sends stream 1: from then on stream 1 is analysed as the
    agent. Stream 1 talks throughout, stream 2 is silent."""
    talker = speech_wav(tmp_path / "talk.wav", LONG, seconds=14, rate=16_000, voice="en-us")
    quiet = write_wav(tmp_path / "quiet.wav", tone(CUSTOMER_HZ, 14, level=0.0))
    swapped = tmp_path / "swapped.xml"
    swapped.write_text(
        METADATA.replace('participant_id="c"><send>s1', 'participant_id="c"><send>s2').replace(
            'participant_id="a"><send>s2', 'participant_id="a"><send>s1'
        )
    )
    srs, ev, port, _ = _start(
        tmp_path,
        srs_config(tmp_path / "srs.toml", max_sessions=3),
        "--no-server",
        "--asr",
        "off",
        store=False,
    )
    client = None
    try:
        argv = [sys.executable, str(CLIENT), "--target", f"sip:srs@127.0.0.1:{port}"]
        argv += ["--rtp-port", str(free_rtp_base()), "--play", str(talker), str(quiet)]
        argv += ["--seconds", "10", "--reinvite-at", "4", "--reinvite-metadata", str(swapped)]
        client = Proc(argv)
        update = wait_event(ev, timeout=40, type="recording", update=True)
        wait_event(ev, timeout=40, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    assert update["data"]["agent_aor"] == "sip:1001@pbx.example.com", update
    assert "the agent's stream is now stream 1" in srs.text, srs.text
    starts = [
        (e["t"], e["data"]["speaker"])
        for e in events(ev)
        if e["type"] == "speech" and e["data"]["state"] == "start"
    ]
    before = {who for t, who in starts if t < update["t"]}
    # from the update on (the talker talks on: its one start as the agent may come 0.4 s later)
    after = {who for t, who in starts if t >= update["t"]}
    assert before == {"customer"} and after == {"agent"}, starts


@pytest.mark.timeout(150)
def test_a_paused_recording_is_no_silence_and_no_media_timeout(tmp_path: Path) -> None:
    """The agent speaks, the customer says nothing; the client pauses the recording for 9 s
    (past customer_silence's 8 s and the 2 s media timeout), resumes it, and the agent speaks
    again (heard: the resumed streams are tapped again)."""
    said = "Thank you for calling Acme, how can I help you today?"
    # the client's player is read only while its stream is up (pjmedia's bridge reads a port
    # only for its listeners): paused at ~5 s into the file, it says "Hello" ~1.5 s after the
    # resume
    first = speech_wav(tmp_path / "a1.wav", said, seconds=6.0, rate=16_000, voice="en-us")
    again = speech_wav(tmp_path / "a2.wav", "Hello, are you there?", seconds=5, rate=16_000)
    agent = write_wav(
        tmp_path / "agent.wav", np.concatenate([read_wav(first)[0], read_wav(again)[0]])
    )
    customer = write_wav(tmp_path / "customer.wav", tone(CUSTOMER_HZ, 20, level=0.0))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=3, extra="media_timeout_s = 2.0\n")
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--asr", "off", store=False)
    client = None
    try:
        client = _client(
            port, [customer, agent], meta, "--seconds", "18.5", "--pause-at", "5",
            "--resume-at", "14",
        )  # fmt: skip
        client.wait_for(r"^paused", timeout=30)
        paused = wait_event(ev, timeout=10, type="recording", paused=True)
        client.wait_for(r"^resumed", timeout=30)
        resumed = wait_event(ev, timeout=10, type="recording", update=True, paused=False)
        ended = wait_event(ev, timeout=30, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    assert "Traceback" not in srs.text, srs.text
    assert ended["data"]["reason"] == "hangup", (ended, srs.text)  # not "dropped"
    assert "media timeout" not in srs.text
    assert resumed["t"] - paused["t"] >= 8.0  # the pause was long enough to matter
    agent_starts = [
        e["t"]
        for e in events(ev)
        if e["type"] == "speech"
        and e["data"]["speaker"] == "agent"
        and e["data"]["state"] == "start"
    ]
    assert agent_starts and min(agent_starts) < paused["t"]  # the agent spoke before it
    assert max(agent_starts) > resumed["t"], agent_starts  # and is heard after the resume
    rules = [e["data"]["rule"] for e in events(ev) if e["type"] == "prompt"]
    assert "customer_silence" not in rules, rules
    assert "recording paused" in srs.text and "recording resumed" in srs.text


@pytest.mark.timeout(90)
def test_a_vendor_update_with_partial_metadata_pauses_and_a_reinvite_resumes(
    tmp_path: Path,
) -> None:
    """sipp as an SBC (it never sends RTP): UPDATE with partial metadata (agent 2002 now sends
    b_leg) and every stream inactive, 4 s, re-INVITE sendonly, 1 s, BYE. The media timeout
    (2.5 s) would have ended the session in the pause."""
    _, recs = _sipp_session(tmp_path, "siprec_transfer_uac.xml", "media_timeout_s = 2.5\n")
    assert [(r["update"], r["paused"], r["agent_aor"]) for r in recs] == [
        (False, False, "sip:1042@pbx.example.com"),
        (True, True, "sip:2002@pbx.example.com"),
        (True, False, "sip:2002@pbx.example.com"),
    ], recs
    assert recs[1]["agent"] == "bob" and recs[1]["by"] == "metadata"
    assert "sip:1042@pbx.example.com" not in recs[1]["participants"]


@pytest.mark.timeout(90)
def test_metadata_alone_in_a_reinvite_and_an_update_is_applied_and_answered(
    tmp_path: Path,
) -> None:
    """sipp as an SBC sending new metadata with no SDP (RFC 7866): a re-INVITE
    whose body is only metadata (agent 2002 now sends b_leg) gets 200 with our SDP as an offer
    (sipp checks it has one) and its ACK answers it; an UPDATE with only metadata (agent 1077)
    gets 200. pjsip 2.15.1 alone answered them 415 and 488 (sipp then fails): the admission
    gate (sip/gate.py) hands them to pjsip without their body. Both updates reach the call."""
    text, recs = _sipp_session(tmp_path, "siprec_metadata_only_uac.xml")
    assert [(r["update"], r["paused"], r["agent_aor"]) for r in recs] == [
        (False, False, "sip:1042@pbx.example.com"),
        (True, False, "sip:2002@pbx.example.com"),
        (True, False, "sip:1077@pbx.example.com"),
    ], recs
    assert recs[1]["agent"] == "bob" and recs[1]["by"] == "metadata"
    assert "Traceback" not in text and "admission control is off" not in text


def _supervise(ws, call_id: str, mode: str, ref: str) -> dict:  # type: ignore[no-untyped-def]
    ws.send(json.dumps({"type": "supervise", "id": ref, "call_id": call_id, "mode": mode}))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=15))
        if msg.get("id") == ref:
            return dict(msg)
    raise AssertionError(f"no answer to supervise {mode}")


@pytest.mark.timeout(150)
def test_listen_calls_the_supervisor_with_both_recorded_streams_mixed(tmp_path: Path) -> None:
    customer = write_wav(tmp_path / "customer.wav", tone(CUSTOMER_HZ, 30))
    agent = write_wav(tmp_path / "agent.wav", tone(AGENT_HZ, 30))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    sup_wav = write_wav(tmp_path / "sup.wav", tone(2200.0, 5))
    heard = tmp_path / "sup_heard.wav"
    procs: list[Proc] = []
    try:
        sup = peer("--play", str(sup_wav), "--record", str(heard))
        procs.append(sup)
        _, m = sup.wait_for(r"ready (\d+)")
        cfg = srs_config(
            tmp_path / "srs.toml", max_sessions=2, sup_uri=f"sip:sue@127.0.0.1:{m.group(1)}"
        )
        srs, ev, port, http = _start(tmp_path, cfg, "--asr", "off", store=False)
        procs.append(srs)
        client = _client(port, [customer, agent], meta, "--seconds", "25")
        procs.append(client)
        call_id = wait_event(ev, timeout=30, type="call_state", state="confirmed")["call_id"]
        with connect(f"ws://127.0.0.1:{http}/ws?token={SUE}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            for i, mode in enumerate(("whisper", "barge")):
                r = _supervise(ws, call_id, mode, f"n{i}")
                assert r["type"] == "error" and "not available on a recorded" in r["error"], r
            r = _supervise(ws, call_id, "listen", "l")
            assert r["type"] == "result" and "calling supervisor" in r["message"], r
            sup.wait_for(r"^recording", timeout=20)
            # a listen takes a call slot like a session: at max_sessions (2), the next
            # session is answered 503 with Retry-After, so the client fails over
            body = multipart([("application/sdp", sdp(["1", "2"])), (MT, METADATA)])
            busy = send_invite(port, *body)
            assert busy[-1][0] == 503 and busy[-1][1].get("retry-after") == "7", busy
            time.sleep(4.0)
            r = _supervise(ws, call_id, "off", "o")
            assert r["type"] == "result" and "disconnected" in r["message"], r
            sup.wait_for(r"^ended", timeout=15)  # `off` hung up the supervisor's phone
        client.p.wait(40)
        wait_event(ev, timeout=30, type="call_ended")
        assert srs.stop() == 0, srs.text
    finally:
        for p in procs:
            p.kill()
    assert "Traceback" not in srs.text and "Assertion" not in srs.text, srs.text
    x, rate = read_wav(heard)
    x = x[rate:]  # the first second: the bridge connecting
    levels = {
        hz: tone_level(x, rate, hz, reference=REFERENCE_HZ, quantile=0.8)
        for hz in (CUSTOMER_HZ, AGENT_HZ)
    }
    assert all(v > HEARD for v in levels.values()), levels  # both streams, mixed
    actions = [
        (e["data"]["mode"], e["data"]["ok"]) for e in events(ev) if e["type"] == "supervisor_action"
    ]
    assert actions == [("whisper", False), ("barge", False), ("listen", True), ("off", True)]


@pytest.mark.timeout(150)
def test_a_listen_needs_a_free_slot_and_a_busy_phone_is_an_event(tmp_path: Path) -> None:
    """Two sessions at max_sessions 2: a listen is refused ("no free call slot"). One session
    ends; the listen is placed, the supervisor's phone answers 486 (sipp): a
    `supervisor_action` (off, not ok) says so."""
    sup_port = free_udp_port()
    busy = Proc(
        ["/usr/bin/sipp", "-sf", str(ROOT / "tests" / "data" / "uas_busy.xml"), "-i",
         "127.0.0.1", "-p", str(sup_port), "-m", "1", "-nostdin", "-timeout", "60s"],
        cwd=tmp_path,
    )  # fmt: skip
    customer = write_wav(tmp_path / "customer.wav", tone(CUSTOMER_HZ, 30))
    agent = write_wav(tmp_path / "agent.wav", tone(AGENT_HZ, 30))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=2, sup_uri=f"sip:sue@127.0.0.1:{sup_port}")
    procs = [busy]
    try:
        srs, ev, port, http = _start(tmp_path, cfg, "--asr", "off", store=False)
        procs.append(srs)
        long = _client(port, [customer, agent], meta, "--seconds", "20")
        procs.append(long)
        long.wait_for(r"state CONFIRMED", timeout=30)
        short = _client(port, [customer, agent], meta, "--seconds", "4")
        procs.append(short)
        short.wait_for(r"state CONFIRMED", timeout=30)
        call_id = wait_event(ev, timeout=30, type="call_state", state="confirmed")["call_id"]
        with connect(f"ws://127.0.0.1:{http}/ws?token={SUE}", open_timeout=10) as ws:
            r = _supervise(ws, call_id, "listen", "full")
            assert r["type"] == "error" and "no free call slot" in r["error"], r
            assert short.p.wait(30) == 0, short.text
            wait_event(ev, timeout=20, type="call_ended")  # its session's end is through
            calls = {e["call_id"] for e in events(ev) if e["type"] == "call_ended"}
            live = str(call_id) if call_id not in calls else ""
            live = live or next(
                e["call_id"]
                for e in events(ev)
                if e["type"] == "call_started" and e["call_id"] not in calls
            )
            for attempt in range(50):  # as a supervisor would: again while pjsua still closes it
                r = _supervise(ws, live, "listen", f"busy{attempt}")
                if "still closing in pjsua" not in r.get("error", ""):
                    break
                time.sleep(0.1)
            assert r["type"] == "result", r
            failed = wait_event(ev, timeout=20, type="supervisor_action", ok=False, mode="off")
        assert long.p.wait(40) == 0, long.text
        assert srs.stop() == 0, srs.text
    finally:
        for p in procs:
            p.kill()
    assert failed["call_id"] == live
    assert failed["data"]["supervisor"] == "sue"
    assert "did not connect: 486 Busy Here" in failed["data"]["message"], failed
    assert "Traceback" not in srs.text and "Assertion" not in srs.text, srs.text


@pytest.mark.timeout(120)
def test_stopping_the_server_while_a_supervisor_listens_ends_every_call(tmp_path: Path) -> None:
    """The server stops mid-listen: the supervisor's phone and the recording client both get
    their BYE, and the process exits cleanly (no pjsua assertion at teardown)."""
    tone_wav = write_wav(tmp_path / "t.wav", tone(CUSTOMER_HZ, 30))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    procs: list[Proc] = []
    try:
        sup = peer("--play", str(tone_wav), "--record", str(tmp_path / "heard.wav"))
        procs.append(sup)
        _, m = sup.wait_for(r"ready (\d+)")
        sup_uri = f"sip:sue@127.0.0.1:{m.group(1)}"
        cfg = srs_config(tmp_path / "srs.toml", max_sessions=3, sup_uri=sup_uri)
        srs, ev, port, http = _start(tmp_path, cfg, "--asr", "off", store=False)
        procs.append(srs)
        client = _client(port, [tone_wav, tone_wav], meta, "--seconds", "60")
        procs.append(client)
        call_id = wait_event(ev, timeout=30, type="call_state", state="confirmed")["call_id"]
        with connect(f"ws://127.0.0.1:{http}/ws?token={SUE}", open_timeout=10) as ws:
            r = _supervise(ws, call_id, "listen", "l")
            assert r["type"] == "result", r
            sup.wait_for(r"^recording", timeout=20)
        assert srs.stop() == 0, srs.text
        sup.wait_for(r"^ended", timeout=15)
        assert client.p.wait(20) == 0, client.text
    finally:
        for p in procs:
            p.kill()
    assert "Traceback" not in srs.text and "Assertion" not in srs.text, srs.text
    ended = wait_event(ev, timeout=5, type="call_ended")
    assert ended["data"]["reason"] == "interrupted"


@pytest.mark.timeout(120)
def test_broken_metadata_in_every_update_is_a_few_lines_that_state_the_total(
    tmp_path: Path,
) -> None:
    """A client that sends broken metadata in an UPDATE every 0.25 s: the session goes on and
    its errors are said once, then counted (`… and N more mid-call updates ignored`), not one
    stderr line and `error` event per UPDATE; the totals are exact."""
    import re

    customer = write_wav(tmp_path / "customer.wav", tone(CUSTOMER_HZ, 10))
    agent = write_wav(tmp_path / "agent.wav", tone(AGENT_HZ, 10))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    broken = tmp_path / "broken.xml"
    broken.write_text("<recording><oops")
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=3)
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--asr", "off", store=False)
    client = None
    try:
        client = _client(
            port, [customer, agent], meta, "--seconds", "6", "--update-at", "1",
            "--update-metadata", str(broken), "--update-every", "0.25",
        )  # fmt: skip
        assert client.p.wait(40) == 0, client.text
        wait_event(ev, timeout=20, type="call_ended")
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    sent = client.text.count("\nupdated") + client.text.startswith("updated")
    assert sent >= 10, client.text

    def total(lines: list[str]) -> int:
        said = sum("new metadata mid-call ignored" in line for line in lines)
        counted = sum(
            int(m.group(1))
            for line in lines
            if (m := re.search(r"… and (\d+) more mid-call updates ignored", line))
        )
        return said + counted

    lines = [line for line in srs.text.splitlines() if "mid-call" in line]
    assert len(lines) <= 4, lines  # the server's lines and the call's warnings of its events
    said = [line for line in lines if line.startswith("assist: srs:")]
    assert total(said) == sent, (sent, lines)
    errors = [e["data"]["message"] for e in events(ev) if e["type"] == "error"]
    assert len(errors) <= 4 and total(errors) == sent, (sent, errors)
    assert "Traceback" not in srs.text, srs.text[-3000:]
