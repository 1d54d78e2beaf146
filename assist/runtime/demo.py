"""The WAV demo source: plays a recorded call into a CallRunner, paced or as fast as possible.

Real-time pacing is drift-free: frame n is released at start + n * 20 ms / speed on the
monotonic clock (sleeping only until the next deadline), so a long demo does not slip. Fast
mode pushes with back-pressure instead of drops, so every run of a file gives the same events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from assist.core.audio import FRAME_SAMPLES, FRAME_SECONDS, Samples, frames
from assist.runtime.runner import CallRunner

DEMO_CALLS = {"en": "demo_call_en.wav", "zh": "demo_call_zh.wav"}


def bundled_call(lang: str = "en") -> Path:
    """Path of the demo call shipped with the package (English if none for `lang`)."""
    base = resources.files("assist").joinpath("data")
    for name in (DEMO_CALLS.get(lang), DEMO_CALLS["en"]):
        if name and base.joinpath(name).is_file():
            return Path(str(base.joinpath(name)))
    raise FileNotFoundError("the bundled demo call is missing from this installation")


def play(
    agent: Samples,
    customer: Samples,
    runner: CallRunner,
    *,
    speed: float | None = 1.0,
    on_frame: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Push every 20 ms frame pair; `speed=None` means as fast as possible. Returns the frames
    pushed: all of them, or fewer when `stop` is set (Ctrl-C) or the runner died."""
    stop = stop or threading.Event()
    wait = sleep or stop.wait
    a_frames = frames(agent, FRAME_SAMPLES)
    c_frames = frames(customer, FRAME_SAMPLES)
    total = len(a_frames)
    start = clock()
    for i, (a, c) in enumerate(zip(a_frames, c_frames, strict=True)):
        if speed is not None:
            delay = start + i * FRAME_SECONDS / speed - clock()
            if delay > 0:
                wait(delay)
        if stop.is_set():
            return i
        runner.push(a, c)
        if on_frame is not None:
            on_frame(i + 1, total)
        if not runner.alive:
            return i + 1
    return total
