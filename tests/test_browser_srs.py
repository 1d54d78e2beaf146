"""The supervisor console on a recorded (SIPREC) call, in Debian's Chromium: listen and off are
offered (and reach the recording server's control), whisper and barge are not, and the row says
why; a transfer (a `recording` event naming another agent) moves the row to the new agent.

A real session: `assist srs` with its overlay and a pjsua2 SIPREC client. The agent's page
offers no call control (SIPREC gives a copy of the audio, not a leg: hang-up would be refused)
and says the call is recorded from their own phone; the console's listen button is on screen,
uncovered, at 1280 px in English and in Chinese, with the follow panel closed and open.

A real pause: the client pauses the recording (re-INVITE, every stream `a=inactive`) and
resumes it; the agent's overlay (English) and the console (Chinese: the row and the follow
panel) say "paused" while it lasts and when it resumed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_pages import chromium, open_page, shot
from playwright.sync_api import Browser, Locator, Page, expect
from scripted_calls import ScriptedCall

from assist.commands.srs import SrsControl
from assist.core.events import Recording
from assist.runtime.control import CallRegistry
from overlay.auth import OverlayConfig
from overlay.server import OverlayServer
from tests.sip_helpers import Proc, tone, wait_event, write_wav
from tests.siprec_raw import METADATA
from tests.test_srs import ALICE, SUE, _client, _start, srs_config

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
        expect(row.locator(".siprec-note")).to_have_text("listen only")  # the reason on hover:
        expect(row.locator("td.actions")).to_have_attribute(
            "title", re.compile("listen only, no whisper or barge")
        )
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


def on_screen(page: Page, target: Locator) -> None:
    """`target` is inside the viewport and nothing covers or clips it: the element at its
    centre is it (a button pushed out of its cell is clipped by the board, so the point shows
    something else). The board re-renders its rows on every update, so the check is made in
    one go in the page, on whatever node is there then, and tried again for a few seconds."""
    expect(target).to_be_visible()
    check = """(el) => {
        const r = el.getBoundingClientRect();
        const inside = r.left >= 0 && r.top >= 0
            && r.right <= innerWidth && r.bottom <= innerHeight;
        const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        const hit = at !== null && (at === el || el.contains(at));
        return { inside, hit, rect: [r.left, r.top, r.right, r.bottom],
                 view: [innerWidth, innerHeight], at: at === null ? null : at.outerHTML };
    }"""
    deadline = time.monotonic() + 5
    while True:
        got = target.evaluate(check)
        if (got["inside"] and got["hit"]) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert got["inside"] and got["hit"], f"{target} is off screen, covered or clipped: {got}"


def no_call_control(page: Page) -> None:
    """No button, anywhere on the agent's page, that would ask the server to act on the call
    (a card's feedback buttons are not call control)."""
    for sel in ("#phone button", "#others button", "#dial"):
        expect(page.locator(f"{sel}:visible")).to_have_count(0)
    for name in ("Hang up", "Answer", "Decline", "Call"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)


def _recording_server(
    tmp_path: Path,
) -> tuple[tuple[Path, Path, Path], tuple[Proc, Path, int, int]]:
    """A recording client's two tone streams and metadata (agent 1001: alice), and an
    `assist srs` without speech recognition or store: (srs, events file, SIP port, HTTP port)."""
    customer = write_wav(tmp_path / "customer.wav", tone(400.0, 20, level=0.1))
    agent = write_wav(tmp_path / "agent.wav", tone(1000.0, 20, level=0.1))
    meta = tmp_path / "meta.xml"
    meta.write_text(METADATA)
    cfg = srs_config(tmp_path / "srs.toml", max_sessions=3)
    return (customer, agent, meta), _start(tmp_path, cfg, "--asr", "off", store=False)


def test_a_recorded_call_offers_no_control_that_fails_and_listen_stays_on_screen(
    browser: Browser, tmp_path: Path
) -> None:
    (customer, agent, meta), (srs, ev, port, http) = _recording_server(tmp_path)
    client = None
    try:
        base = f"http://127.0.0.1:{http}"
        mine = open_page(browser, f"{base}/?token={ALICE}&lang=en")
        mine_zh = open_page(browser, f"{base}/?token={ALICE}&lang=zh")
        consoles = {
            lang: open_page(browser, f"{base}/supervisor?token={SUE}&lang={lang}", width=1280)
            for lang in ("en", "zh")
        }
        client = _client(port, [customer, agent], meta, "--seconds", "12")
        expect(mine.locator("#callpill")).to_have_class(re.compile(r"\blive\b"), timeout=30_000)
        # the recording server answered the session: the page has had its `confirmed` state,
        # which an `assist sip` call answers with a Hang up button
        mine.wait_for_function("window.assist.view.state === 'confirmed'", timeout=30_000)
        no_call_control(mine)
        expect(mine.locator("#call-state")).to_have_text("Recording from your phone")
        expect(mine.locator("#call-state")).to_have_attribute("title", re.compile("SIPREC"))
        mine_zh.wait_for_function("window.assist.view.state === 'confirmed'")
        no_call_control(mine_zh)
        expect(mine_zh.locator("#call-state")).to_have_text("正在录制您话机上的通话")
        shot(mine, "srs-recorded-agent.png")

        for lang, console in consoles.items():
            row = console.locator("tr.call").first
            expect(row.locator(".live-dot")).to_be_visible(timeout=30_000)
            modes = [b.get_attribute("data-mode") for b in row.locator("button").all()]
            assert modes == ["listen", "off"], (lang, modes)
            on_screen(console, row.locator("button[data-mode=listen]"))
            on_screen(console, row.locator("button[data-mode=off]"))
            shot(console, f"srs-recorded-console-{lang}.png")
            row.locator("td.agent").click()  # follow it: the board narrows beside the panel
            expect(console.locator("#follow")).to_be_visible()
            expect(console.locator("#f-state")).to_contain_text(
                "listen only" if lang == "en" else "只能监听"
            )
            on_screen(console, row.locator("button[data-mode=listen]"))
            shot(console, f"srs-recorded-console-follow-{lang}.png")
        wait_event(ev, timeout=30, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
        for page in (mine, mine_zh, *consoles.values()):
            assert page.errors == []  # type: ignore[attr-defined]
    finally:
        srs.kill()
        if client is not None:
            client.kill()


def test_a_paused_recording_is_shown_to_the_agent_and_the_supervisor(
    browser: Browser, tmp_path: Path
) -> None:
    (customer, agent, meta), (srs, ev, port, http) = _recording_server(tmp_path)
    client = None
    try:
        base = f"http://127.0.0.1:{http}"
        mine = open_page(browser, f"{base}/?token={ALICE}&lang=en")
        console = open_page(browser, f"{base}/supervisor?token={SUE}&lang=zh", width=1280)
        client = _client(
            port, [customer, agent], meta, "--seconds", "14", "--pause-at", "4",
            "--resume-at", "9",
        )  # fmt: skip
        pill = mine.locator("#callpill")
        expect(pill).to_have_class(re.compile(r"\blive\b"), timeout=30_000)
        row = console.locator("tr.call").first
        expect(row.locator(".live-dot")).to_be_visible()
        expect(row.locator(".pausedtag")).to_have_count(0)

        client.wait_for(r"^paused", timeout=30)
        expect(pill).to_have_class(re.compile(r"\bpaused\b"))
        expect(pill).to_contain_text("Recording paused")
        expect(mine.locator("body")).to_have_class(re.compile(r"\bpaused\b"))
        expect(row).to_have_class(re.compile(r"\bpaused\b"))
        expect(row.locator(".pausedtag")).to_have_text("录音已暂停")
        expect(row.locator("td.state")).to_contain_text("自 0:0")  # since when (audio time)
        no_call_control(mine)
        on_screen(console, row.locator("button[data-mode=listen]"))
        row.locator("td.agent").click()  # the follow panel says it too
        panel = console.locator("#f-state")
        expect(panel.locator(".pausedtag")).to_have_text("录音已暂停")
        expect(panel).to_contain_text("自 0:0")
        on_screen(console, row.locator("button[data-mode=listen]"))
        shot(mine, "srs-paused-agent.png")
        shot(console, "srs-paused-console.png")

        client.wait_for(r"^resumed", timeout=30)
        expect(pill).to_have_class(re.compile(r"\blive\b"))
        expect(pill).not_to_contain_text("paused")
        expect(mine.locator("#ack")).to_contain_text("recording resumed")
        expect(row.locator(".pausedtag")).to_have_count(0)
        expect(row.locator(".resumedtag")).to_contain_text("录音已于")
        expect(panel.locator(".pausedtag")).to_have_count(0)
        expect(panel.locator(".resumedtag")).to_contain_text("录音已于")
        wait_event(ev, timeout=30, type="call_ended")
        assert client.p.wait(20) == 0, client.text
        assert srs.stop() == 0, srs.text
        assert mine.errors == [] and console.errors == []  # type: ignore[attr-defined]
    finally:
        srs.kill()
        if client is not None:
            client.kill()
