"""A registration that keeps failing is shown on both pages, live, in Debian Chromium: the
agent's overlay says calls cannot reach the phone (and why), the supervisor console's header
turns red with the registrar's answer; once the registrar accepts, the overlay's banner goes
and the console says "phone registered". The registrar is sipp (refusing twice with 403, then
a second sipp accepting on the same port), the plugin runs as a user runs it (`assist sip`,
store on, its own overlay server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser_pages import open_page
from tests.ports import free_udp_port
from tests.sip_helpers import Proc, assist, registering_config, sipp_registrar


@pytest.mark.timeout(90)
def test_failing_registration_is_shown_on_the_overlay_and_the_console(
    tmp_path: Path, browser: Browser
) -> None:
    port = free_udp_port()

    def sipp(scenario: str, calls: int) -> Proc:
        return sipp_registrar(tmp_path, port, scenario, calls, timeout_s=40)

    registrar = sipp("registrar_refuses.xml", 2)
    cfg = registering_config(tmp_path / "assist.toml", port)
    plugin = assist("sip", "--config", str(cfg), "--port", "0", "--asr", "off")
    try:
        _, agent_url = plugin.wait_for(r"Overlay: (\S+)")
        _, sup_url = plugin.wait_for(r"Supervisor: (\S+)")
        plugin.wait_for(r"refused: 403 Forbidden; retrying in 1\.[0-2] s")
        overlay = open_page(browser, agent_url[1])
        console = open_page(browser, sup_url[1], width=1280, height=800)
        banner = overlay.locator("#registration")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Phone not registered")
        expect(banner).to_contain_text("403 Forbidden")
        header = console.locator("#phone")
        expect(header).to_have_class("failing")
        expect(header).to_contain_text("403 Forbidden")
        assert registrar.p.wait(15) == 0, registrar.text
        registrar = sipp("registrar_accepts.xml", 1)
        plugin.wait_for(r"registered sip:agent@127\.0\.0\.1", timeout=20)
        expect(banner).to_be_hidden()
        expect(header).to_have_class("registered")
        expect(header).to_have_text("phone registered")
        # a page opened now gets the current state after its hello
        late = open_page(browser, sup_url[1], width=1280, height=800)
        expect(late.locator("#phone")).to_have_text("phone registered")
        for page in (overlay, console, late):
            assert not page.errors, page.errors  # type: ignore[attr-defined]
        assert plugin.stop() == 0, plugin.text
        assert registrar.p.wait(15) == 0, registrar.text
    finally:
        plugin.kill()
        registrar.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
