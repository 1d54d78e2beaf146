"""Debian Chromium under Playwright, and the page helpers the browser tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright
from waits import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 10_000


def chromium() -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded browser), for a module-scoped fixture."""
    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run scripts/install-test-deps.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield b
        b.close()


def open_page(browser: Browser, url: str, width: int = 380, height: int = 720) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(url)
    expect(page.locator("#status")).to_have_class("ok")
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def wait_for(pred, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    wait_until(pred, timeout, poll=0.05, what=what)
