"""Write the README screenshots (docs/img/) from real runs: `assist demo` plays its bundled call
in English and in Chinese, in real time, with the real speech engines, and Debian's Chromium
shows the agent overlay (420x900) and the supervisor console (1280x800) as they are: mid-call
with prompts up (the transcript as the recogniser heard it, mistakes and all), and once the
call has ended (ended state, missed prompts).

Run: PYTHONPATH=. python scripts/screenshots.py      (about two minutes a language)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_pages import chromium, open_page  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

OUT = ROOT / "docs" / "img"
CALL_WAIT_MS = 240_000  # the whole call in real time on a busy machine, and the models' load


def demo(lang: str, store: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`assist demo --lang LANG` serving its pages; returns the process and its two URLs."""
    cmd = [sys.executable, "-m", "assist", "demo", "--lang", lang, "--port", "0", "--linger"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*cmd, "--store", str(store)], stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    urls: dict[str, str] = {}
    while len(urls) < 2:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"assist demo --lang {lang} exited before printing its URLs")
        name, _, url = line.partition(": ")
        if name in ("Overlay", "Supervisor"):
            urls[name] = url.strip()
    return proc, urls


def settle(page: Page) -> None:
    page.wait_for_timeout(600)  # transitions (bars, fades) finish
    page.add_style_tag(content="*, *::before { animation: none !important; }")


def shots(browser: Browser, lang: str, store: Path) -> None:
    proc, urls = demo(lang, store)
    try:
        agent = open_page(browser, urls["Overlay"], width=420, height=900)
        console = open_page(browser, urls["Supervisor"], width=1280, height=800)
        console.locator("tr.call").first.click(timeout=CALL_WAIT_MS)
        # mid-call: a prompt up, after a few lines of transcript
        expect(agent.locator("#transcript .line:not(.partial)").nth(2)).to_be_visible(
            timeout=CALL_WAIT_MS
        )
        expect(agent.locator(".card:not(.resolved)").first).to_be_visible(timeout=CALL_WAIT_MS)
        settle(agent)
        agent.screenshot(path=str(OUT / f"overlay-{lang}.png"))
        settle(console)
        console.screenshot(path=str(OUT / f"console-{lang}.png"))
        # the end: the overlay's ended state and missed cards, the console's ended row
        expect(agent.locator("#ended-banner")).to_be_visible(timeout=CALL_WAIT_MS)
        expect(console.locator("tr.call.ended")).to_have_count(1, timeout=10_000)
        settle(agent)
        agent.screenshot(path=str(OUT / f"overlay-ended-{lang}.png"))
        settle(console)
        console.screenshot(path=str(OUT / f"console-ended-{lang}.png"))
    finally:
        proc.send_signal(signal.SIGINT)  # --linger: the pages stay up until Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    gen = chromium()
    browser = next(gen)
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "zh"):
            started = time.monotonic()
            shots(browser, lang, Path(tmp) / f"{lang}.sqlite3")
            print(f"{lang}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    gen.close()
    print(f"wrote {OUT}/overlay{{,-ended}}-{{en,zh}}.png and console{{,-ended}}-{{en,zh}}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
