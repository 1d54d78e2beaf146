"""`assist srs` against real recording clients on loopback.

A pjsua2 SIPREC client (tests/siprec_client.py: `Require: siprec`, two labelled `sendonly`
streams, RFC 7865 metadata in a multipart body, each stream its own WAV) records an angry
customer and an agent into the server, run as a user runs it (store on, `--asr auto`): the
agent's overlay, with a token bound to the agent's AoR, gets the customer's transcript and
`negative_phrase`; another agent's token sees nothing of it; the call is stored and
`assist report` writes its report. Hand-written INVITEs (tests/siprec_raw.py) bring what a
library never sends (broken multipart, bad XML, three streams, no SDP) and one session too
many: each is refused with its SIP status and an `error` event, and the server goes on.
Every process is ended in `finally`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.ports import free_rtp_base, free_udp_port
from tests.sip_helpers import ROOT, Proc, assist, events, speech_wav, stored_calls, wait_event
from tests.siprec_raw import METADATA, multipart, sdp, send_invite

CLIENT = ROOT / "tests" / "siprec_client.py"
CUSTOMER_SAYS = "This is ridiculous. I want to cancel my account."
AGENT_SAYS = "Thank you for calling Acme, my name is Sam. How can I help you today?"
VOICE, WPM = "en-gb", 160  # as tests/test_sip_g711_words.py: one utterance, words tiny.en gets
ALICE, BOB, SUE = "alice-token-0123456789", "bob-token-0123456789", "sue-token-0123456789"


def srs_config(path: Path, *, max_sessions: int = 4, extra: str = "", sup_uri: str = "") -> Path:
    """An `assist srs` config on loopback: alice (1001) and bob (2002) as agents, sue as the
    supervisor (`sup_uri`: her phone, for listen); `extra` goes into the [srs] table."""
    sip = f'sip = "{sup_uri}"\n' if sup_uri else ""
    path.write_text(
        f"""[srs]
bind = "127.0.0.1"
port = 0
rtp_port = {free_rtp_base()}
max_sessions = {max_sessions}
retry_after_s = 7
agents = ["1*", "2*"]
{extra}
[overlay]
port = 0

[[overlay.agent]]
name = "alice"
token = "{ALICE}"
aors = ["sip:1001@pbx.example.com"]

[[overlay.agent]]
name = "bob"
token = "{BOB}"
aors = ["2002"]

[[overlay.supervisor]]
name = "sue"
token = "{SUE}"
{sip}"""
    )
    return path


def _metadata(path: Path, agent_aor: str = "sip:1001@pbx.example.com") -> Path:
    path.write_text(METADATA.replace("sip:1001@pbx.example.com", agent_aor))
    return path


class Watcher:
    """A websocket client with a token, collecting every message on a thread."""

    def __init__(self, port: int, token: str) -> None:
        self._cm = connect(f"ws://127.0.0.1:{port}/ws?token={token}", open_timeout=10)
        self.ws = self._cm.__enter__()
        self.ws.send(json.dumps({"type": "subscribe"}))  # every call this token may see
        self.messages: list[dict[str, Any]] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                self.messages.append(json.loads(text))
        except Exception:  # noqa: BLE001, S110 - closed at the end of the test
            pass

    def of(self, call_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("call_id") == call_id]

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self._t.join(5)


def _start(
    tmp_path: Path, cfg: Path, *extra: str, store: bool = True
) -> tuple[Proc, Path, int, int]:
    """`assist srs` with this config: (process, events file, SIP port, overlay port or 0).
    `store`: the call store as by default ($ASSIST_DB, conftest's temp file), else `--no-store`."""
    ev = tmp_path / "events.jsonl"
    keep = () if store else ("--no-store",)
    srs = assist("srs", "--config", str(cfg), "--events", str(ev), *keep, *extra)
    _, m = srs.wait_for(r"listening on udp\+tcp port (\d+)", timeout=60)
    sip_port = int(m.group(1))
    http = 0
    if "--no-server" not in extra:
        _, h = srs.wait_for(r"Overlay: http://127\.0\.0\.1:(\d+)/", timeout=10)
        http = int(h.group(1))
    return srs, ev, sip_port, http


def _client(port: int, wavs: list[Path], meta: Path | None, *args: str) -> Proc:
    argv = [sys.executable, str(CLIENT), "--target", f"sip:srs@127.0.0.1:{port}"]
    argv += ["--rtp-port", str(free_rtp_base()), "--play", *map(str, wavs)]
    if meta is not None:
        argv += ["--metadata", str(meta)]
    return Proc([*argv, *args])


def _wavs(tmp_path: Path) -> tuple[Path, Path]:
    customer = speech_wav(
        tmp_path / "customer.wav", CUSTOMER_SAYS, seconds=10, rate=16_000, voice=VOICE, wpm=WPM
    )
    agent = speech_wav(
        tmp_path / "agent.wav", AGENT_SAYS, seconds=10, rate=16_000, voice="en-us", wpm=WPM
    )
    return customer, agent


@pytest.mark.timeout(180)
def test_a_recorded_call_is_coached_on_the_agents_own_page_only(tmp_path: Path) -> None:
    customer, agent = _wavs(tmp_path)
    srs, ev, sip_port, http = _start(tmp_path, srs_config(tmp_path / "srs.toml"))
    watchers: list[Watcher] = []
    client = None
    try:
        alice, bob, sue = (Watcher(http, t) for t in (ALICE, BOB, SUE))
        watchers += [alice, bob, sue]
        client = _client(
            sip_port, [customer, agent], _metadata(tmp_path / "meta.xml"), "--seconds", "11"
        )
        client.wait_for(r"state CONFIRMED", timeout=30)
        ended = wait_event(ev, timeout=60, type="call_ended")
        call_id = str(ended["call_id"])
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        for w in watchers:
            w.close()
        srs.kill()
        if client is not None:
            client.kill()
    assert "Traceback" not in srs.text and "Assertion" not in srs.text, srs.text
    assert "at most 4 sessions" in srs.text  # the wheel's 4 call slots, none kept spare
    mine = [e for e in events(ev) if e["call_id"] == call_id]
    started = next(e["data"] for e in mine if e["type"] == "call_started")
    assert started["source"] == "srs" and started["agent"] == "alice"
    rec = next(e["data"] for e in mine if e["type"] == "recording")
    assert rec["by"] == "metadata" and rec["agent_aor"] == "sip:1001@pbx.example.com"
    # the recording client's BYE does not say which party hung up
    assert [e["data"]["by"] for e in mine if e["type"] == "hangup"] == ["unknown"]
    assert rec["customer_aor"] == "sip:+15550001111@carrier.example"
    # the agent's page: the customer's words (Whisper finals) and the prompt on them
    seen = alice.of(call_id)
    said = " ".join(
        m["data"]["text"]
        for m in seen
        if m["type"] == "transcript" and m["data"]["speaker"] == "customer"
    ).lower()
    assert "ridiculous" in said or "cancel" in said, said
    rules = [m["data"]["rule"] for m in seen if m["type"] == "prompt"]
    assert "negative_phrase" in rules, rules
    agent_said = " ".join(
        m["data"]["text"]
        for m in seen
        if m["type"] == "transcript" and m["data"]["speaker"] == "agent"
    ).lower()
    assert "calling" in agent_said, agent_said  # the agent's stream is the agent's side
    assert bob.of(call_id) == []  # another agent sees nothing of it
    assert any(m["type"] == "prompt" for m in sue.of(call_id))  # the supervisor sees all
    stored = {c["call_id"]: c for c in stored_calls()}
    assert stored[call_id]["source"] == "srs" and stored[call_id]["agent"] == "alice"
    report = assist("report", call_id, "-o", str(tmp_path / "report.html"))
    assert report.p.wait(60) == 0, report.text
    assert (tmp_path / "report.html").stat().st_size > 1000


@pytest.mark.timeout(120)
def test_what_cannot_be_recorded_is_refused_and_the_server_goes_on(tmp_path: Path) -> None:
    customer, agent = _wavs(tmp_path)
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=1)
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--no-store", "--asr", "off")
    client = None
    try:
        cases = [
            (*multipart([("application/sdp", sdp(["1", "2", "3"])), (MT, METADATA)]), 488),
            ('multipart/mixed;boundary="nothing-here"', "no boundary in this body", 400),
            (*multipart([("application/sdp", sdp(["1", "2"])), (MT, "<recording><oops")]), 400),
            (*multipart([(MT, METADATA)]), 415),  # no SDP at all: pjsip refuses it itself
            ("application/sdp", sdp(["1"]), 488),
        ]
        for ctype, body, code in cases:
            got = send_invite(port, ctype, body)
            assert got[-1][0] == code, (body[:80], got)
        # one session at a time: the second gets 503 with Retry-After
        client = _client(port, [customer, agent], _metadata(tmp_path / "m.xml"), "--seconds", "6")
        client.wait_for(r"state CONFIRMED", timeout=30)
        busy = send_invite(port, *multipart([("application/sdp", sdp(["1", "2"])), (MT, METADATA)]))
        assert busy[-1][0] == 503 and busy[-1][1].get("retry-after") == "7", busy
        ended = wait_event(ev, timeout=40, type="call_ended")
        assert ended["data"]["reason"] == "hangup"
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    errors = [e["data"] for e in events(ev) if e["type"] == "error" and e["call_id"] == ""]
    messages = [e["message"] for e in errors]
    assert len(errors) == 5 and all(e["source"] == "srs" for e in errors), messages
    assert any("3 audio streams" in m for m in messages), messages
    assert any("not well-formed" in m for m in messages), messages
    assert any("503 busy" in m for m in messages), messages
    assert "Traceback" not in srs.text, srs.text


MT = "application/rs-metadata+xml"


@pytest.mark.timeout(120)
def test_no_metadata_falls_back_to_stream_order_and_says_so(tmp_path: Path) -> None:
    """No metadata part (over TCP, the transport for large metadata): the second stream is the
    agent's (the default), and the `recording` event says why; a re-INVITE with metadata then
    names the parties (`update`)."""
    customer, agent = _wavs(tmp_path)
    cfg = srs_config(tmp_path / "srs.toml")
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--no-store", "--asr", "off")
    client = None
    try:
        client = _client(
            port, [customer, agent], None, "--seconds", "5", "--reinvite-at", "2", "--tcp",
            "--reinvite-metadata", str(_metadata(tmp_path / "m.xml", "sip:2002@pbx.example.com")),
        )  # fmt: skip
        first = wait_event(ev, timeout=30, type="recording")
        assert first["data"]["by"] == "stream_order"
        assert first["data"]["note"] == "no recording metadata"
        update = wait_event(ev, timeout=30, type="recording", update=True)
        assert update["data"]["agent_aor"] == "sip:2002@pbx.example.com"
        assert update["data"]["by"] == "metadata"
        wait_event(ev, timeout=30, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    speech = {e["data"]["speaker"] for e in events(ev) if e["type"] == "speech"}
    assert speech == {"agent", "customer"}  # both streams reached their taps
    after = [e for e in events(ev) if e["type"] == "speech" and e["t"] > update["t"] + 0.5]
    assert after, "no audio analysed after the re-INVITE"  # the taps survived it


@pytest.mark.timeout(120)
def test_bye_mid_utterance_still_decodes_the_last_words(tmp_path: Path) -> None:
    """The client ends the session (BYE) while the customer is still talking: the words said
    before the BYE come out as a final transcript, and the call ends as a hangup."""
    said = "I have been waiting for an hour and nobody has called me back about my internet."
    customer = speech_wav(tmp_path / "c.wav", said, seconds=10, rate=16_000, voice=VOICE, wpm=WPM)
    _, agent = _wavs(tmp_path)
    cfg = srs_config(tmp_path / "srs.toml")
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--no-store")
    client = None
    try:
        meta = _metadata(tmp_path / "m.xml")
        client = _client(port, [customer, agent], meta, "--seconds", "3.5")
        ended = wait_event(ev, timeout=60, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    assert ended["data"]["reason"] == "hangup"
    finals = [
        e["data"]["text"].lower()
        for e in events(ev)
        if e["type"] == "transcript"
        and e["data"]["speaker"] == "customer"
        and e["data"]["kind"] == "final"
    ]
    assert any("waiting" in f for f in finals), finals
    assert not any("internet" in f for f in finals), finals  # said after the BYE: not heard


def _sipp(tmp_path: Path, scenario: str, port: int, timeout_s: int) -> Proc:
    return Proc(
        ["/usr/bin/sipp", "-sf", str(ROOT / "tests" / "data" / scenario), "-m", "1",
         "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
         "-timeout", str(timeout_s), "-timeout_error", "-nostdin", f"127.0.0.1:{port}"],
        cwd=tmp_path,
    )  # fmt: skip


def _sipp_session(
    tmp_path: Path, scenario: str, extra: str = "", *, timeout_s: int = 40
) -> tuple[str, list[dict[str, Any]]]:
    """One recording session that sipp plays from `scenario` against `assist srs` (no pages, no
    words, no store), ended by the client's BYE: the server's output and its recording events.
    `timeout_s`: sipp's own bound on the scenario."""
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=3, extra=extra)
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--asr", "off", store=False)
    sipp = None
    try:
        sipp = _sipp(tmp_path, scenario, port, timeout_s)
        assert sipp.p.wait(40) == 0, sipp.text + srs.text[-3000:]
        ended = wait_event(ev, timeout=20, type="call_ended")
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if sipp is not None:
            sipp.kill()
    assert ended["data"]["reason"] == "hangup", srs.text
    return srs.text, [e["data"] for e in events(ev) if e["type"] == "recording"]


@pytest.mark.timeout(90)
def test_a_vendor_style_session_from_sipp(tmp_path: Path) -> None:
    """sipp (Debian sip-tester) as an SBC: pre-RFC metadata first, `application/rs-metadata`,
    labels a_leg/b_leg; the agent (b_leg, sip:1042@...) is found from the metadata, and the
    BYE ends the call (a hang-up)."""
    _, recs = _sipp_session(tmp_path, "siprec_vendor_uac.xml", timeout_s=30)
    rec = recs[0]
    assert rec["agent_aor"] == "sip:1042@pbx.example.com" and rec["by"] == "metadata"
    assert rec["customer_aor"] == "sip:+15550009999@carrier.example"
    assert rec["session_id"] == "vendor-session-1"


@pytest.mark.timeout(120)
def test_over_tls_with_srtp_required(tmp_path: Path) -> None:
    """SIP over TLS (a certificate the test makes) and SRTP (SDES) required on both sides, as
    SBCs send recordings: the session is answered, both encrypted streams are analysed."""
    from tests.certs import make_certs

    certs = make_certs(tmp_path / "certs")
    customer, agent = _wavs(tmp_path)
    cfg = srs_config(tmp_path / "srs.toml")
    cfg.write_text(
        cfg.read_text().replace(
            "[srs]\n",
            f'[srs]\ntransport = "tls"\nsrtp = "mandatory"\ntls_cert = "{certs["cert"]}"\n'
            f'tls_key = "{certs["key"]}"\n',
        )
    )
    ev = tmp_path / "events.jsonl"
    srs = assist("srs", "--config", str(cfg), "--events", str(ev), "--no-server", "--no-store",
                 "--asr", "off")  # fmt: skip
    client = None
    try:
        _, m = srs.wait_for(r"listening on tls port (\d+)", timeout=60)
        meta = _metadata(tmp_path / "m.xml")
        client = _client(
            int(m.group(1)), [customer, agent], meta, "--seconds", "5", "--tls-ca", str(certs["ca"])
        )
        client.wait_for(r"state CONFIRMED", timeout=30)
        wait_event(ev, timeout=30, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if client is not None:
            client.kill()
    speech = {e["data"]["speaker"] for e in events(ev) if e["type"] == "speech"}
    assert speech == {"agent", "customer"}, srs.text  # both SRTP streams decrypted and tapped
    rec = next(e["data"] for e in events(ev) if e["type"] == "recording")
    assert rec["agent_aor"] == "sip:1001@pbx.example.com"


@pytest.mark.timeout(90)
def test_a_session_whose_media_stops_is_ended_by_the_server(tmp_path: Path) -> None:
    """No RTP on any stream for `media_timeout_s`: the server sends the BYE itself (sipp waits
    for it) and the call ends as `dropped`."""
    cfg = srs_config(tmp_path / "srs.toml")
    cfg.write_text(cfg.read_text().replace("[srs]\n", "[srs]\nmedia_timeout_s = 1.0\n"))
    srs, ev, port, _ = _start(tmp_path, cfg, "--no-server", "--no-store", "--asr", "off")
    sipp = None
    try:
        sipp = _sipp(tmp_path, "siprec_silent_uac.xml", port, timeout_s=30)
        assert sipp.p.wait(40) == 0, sipp.text  # it got the server's BYE
        ended = wait_event(ev, timeout=20, type="call_ended")
        assert srs.stop() == 0, srs.text
    finally:
        srs.kill()
        if sipp is not None:
            sipp.kill()
    assert ended["data"]["reason"] == "dropped"
    assert "media timeout (no RTP for 1 s)" in srs.text


IN_NETNS = """
import re, socket, subprocess, sys
low, high, cfg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # TCP on the lower port, as an
held.bind(("127.0.0.1", low))  # outgoing connection's local end would hold it
held.listen()
for _ in range(4):  # the OS gives UDP either port: the lower one half the time
    srs = subprocess.Popen(
        [sys.executable, "-m", "assist", "srs", "--config", cfg, "--no-server", "--no-store",
         "--asr", "off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    seen = ""
    for line in srs.stderr:
        seen += line
        m = re.search(r"listening on udp\\+tcp port (\\d+)", line)
        if m:
            break
    srs.terminate()
    rest = srs.communicate(timeout=30)[1]
    if not m:
        sys.exit("no listening line: " + (seen + rest)[-2000:])
    print(m.group(1), flush=True)
"""


@pytest.mark.timeout(180)
def test_port_0_finds_a_port_free_for_both_udp_and_tcp(tmp_path: Path) -> None:
    """`port = 0`: the port the OS gave UDP was once taken for TCP on a busy machine, and the
    server exited ("cannot listen for SIP … (tcp): Address already in use"). In a network
    namespace of its own (`unshare -rn`: no root needed) whose ephemeral range is two ports, the
    lower held by a TCP socket, it must find the upper one every time."""
    low, high = 40000, 40001
    shell = (
        f'ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="{low} {high}" && exec "$@"'
    )
    cfg = srs_config(tmp_path / "srs.toml")
    r = subprocess.run(
        ["unshare", "-rn", "sh", "-c", shell, "sh", sys.executable, "-c", IN_NETNS,
         str(low), str(high), str(cfg)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == [str(high)] * 4, r.stdout
