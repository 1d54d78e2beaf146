"""An agent never becomes unreachable in silence (issue 21), with Kamailio as the registrar and
proxy (digest authentication, tests/sip_registrar.py) and baresip as the caller, on 127.0.0.1.

- Two phones on one account both keep a binding (each its own +sip.instance) and both ring.
- `assist sip call` with the phone's config does not take or remove the phone's binding.
- Kamailio restarted (every binding forgotten): the phone over TCP notices the closed connection,
  shows the gap, and is registered again within seconds.
- A wrong password says so, names the user, and is not retried in a tight loop.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.sip_helpers import Proc, assist, baresip, events, plugin_config, speech_wav, wait_event
from tests.sip_registrar import PASSWORD, Registrar


def _phone(tmp: Path, name: str, reg: Registrar, rtp_port: int, **sip: object) -> tuple[Proc, Path]:
    cfg = plugin_config(
        tmp / f"{name}.toml",
        registrar=reg.uri(transport=str(sip.get("transport", "udp"))),
        username="agent",
        password=PASSWORD,
        rtp_port=rtp_port,
        **sip,
    )
    ev = tmp / f"{name}.jsonl"
    proc = assist(
        "sip", "--config", str(cfg), "--events", str(ev), "--no-server", "--asr", "off",
        env={"XDG_STATE_HOME": str(tmp / "state")},
    )
    return proc, ev


def _rang(ev: Path) -> list[str]:
    return [
        e["call_id"] for e in events(ev) if e["type"] == "call_state" and e["data"]["state"] == "ringing"
    ]


@pytest.mark.timeout(90)
def test_two_phones_on_one_account_both_stay_reachable(tmp_path: Path) -> None:
    reg = Registrar(tmp_path / "kamailio").start()
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=5)
    procs: list[Proc] = []
    try:
        # over TCP/TLS pjsua puts +sip.instance in the Contact, and Kamailio keys bindings by it
        a, ev_a = _phone(tmp_path, "a", reg, 7500, transport="tcp")
        procs.append(a)
        a.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        b, ev_b = _phone(tmp_path, "b", reg, 7520, transport="tcp")
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
