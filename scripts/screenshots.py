"""Write the README screenshots (docs/img/): the agent overlay at 420x900 and the supervisor
console at 1280x800, in English and Chinese, in Debian's Chromium.

The calls are scripted event streams (tests/scripted_calls.py) so every run shows the same
moment: a complaint call with two prompts up, and a floor of calls with one alert.
Run: PYTHONPATH=. python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_pages import chromium, open_page  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402
from scripted_calls import ScriptedCall, tell_story  # noqa: E402

from assist.runtime.control import CallRegistry, DemoControl  # noqa: E402
from overlay.server import OverlayServer  # noqa: E402

OUT = ROOT / "docs" / "img"
AGENTS = {
    "en": ["dana", "li.wei", "sam", "priya", "tom", "ana", "kofi", "mei", "jon", "zoe", "raj"],
    "zh": ["小李", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷", "孙浩"],
}


def floor(server: OverlayServer, lang: str) -> None:
    """A floor of calls: one customer agitated (alert), one alert just cleared, a few warnings."""
    asr = "vosk:vosk-model-small-en-us-0.15" if lang == "en" else "vosk:vosk-model-small-cn-0.22"
    for i, name in enumerate(AGENTS[lang]):
        c = ScriptedCall(server, f"{lang}-{1001 + i}", lang=lang, agent=name, asr=asr)
        length = 40.0 + 23 * i
        c.meters(length, share=0.5, silence=1.0, mood="calm")
        if i == 0:
            tell_story(c)
            c.meters(40.0 + 23 * i, mood="agitated")
        elif i == 1:
            pid = c.prompt(
                length - 8, "agent_escalating", pitch_st=2.4, level_db=3.5, speaker="agent"
            )
            c.clear(length - 3, pid)
            c.meters(length, mood="tense")
        elif i in (2, 5):
            c.prompt(length - 2, "customer_silence", silence_s=9.2, last_speaker="agent")
        elif i == 3:
            c.prompt(length - 5, "overtalk", overlap_s=1.8, speaker="agent")
            c.prompt(length - 1, "pace_fast", wpm=212, source="words", speaker="agent")
        elif i == 7:
            c.end(length)
    time.sleep(1.5)  # the board is sent at most every BOARD_EVERY_S


def overlay_shot(browser, lang: str) -> None:  # type: ignore[no-untyped-def]
    server = OverlayServer(port=0, registry=CallRegistry(), control=DemoControl()).start()
    try:
        page = open_page(browser, server.agent_url(), width=420, height=900)
        c = ScriptedCall(server, f"demo-{lang}42", lang=lang, asr="vosk:vosk-model-small")
        tell_story(c)
        expect(page.locator(".card")).to_have_count(2)
        settle(page)
        page.screenshot(path=str(OUT / f"overlay-{lang}.png"))
    finally:
        server.stop()


def console_shot(browser, lang: str) -> None:  # type: ignore[no-untyped-def]
    server = OverlayServer(port=0, registry=CallRegistry(), control=DemoControl()).start()
    try:
        page = open_page(browser, server.supervisor_url(), width=1280, height=800)
        floor(server, lang)
        expect(page.locator("tr.call")).to_have_count(len(AGENTS[lang]))
        page.locator("tr.call").first.click()
        expect(page.locator("#f-transcript .line")).to_have_count(5)
        settle(page)
        page.screenshot(path=str(OUT / f"console-{lang}.png"))
    finally:
        server.stop()


def settle(page: Page) -> None:
    page.wait_for_timeout(600)  # transitions (bars, fades) finish
    page.add_style_tag(content="*, *::before { animation: none !important; }")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    gen = chromium()
    browser = next(gen)
    for lang in ("en", "zh"):
        overlay_shot(browser, lang)
        console_shot(browser, lang)
    gen.close()
    print(f"wrote {OUT}/overlay-{{en,zh}}.png and console-{{en,zh}}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
