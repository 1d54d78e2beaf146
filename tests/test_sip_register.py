"""Registration against a real registrar (sipp, Debian's sip-tester) that refuses twice: the
plugin says so in one clear line each time, retries after 1 s then 2 s, and registers.

pjsip starts a new Call-ID after a failed REGISTER, so the registrar is two sipp runs on the
same port: one refusing two registrations, then one accepting (and taking the un-REGISTER)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.ports import free_udp_port
from tests.sip_helpers import Proc, registering_config, sipp_registrar


@pytest.mark.timeout(60)
def test_refused_registration_retries_with_backoff_then_registers(tmp_path: Path) -> None:
    port = free_udp_port()

    def sipp(scenario: str, calls: int) -> Proc:
        return sipp_registrar(tmp_path, port, scenario, calls)

    registrar = sipp("registrar_refuses.xml", 2)
    cfg = registering_config(tmp_path / "assist.toml", port)
    plugin = Proc(
        [sys.executable, "-m", "assist", "sip", "--config", str(cfg), "--no-server"]
        + ["--asr", "off"]
    )
    try:
        t1, m1 = plugin.wait_for(
            r"registration of .* refused: 403 Forbidden; retrying in 1\.[0-2] s"
        )
        t2, _ = plugin.wait_for(r"refused: 403 Forbidden; retrying in 2\.[0-5] s", timeout=10)
        assert registrar.p.wait(10) == 0, registrar.text
        registrar = sipp("registrar_accepts.xml", 1)
        t3, _ = plugin.wait_for(rf"registered sip:agent@127\.0\.0\.1 at sip:127\.0\.0\.1:{port}")
        assert plugin.stop() == 0, plugin.text
        assert registrar.p.wait(15) == 0, registrar.text  # it also got the un-REGISTER
    finally:
        plugin.kill()
        registrar.kill()
    assert 0.8 < t2 - t1 < 2.0, plugin.text
    assert 1.8 < t3 - t2 < 3.5, plugin.text
    assert re.search(rf"at sip:127\.0\.0\.1:{port} refused", m1.string)
    assert "Assertion" not in plugin.text
