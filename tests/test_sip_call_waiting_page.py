"""Call waiting on the agent's page (`second_call = "ring"`), in Debian Chromium with real SIP
calls: a second call while one is live is an incoming card with its own buttons, and the live
call keeps its place (its state, its hang-up button); hanging up the live call brings the
waiting one on screen, where it is answered. Two baresip callers; `assist sip` as a user runs it
(auto-answer off, its own overlay server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser_pages import chromium, open_page
from tests.sip_helpers import Proc, assist, baresip, plugin_config, speech_wav, wait_event


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.mark.timeout(120)
def test_a_waiting_call_is_a_card_and_the_live_call_stays(tmp_path: Path, browser: Browser) -> None:
    wav = speech_wav(tmp_path / "customer8k.wav", "Hello, I am calling about my bill.", seconds=40)
    cfg = plugin_config(tmp_path / "assist.toml", second_call="ring", auto_answer=False)
    ev = tmp_path / "events.jsonl"
    plugin = assist("sip", "--config", str(cfg), "--port", "0", "--asr", "off", "--events", str(ev))
    procs: list[Proc] = [plugin]
    try:
        _, m = plugin.wait_for(r"listening on udp port (\d+)")
        uri = f"sip:agent@127.0.0.1:{m[1]}"
        _, url = plugin.wait_for(r"Overlay: (\S+)")
        page = open_page(browser, url[1])
        procs.append(baresip(tmp_path / "first", wav, seconds=40, dial=uri))
        first = wait_event(ev, type="call_state", state="ringing")["call_id"]
        page.locator("#answer").click()
        expect(page.locator("#call-state")).to_have_text("connected")
        procs.append(baresip(tmp_path / "second", wav, seconds=40, dial=uri))
        card = page.locator("#others .other.incoming")
        expect(card).to_be_visible()
        expect(card).to_contain_text("Incoming call")
        expect(card).to_contain_text("customer@127.0.0.1")
        expect(card.locator("button.answer")).to_be_visible()
        expect(card.locator("button.hangup")).to_have_text("Decline")
        # the live call keeps the screen: its id, its state, its hang-up button
        expect(page.locator("#call")).to_contain_text(first)
        expect(page.locator("#call-state")).to_have_text("connected")
        expect(page.locator("#hangup")).to_be_visible()
        second = card.get_attribute("data-call")
        assert second and second != first
        page.locator("#hangup").click()  # hangs up the live call, not the waiting one
        wait_event(ev, call_id=first, type="call_ended")
        expect(page.locator("#call")).to_contain_text(second)
        expect(page.locator("#call-state")).to_have_text("ringing")
        expect(page.locator("#others")).to_be_hidden()
        page.locator("#answer").click()
        wait_event(ev, call_id=second, type="call_state", state="confirmed")
        expect(page.locator("#call-state")).to_have_text("connected")
        assert not page.errors, page.errors  # type: ignore[attr-defined]
        assert plugin.stop() == 0, plugin.text
    finally:
        for p in procs:
            p.kill()
    assert "Traceback" not in plugin.text and "Assertion" not in plugin.text, plugin.text
