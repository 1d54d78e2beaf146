"""An agent never becomes unreachable in silence (issue 21), with Kamailio as the registrar and
proxy (digest authentication, tests/sip_registrar.py) and baresip as the caller, on 127.0.0.1.

- Two phones on one account both keep a binding (each its own +sip.instance) and both ring.
- `assist sip call` with the phone's config does not take or remove the phone's binding.
- Kamailio restarted (every binding forgotten): the phone over TCP notices the closed connection,
  shows the gap, and is registered again within seconds.
- A wrong password says so, names the user, and is not retried in a tight loop.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.certs import make_certs
from tests.sip_helpers import Proc, assist, baresip, events, plugin_config, speech_wav, wait_event
from tests.sip_registrar import PASSWORD, Registrar, free_port

DATA = Path(__file__).with_name("data")


def _phone(tmp: Path, name: str, reg: Registrar, **sip: object) -> tuple[Proc, Path]:
    cfg = plugin_config(
        tmp / f"{name}.toml",
        registrar=reg.uri(transport=str(sip.get("transport", "udp"))),
        username="agent",
        password=PASSWORD,
        **sip,
    )
    ev = tmp / f"{name}.jsonl"
    proc = assist(
        "sip",
        "--config",
        str(cfg),
        "--events",
        str(ev),
        "--no-server",
        "--asr",
        "off",
        env={"XDG_STATE_HOME": str(tmp / "state")},
    )
    return proc, ev


def _rang(ev: Path) -> list[str]:
    return [
        e["call_id"]
        for e in events(ev)
        if e["type"] == "call_state" and e["data"]["state"] == "ringing"
    ]


@pytest.mark.timeout(90)
def test_two_phones_on_one_account_both_stay_reachable(tmp_path: Path) -> None:
    reg = Registrar(tmp_path / "kamailio").start()
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=5)
    procs: list[Proc] = []
    try:
        # over TCP/TLS pjsua puts +sip.instance in the Contact, and Kamailio keys bindings by it
        a, ev_a = _phone(tmp_path, "a", reg, transport="tcp")
        procs.append(a)
        a.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        b, ev_b = _phone(tmp_path, "b", reg, transport="tcp")
        procs.append(b)
        b.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        b.wait_for(r"has 1 other binding", timeout=5)
        caller = baresip(tmp_path / "caller", wav, seconds=6, dial=reg.uri("agent"))
        procs.append(caller)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (_rang(ev_a) and _rang(ev_b)):
            time.sleep(0.1)
        assert _rang(ev_a) and _rang(ev_b), (a.text, b.text, reg.text)
        assert a.stop() == 0 and b.stop() == 0
    finally:
        for p in procs:
            p.kill()
        reg.stop()
    urns = {re.search(r"instance id (\S+)", p.text)[1] for p in (a, b)}  # type: ignore[index]
    assert len(urns) == 2, (a.text, b.text)
    assert "another live phone here has the kept one" in b.text
    for p in (a, b):
        assert "Traceback" not in p.text and "Assertion" not in p.text, p.text


@pytest.mark.timeout(90)
def test_sip_call_with_the_phones_config_leaves_the_phone_reachable(tmp_path: Path) -> None:
    """A one-off `assist sip call` with the agent's config used to register with the phone's
    instance id, replace its binding and remove it on exit (callers then got 404)."""
    reg = Registrar(tmp_path / "kamailio").start()
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=4)
    procs: list[Proc] = []
    try:
        phone, ev = _phone(tmp_path, "phone", reg, transport="tcp")
        procs.append(phone)
        phone.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        port = free_port()
        callee = baresip(tmp_path / "callee", wav, seconds=30, port=port)
        procs.append(callee)
        callee.wait_for(r"baresip is ready", timeout=10)
        one_off = assist(
            *(
                "sip",
                "call",
                f"sip:customer@127.0.0.1:{port}",
                "--config",
                str(tmp_path / "phone.toml"),
            ),
            *("--no-server", "--asr", "off", "--duration", "3"),
            env={"XDG_STATE_HOME": str(tmp_path / "state")},
        )
        procs.append(one_off)
        assert one_off.p.wait(30) == 0, one_off.text
        assert "registered sip:agent" not in one_off.text, one_off.text
        caller = baresip(tmp_path / "caller", wav, seconds=5, dial=reg.uri("agent"))
        procs.append(caller)
        wait_event(ev, timeout=20, type="call_state", state="ringing")
        assert phone.stop() == 0, phone.text
    finally:
        for p in procs:
            p.kill()
        reg.stop()
    assert "NO BINDING for" not in reg.text, reg.text  # the registrar's 404, logged by name


def _nth_line(proc: Proc, pattern: str, n: int, timeout: float) -> float:
    """The time of the n-th line of `proc` matching `pattern` (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [t for t, line in list(proc.lines) if re.search(pattern, line)]
        if len(hits) >= n:
            return hits[n - 1]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} lines like {pattern!r}:\n{proc.text}")


def _kamailio_ready(reg: Registrar) -> float:
    """Start Kamailio again; the time it listens."""
    reg.start()
    return time.time()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_restarted_registrar_is_noticed_and_the_gap_shown(tmp_path: Path, transport: str) -> None:
    """Kamailio restarted (every binding forgotten): the phone over TCP or TLS sees its
    connection close, registers again as soon as Kamailio is back, and the gap is on the agent's
    page (`phone` messages over the overlay's websocket) and in the --events stream."""
    certs = make_certs(tmp_path / "certs") if transport == "tls" else None
    reg = Registrar(tmp_path / "kamailio", certs).start()
    tls = (
        {"tls_ca": str(certs["ca"]), "tls_cert": str(certs["cert"]), "tls_key": str(certs["key"])}
        if certs
        else {}
    )
    token = "agent-token-for-the-restart-test"
    overlay = f'[overlay]\nport = 0\n[[overlay.agent]]\nname = "alice"\ntoken = "{token}"\n'
    cfg = plugin_config(
        tmp_path / "phone.toml",
        overlay=overlay,
        registrar=reg.uri(transport=transport),
        username="agent",
        password=PASSWORD,
        transport=transport,
        **tls,
    )
    ev = tmp_path / "phone.jsonl"
    phone = assist(
        "sip",
        "--config",
        str(cfg),
        "--events",
        str(ev),
        "--asr",
        "off",
        env={"XDG_STATE_HOME": str(tmp_path / "state")},
    )
    seen: list[tuple[float, str, str]] = []
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=4)
    procs = [phone]
    try:
        _, m = phone.wait_for(r"Overlay: http://127\.0\.0\.1:(\d+)/")
        phone.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        # TCP keep-alive on the connection to the registrar (sip.keepalive_s): the kernel's view
        port = reg.tls_port if transport == "tls" else reg.port
        sockets = subprocess.run(
            ["ss", "-tnoH", "state", "established", f"( dport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        assert "timer:(keepalive" in sockets, sockets
        with connect(f"ws://127.0.0.1:{m[1]}/ws?token={token}", open_timeout=10) as ws:
            while json.loads(ws.recv(timeout=10)).get("registration") != "registered":
                pass  # hello, then the state as it is now
            reg.stop()
            time.sleep(2.0)  # down for 2 s: the phone's REGISTERs are refused meanwhile
            back_at = _kamailio_ready(reg)
            t_reg = _nth_line(phone, r"registered sip:agent@127\.0\.0\.1 at ", 2, timeout=15)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    msg = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    if seen and seen[-1][1] == "registered":
                        break
                    continue
                if msg.get("type") == "phone":
                    seen.append((time.time(), msg["registration"], msg["message"]))
        # registered once more: a caller through Kamailio reaches the phone again
        caller = baresip(tmp_path / "caller", wav, seconds=5, dial=reg.uri("agent"))
        procs.append(caller)
        wait_event(ev, timeout=20, type="call_state", state="ringing")
        assert phone.stop() == 0, phone.text
    finally:
        for p in procs:
            p.kill()
        reg.stop()
    lines = [line for line in phone.text.splitlines() if line.startswith("assist: sip:")]
    registered = [line for line in lines if " registered sip:agent" in line]
    assert len(registered) == 2, lines
    assert any("connection to the registrar" in line and "lost" in line for line in lines), lines
    print(f"registered again {t_reg - back_at:.2f} s after Kamailio listened again; {seen}")
    # registered again within a few seconds of Kamailio listening again
    assert t_reg - back_at < 4.0, (t_reg - back_at, lines)
    states = [s for _, s, _ in seen]  # what the page was told since the registrar stopped
    assert states[0] == "failing" and "lost" in seen[0][2], seen
    assert "failing" in states and states[-1] == "registered", seen
    failing = [
        e for e in events(ev) if e["type"] == "error" and e["data"]["source"] == "registration"
    ]
    assert failing, events(ev)
    assert "Traceback" not in phone.text and "Assertion" not in phone.text, phone.text


@pytest.mark.timeout(60)
def test_a_wrong_password_names_the_user_and_is_not_retried_at_once(tmp_path: Path) -> None:
    reg = Registrar(tmp_path / "kamailio").start()
    cfg = plugin_config(
        tmp_path / "phone.toml",
        registrar=reg.uri(),
        username="agent",
        password="not-the-password",
    )
    phone = assist("sip", "--config", str(cfg), "--no-server", "--asr", "off")
    try:
        _, m = phone.wait_for(
            r"assist: sip: the registrar refused the credentials for (\S+) .*", timeout=20
        )
        time.sleep(4)  # the old backoff would have tried again twice by now
        assert phone.stop() == 0, phone.text
    finally:
        phone.kill()
        reg.stop()
    assert m[1] == "agent"
    assert "check sip.username and sip.password" in m[0]
    assert re.search(r"trying again in [56] min$", m[0]), m[0]  # 300 s plus up to 25 % jitter
    lines = [line for line in phone.text.splitlines() if line.startswith("assist: sip:")]
    assert sum("refused" in line for line in lines) == 1, lines
    assert sum(line.count("REGISTER sip:agent") for line in reg.text.splitlines()) == 0
    assert "Traceback" not in phone.text and "Assertion" not in phone.text, phone.text


def since_first_line(plugin: Proc) -> float:
    """Seconds from the plugin's first line (its speech set-up, said before the SIP endpoint
    starts) to now, just after it exited: the command's own time, without the seconds a
    loaded machine takes to start Python and import its libraries."""
    plugin._t.join(5)  # every line read
    assert plugin.lines, "the plugin said nothing"
    return time.time() - plugin.lines[0][0]


@pytest.mark.timeout(60)
def test_an_unanswered_call_ends_at_the_ring_timeout(tmp_path: Path) -> None:
    port = free_port()
    callee = Proc(
        ["/usr/bin/sipp", "-sf", str(DATA / "uas_rings.xml"), "-i", "127.0.0.1", "-p", str(port)]
        + ["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"],
        cwd=tmp_path,
    )
    cfg = plugin_config(tmp_path / "assist.toml", ring_timeout_s=3)
    uri = f"sip:bob@127.0.0.1:{port}"
    plugin = assist("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off")
    try:
        assert plugin.p.wait(30) == 1, plugin.text
        took = since_first_line(plugin)
        assert callee.p.wait(10) == 0, callee.text  # it got our CANCEL
    finally:
        plugin.kill()
        callee.kill()
    errors = [line for line in plugin.text.splitlines() if line.startswith("assist: error")]
    assert errors == [
        f"assist: error: the call to {uri} failed: no answer within 3 s (sip.ring_timeout_s)"
    ], plugin.text
    assert took < 15, took


@pytest.mark.timeout(60)
def test_a_udp_callee_nothing_listens_for_fails_at_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = plugin_config(tmp_path / "assist.toml")
    uri = f"sip:bob@127.0.0.1:{port}"
    plugin = assist("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off")
    try:
        assert plugin.p.wait(30) == 1, plugin.text
        took = since_first_line(plugin)
    finally:
        plugin.kill()
    errors = [line for line in plugin.text.splitlines() if line.startswith("assist: error")]
    assert errors == [
        f"assist: error: the call to {uri} failed: {uri} unreachable: nothing listens on "
        f"127.0.0.1 port {port} (udp)"
    ], plugin.text
    assert took < 12, took  # SIP's own timeout is 32 s


def test_audio_default_is_refused_with_one_line(tmp_path: Path) -> None:
    cfg = plugin_config(tmp_path / "assist.toml", audio="default")
    out = subprocess.run(
        [sys.executable, "-m", "assist", "sip", "--config", str(cfg), "--no-server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert out.stderr.splitlines() == [
        f"assist: error: {cfg}: sip.audio: expected \"null\" (headless), got 'default' "
        '("default" needs a sound card and the pjsua2-python wheel has no audio device '
        "support; agent_play / agent_record_dir give scripted audio)"
    ], out.stderr


@pytest.mark.timeout(60)
def test_a_call_whose_credentials_the_proxy_refuses_says_so(tmp_path: Path) -> None:
    """`sip call` through Kamailio with a wrong password: 407 twice; the one line names the
    user instead of "407 Proxy Authentication Required"."""
    reg = Registrar(tmp_path / "kamailio").start()
    cfg = plugin_config(
        tmp_path / "call.toml",
        registrar=reg.uri(),
        username="agent",
        password="not-the-password",
    )
    uri = reg.uri("customer")
    plugin = assist(
        *("sip", "call", uri, "--config", str(cfg), "--no-server", "--asr", "off"),
        env={"XDG_STATE_HOME": str(tmp_path / "state")},
    )
    try:
        assert plugin.p.wait(30) == 1, plugin.text
    finally:
        plugin.kill()
        reg.stop()
    errors = [line for line in plugin.text.splitlines() if line.startswith("assist: error")]
    assert errors == [
        f"assist: error: the call to {uri} failed: the proxy refused the credentials for agent "
        "(Proxy Authentication Required)"
    ], plugin.text
