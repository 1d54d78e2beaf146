"""The supervisor console on a recorded (SIPREC) call, in Debian's Chromium: listen and off are
offered (and reach the recording server's control), whisper and barge are not, and the row says
why; a transfer (a `recording` event naming another agent) moves the row to the new agent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_pages import chromium, open_page
from playwright.sync_api import Browser, expect
from scripted_calls import ScriptedCall

from assist.commands.srs import SrsControl
from assist.core.events import Recording
from assist.runtime.control import CallRegistry
from overlay.auth import OverlayConfig
from overlay.server import OverlayServer

pytestmark = pytest.mark.timeout(180)


class Recorder:
    """Stands in for sip.recorder.RecordingServer's `supervise` (tests/test_srs_midcall.py
    runs the real one against a real phone)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def supervise(self, call_id: str, mode: str, supervisor: str, name: str) -> str:
        self.asked.append((call_id, mode))
        return f"{call_id}: calling supervisor {supervisor} to {mode}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def test_a_recorded_call_offers_listen_only_and_follows_a_transfer(browser: Browser) -> None:
    recorder = Recorder()
    table = {"supervisor": [{"name": "sue", "token": "s" * 20, "sip": "sip:sue@127.0.0.1"}]}
    srv = OverlayServer(
        config=OverlayConfig.from_table(table),
        port=0,
        registry=CallRegistry(),
        control=SrsControl(recorder),  # type: ignore[arg-type]
    ).start()
    try:
        page = open_page(browser, srv.supervisor_url() + "&lang=en", width=1280, height=600)
        call = ScriptedCall(srv, "srs-1", agent="alice", source="srs")
        call.send(0.1, Recording(agent="alice"))
        call.meters(2.0)
        row = page.locator("tr.call[data-call=srs-1]")
        expect(row.locator("td.agent")).to_have_text("alice")
        expect(row.locator("td.actions")).to_contain_text("listen only, no whisper or barge")
        modes = [b.get_attribute("data-mode") for b in row.locator("button").all()]
        assert modes == ["listen", "off"], modes
        row.locator("button[data-mode=listen]").click()
        expect(page.locator("#notice")).to_contain_text("calling supervisor")
        assert recorder.asked == [("srs-1", "listen")]
        call.send(3.0, Recording(agent="bob", update=True))  # a transfer
        call.meters(4.0)
        expect(row.locator("td.agent")).to_have_text("bob")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        srv.stop()
