"""Processes a test starts, ended whatever the outcome.

`spawn()` is `subprocess.Popen` that remembers the process; `end()` stops one (SIGTERM, then
SIGKILL if it does not go); at the end of the session `conftest.py` ends any still running, so a
test that failed before its own clean-up never leaves an `assist console` or a redis-server
behind (both were found orphaned, still running long after the suite).
"""

from __future__ import annotations

import subprocess
from typing import Any

STARTED: list[subprocess.Popen[Any]] = []


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    proc: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
    STARTED[:] = [p for p in STARTED if p.poll() is None]
    STARTED.append(proc)
    return proc


def end(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """Stop `proc` (SIGTERM, then SIGKILL after `timeout`); its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout)


def end_all(procs: list[subprocess.Popen[Any]] | None = None) -> list[str]:
    """End every process spawned here (or those of `procs`) that still runs; what was."""
    chosen = STARTED if procs is None else procs
    left = [p for p in chosen if p.poll() is None]
    for p in left:
        p.kill()
        p.wait(10)
    STARTED[:] = [p for p in STARTED if p.poll() is None]
    return [" ".join(map(str, p.args)) for p in left]  # type: ignore[arg-type]
