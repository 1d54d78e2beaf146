"""The real pages in Debian's headless Chromium, driven by Playwright, against a live server.

Calls are synthetic (tests/overlay_calls.py) and pushed frame by frame, so a test can hold a
call while a card is on screen. Screenshots of both pages go to test-artifacts/ for review.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser_pages import open_page, shot, wait_for
from conftest import timeline
from overlay_calls import ANSWER_AT, PROMPT_AT, LiveCall, alert_pack
from playwright.sync_api import Browser, expect

from assist.core.audio import ANALYSIS_RATE
from assist.core.events import CallState, Transcript
from assist.runtime.control import CallRegistry, DemoControl
from assist.runtime.packs import default_pack
from assist.runtime.wavio import write_wav
from overlay.server import OverlayServer

pytestmark = pytest.mark.timeout(120)


class RecordingControl(DemoControl):
    """The telephony side as the page sees it: records what it was asked (SIP has its own
    end-to-end test of these requests, tests/test_sip_call.py)."""

    telephony = True

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def answer(self, call_id: str) -> str:
        self.asked.append(("answer", call_id))
        return f"{call_id}: answered"

    def hangup(self, call_id: str) -> str:
        self.asked.append(("hangup", call_id))
        return f"{call_id}: hanging up"

    def dial(self, uri: str) -> str:
        self.asked.append(("dial", uri))
        return "sip-9"


def test_softphone_buttons_follow_the_call_state_and_reach_call_control(
    browser: Browser, registry: CallRegistry
) -> None:
    control = RecordingControl()
    server = OverlayServer(port=0, registry=registry, control=control).start()
    call = LiveCall(server, registry, "ring")
    try:
        page = open_page(browser, server.agent_url())
        call.play_to(0.5)
        answer, hangup = page.locator("#answer"), page.locator("#hangup")
        expect(answer).to_be_hidden()  # a demo call has no SIP state: no phone buttons
        expect(hangup).to_be_hidden()
        call.runner.submit(lambda s: s.note(CallState(state="ringing", direction="inbound")))
        expect(answer).to_be_visible()
        expect(page.locator("#call-state")).to_have_text("ringing")
        answer.click()
        expect(page.locator("#toast")).to_have_text("ring: answered")
        call.runner.submit(lambda s: s.note(CallState(state="confirmed", direction="inbound")))
        expect(answer).to_be_hidden()
        expect(hangup).to_be_visible()
        hangup.click()
        expect(page.locator("#toast")).to_have_text("ring: hanging up")
        expect(page.locator("#dial")).to_be_visible()  # hello said a phone is behind it
        page.locator("#dial-uri").fill("sip:bob@127.0.0.1:5099")
        page.locator("#dial button").click()
        expect(page.locator("#toast")).to_have_text("sip-9")
        assert control.asked == [
            ("answer", "ring"),
            ("hangup", "ring"),
            ("dial", "sip:bob@127.0.0.1:5099"),
        ]
        call.runner.submit(lambda s: s.note(CallState(state="ended", reason="hangup")))
        expect(hangup).to_be_hidden()
    finally:
        call.finish()
        server.stop()


def test_cards_appear_clear_by_themselves_and_feedback_reaches_the_call(
    browser: Browser, server: OverlayServer, registry: CallRegistry
) -> None:
    page = open_page(browser, server.agent_url())
    first = LiveCall(server, registry, "auto")
    try:
        first.play_to(PROMPT_AT + 0.5)
        card = page.locator(".card[data-rule=customer_silence]")
        expect(card).to_have_count(1)
        expect(card).to_have_class("card warn")
        expect(card.locator(".text")).to_have_text("Customer silent 8s — acknowledge / check in")
        expect(page.locator("#engine")).to_have_text("Transcript off: word cues disabled")
        expect(page.locator("#dial")).to_be_hidden()  # demo mode: no phone to dial with
        expect(card.locator(".evidence")).to_be_hidden()
        card.hover()
        expect(card.locator(".evidence")).to_contain_text("quiet for 8")
        expect(page.locator("#silence")).to_have_text(re.compile(r"^(8|9|10)\.\d s$"))
        expect(page.locator("#share-pct")).to_have_text("100%")  # only the agent has spoken
        for kind, text in (
            ("partial", "I can"),
            ("partial", "I can see why"),
            ("final", "I can see why."),
        ):
            t = Transcript(speaker="agent", kind=kind, text=text)  # type: ignore[arg-type]
            first.runner.submit(lambda s, t=t: s.add_transcript(t))
        line = page.locator("#transcript .line")
        expect(line).to_have_count(1)  # partials update one line in place; the final closes it
        expect(line).to_have_text("Agent: I can see why.")
        expect(line).not_to_have_class(re.compile("partial"))
        first.play_to(ANSWER_AT + 0.5)  # the customer answers: the prompt clears itself
        expect(card).to_have_class(re.compile("resolved"))
        expect(card).to_have_count(0)
    finally:
        first.finish()
    assert "feedback" not in first.types()

    second = LiveCall(server, registry, "ack")  # the overlay follows the agent's newest call
    try:
        expect(page.locator("#call")).to_contain_text("ack")
        second.play_to(PROMPT_AT + 0.5)
        card = page.locator(".card[data-rule=customer_silence]")
        expect(card).to_have_count(1)
        shot(page, "overlay.png")
        page.keyboard.press("d")  # the shortcut: "done" on the top card
        expect(card).to_have_count(0)
        expect(page.locator("#ack")).to_contain_text("Done")  # beside the cards
        wait_for(lambda: "feedback" in second.types(), "the feedback event")
    finally:
        second.finish()
    fb = [e for e in second.sink.events if e.type == "feedback"]
    assert [(e.data.verdict, e.data.client) for e in fb] == [("done", "agent:demo-agent")]  # type: ignore[attr-defined]
    cleared = [e for e in second.sink.events if e.type == "prompt_cleared"]
    assert cleared[0].data.reason == "acknowledged"  # type: ignore[attr-defined]
    assert page.errors == []  # type: ignore[attr-defined]


def test_dropped_connection_resumes_without_duplicates_in_chinese(
    browser: Browser, server: OverlayServer, registry: CallRegistry
) -> None:
    page = open_page(browser, server.agent_url())
    call = LiveCall(server, registry, "zh1", pack=default_pack("zh"))
    try:
        call.play_to(PROMPT_AT + 0.5)
        card = page.locator(".card")
        expect(card).to_have_count(1)
        expect(card.locator(".text")).to_contain_text("客户沉默8秒")
        expect(page.locator("[data-i18n=silence]")).to_have_text("沉默")  # lang from the call
        server.disconnect_all()
        expect(page.locator("#status")).not_to_have_class("ok")
        # what happens while the page is away: more audio, and a line of transcript
        said = Transcript(speaker="customer", kind="final", text="我的账号是四七二九")
        call.runner.submit(lambda s: s.add_transcript(said))
        call.play_to(PROMPT_AT + 2.0)
        expect(page.locator("#status")).to_have_class("ok")
        expect(page.locator("#transcript .line.customer")).to_have_text("客户: 我的账号是四七二九")
        last = call.sink.events[-1].seq
        wait_for(lambda: page.evaluate("assist.conn.lastSeq['zh1']") >= last, "the missed events")
        assert page.evaluate("assist.conn.connects") == 2
        assert page.evaluate("assist.conn.duplicates") == 0  # the server resumed after `since`
        expect(card).to_have_count(1)
        expect(page.locator("#transcript .line")).to_have_count(1)
        shot(page, "overlay-zh.png")
    finally:
        call.finish()
    assert page.errors == []  # type: ignore[attr-defined]


def test_supervisor_sees_the_flagged_call_first_follows_it_and_gets_demo_mode_errors(
    browser: Browser, server: OverlayServer, registry: CallRegistry
) -> None:
    page = open_page(browser, server.supervisor_url(), width=1200, height=600)
    calm = LiveCall(server, registry, "calm", agent="bob")
    hot = LiveCall(server, registry, "hot", pack=alert_pack())
    try:
        calm.play_to(4.0)
        hot.play_to(4.0)
        rows = page.locator("tr.call")
        expect(rows).to_have_count(2)
        expect(page.locator("tr.call.flagged")).to_have_count(0)
        hot.play_to(PROMPT_AT + 0.5)  # an alert-severity prompt: the call rises and blinks
        expect(rows.first).to_have_attribute("data-call", "hot")
        expect(rows.first).to_have_class("call flagged")
        animation = rows.first.locator(".flagtag").evaluate(
            "t => getComputedStyle(t).animationName"
        )
        assert animation == "blink"
        expect(rows.first.locator(".chip.alert")).to_have_text("Customer silence")  # no title: id
        rows.first.click()
        expect(page.locator("#f-prompts .p.alert")).to_contain_text("Customer silent 8s")
        said = Transcript(speaker="customer", kind="final", text="this is ridiculous")
        hot.runner.submit(lambda s: s.add_transcript(said))
        expect(page.locator("#f-transcript .line.customer")).to_have_text(
            "Customer: this is ridiculous"
        )
        rows.first.locator("button[data-mode=barge]").click()
        expect(page.locator("#notice")).to_have_text(
            "Barge: not available in demo mode (needs the SIP softphone: assist sip)"
        )
        expect(page.locator("#notice")).to_have_class("error")
        wait_for(lambda: "supervisor_action" in hot.types(), "the supervisor_action event")
        expect(page.locator("#f-action")).to_contain_text("supervisor: Barge — not available")
        shot(page, "supervisor.png")
        hot.play_to(ANSWER_AT + 0.5)  # the prompt clears; the flag holds a while, then goes
        expect(page.locator("#f-prompts .p.cleared")).to_have_count(1)
    finally:
        calm.finish()
        hot.finish()
    assert page.errors == []  # type: ignore[attr-defined]


def test_assist_demo_serves_both_pages_with_the_printed_tokens(
    browser: Browser, tmp_path: Path
) -> None:
    """The CLI as a user runs it: a short synthetic call at 2x, tokens from the printed URLs."""
    agent = timeline(20.0, [(0.5, 2.0)])
    write_wav(tmp_path / "call.wav", np.stack([agent, agent * 0], axis=1), ANALYSIS_RATE)
    events = tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "assist", "demo", str(tmp_path / "call.wav"), "--speed", "2"]
    proc = subprocess.Popen(
        [*cmd, "--port", "0", "--events", str(events), "--call-id", "cli"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ASSIST_DB": str(tmp_path / "calls.sqlite3")},  # keep no call record
    )
    try:
        assert proc.stderr is not None
        urls = {}
        while len(urls) < 2:
            line = proc.stderr.readline()
            assert line, "assist demo exited before printing its URLs"
            name, _, url = line.partition(": ")
            if name in ("Overlay", "Supervisor"):
                urls[name] = url.strip()
        assert "?token=" in urls["Overlay"] and "/supervisor?token=" in urls["Supervisor"]
        sup = open_page(browser, urls["Supervisor"], width=1200, height=500)
        page = open_page(browser, urls["Overlay"])
        card = page.locator(".card[data-rule=customer_silence]")
        expect(card).to_have_count(1, timeout=30_000)  # after loading the speech models
        # no English Vosk model here: PocketSphinx live, finals by the packaged Whisper
        expect(page.locator("#engine")).to_have_text(re.compile(r"^Transcript: "))
        expect(page.locator("#engine")).to_have_attribute("title", re.compile("whisper"))
        expect(sup.locator("tr.call[data-call=cli]")).to_have_count(1)
        card.locator("button.not-helpful").click()
        expect(card).to_have_count(0)
        # the call plays to its end (10 s), its last words are decoded, the pages close: on a
        # loaded machine the live queue drops frames, and the end used to wait 30 s for them
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"assist demo did not end: {proc.communicate()[1]}") from None
    finally:
        proc.kill()
        proc.wait()
    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["data"]["verdict"] for e in got if e["type"] == "feedback"] == ["not_helpful"]
    assert got[-1]["type"] == "call_ended"
