"""The agent page shows its dial box only to a token that may place calls (`dial = true` in its
[[overlay.agent]] row) and only with a phone behind the server; in Debian Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from assist.runtime.control import CallRegistry, DemoControl
from overlay.auth import OverlayConfig
from overlay.server import OverlayServer
from tests.browser_pages import chromium, open_page

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


class Phone(DemoControl):
    telephony = True


def test_the_dial_box_is_only_for_tokens_that_may_dial(browser: Browser) -> None:
    config = OverlayConfig.from_table(
        {
            "port": 0,
            "agent": [
                {"name": "alice", "token": "alice-token-that-may-dial-0123", "dial": True},
                {"name": "bob", "token": "bob-token-that-may-not-dial-456"},
            ],
        }
    )
    server = OverlayServer(config=config, registry=CallRegistry(), control=Phone()).start()
    try:
        may = open_page(browser, server.agent_url("alice"))
        may_not = open_page(browser, server.agent_url("bob"))
        expect(may.locator("#dial")).to_be_visible()
        expect(may_not.locator("#status")).to_have_class("ok")  # hello has arrived
        expect(may_not.locator("#dial")).to_be_hidden()
        for page in (may, may_not):
            assert not page.errors, page.errors  # type: ignore[attr-defined]
    finally:
        server.stop()
