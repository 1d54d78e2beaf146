"""Waiting on a condition instead of sleeping a guessed time (issue 25)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    pred: Callable[[], object], timeout: float = 10.0, poll: float = 0.02, what: str = ""
) -> None:
    """Return once `pred()` is true; fail the test (naming `what`, if given) when `timeout`
    seconds pass first."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}" if what else "timed out"
        time.sleep(poll)
