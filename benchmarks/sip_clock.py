"""How steady pjmedia's bridge clock is when Python taps sit on it (issue 12 point 12: clicks).

    python benchmarks/sip_clock.py [--seconds S] [--json]

The softphone's conference bridge runs on pjmedia's clock thread (the null sound device's
clock, 20 ms ticks). In each tick the bridge reads every source, mixes, and hands each
listener its frame: the calls' streams (which encode and send RTP at once) and our analysis
taps, whose onFrameReceived is Python and needs the GIL. While the tap waits for the GIL the
whole tick waits, so every call's RTP goes out late, then in a burst; a peer's jitter buffer
conceals or drops what came too late: a click.

This measures the interval between successive tap callbacks (the clock thread's ticks as the
taps see them; ideal 20.0 ms) with a player feeding two taps, as in a call, under:

  idle            nothing else in the process
  gil             one pure-Python thread busy in the same process (ASR glue, the runner,
                  the overlay server, JSON: anything that holds the GIL)
  gil+switch1ms   the same with sys.setswitchinterval(0.001) (the softphone's setting)
  cpu             two busy processes outside (the machine loaded, no GIL contention)

and prints, per condition, the median, 99th percentile and largest interval, and how many
ticks came more than 10 ms late (a peer's jitter buffer hides a few ms, not a whole frame).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pjsua2 as pj

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sip.tap import analysis_format  # noqa: E402

RATE = 16_000


class TimedTap(pj.AudioMediaPort):
    """A tap that records when the clock thread called it (and does a tap's work)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.stamps: list[int] = []
        self.createPort(name, analysis_format())

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        self.stamps.append(time.perf_counter_ns())
        if frame.size:
            np.frombuffer(bytes(frame.buf), dtype="<i2").astype(np.float32)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE


def _busy(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for i in range(10_000):
            x += i * i


def _tone(path: Path) -> None:
    t = np.arange(RATE * 5) / RATE
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def measure(ep: pj.Endpoint, wav: Path, seconds: float, condition: str) -> dict[str, Any]:
    player = pj.AudioMediaPlayer()
    player.createPlayer(str(wav))
    taps = [TimedTap(f"t{condition}{i}") for i in range(2)]
    stop_thread = threading.Event()
    stop_proc = multiprocessing.Event()
    procs: list[multiprocessing.Process] = []
    thread = None
    sys.setswitchinterval(0.001 if condition == "gil+switch1ms" else 0.005)
    if condition.startswith("gil"):
        thread = threading.Thread(target=_busy, args=(stop_thread,), daemon=True)
        thread.start()
    if condition == "cpu":
        procs = [multiprocessing.Process(target=_busy, args=(stop_proc,)) for _ in range(2)]
        for p in procs:
            p.start()
    for tap in taps:
        player.startTransmit(tap)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ep.libHandleEvents(10)
    for tap in taps:
        player.stopTransmit(tap)
    stop_thread.set()
    stop_proc.set()
    if thread is not None:
        thread.join()
    for p in procs:
        p.join()
    sys.setswitchinterval(0.005)
    gaps = np.diff(np.array(taps[0].stamps[5:], dtype=np.int64)) / 1e6
    return {
        "condition": condition,
        "ticks": int(gaps.size),
        "median_ms": round(float(np.median(gaps)), 2),
        "p99_ms": round(float(np.percentile(gaps, 99)), 2),
        "max_ms": round(float(gaps.max()), 2),
        "late_10ms": int(np.sum(gaps > 30.0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.audioFramePtime = 20
    ep.libInit(cfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    wav = Path("/tmp") / "sip_clock_tone.wav"
    _tone(wav)
    rows = [measure(ep, wav, args.seconds, c) for c in ("idle", "gil", "gil+switch1ms", "cpu")]
    ep.audDevManager().setNoDev()
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'condition':<15}{'ticks':>7}{'median':>9}{'p99':>9}{'max':>9}{'late>10ms':>11}")
        for r in rows:
            print(
                f"{r['condition']:<15}{r['ticks']:>7}{r['median_ms']:>9}{r['p99_ms']:>9}"
                f"{r['max_ms']:>9}{r['late_10ms']:>11}"
            )
    import os

    os._exit(0)  # the Python-owned ports must not be freed after the library


if __name__ == "__main__":
    main()
