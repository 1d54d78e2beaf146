"""Do a call's two tap files start in the same clock tick? (run by tests/test_sip_tap.py)

    python tests/tap_align.py RUNS  ->  {"runs": N, "misaligned": K, "frames": F}

In its own process (one pjsua2 Endpoint per process). A thread keeps Python busy, as the
runner and ASR glue do. Each run makes a call's RecorderTaps (sip/tap.py), then connects one
noise player to both writers with plain startTransmit calls (so the player may reach one file
a tick later than the other: that is not a misalignment), reads the files with the tap
reader's stream, and counts runs where two frames at the same index both carry the noise but
differ: one file a frame ahead of the other.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pjsua2 as pj

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sip.endpoint import analysis_media  # noqa: E402
from sip.tap import RecorderTaps, silence_source  # noqa: E402
from sip.tapfile import tap_dir  # noqa: E402

RATE = 16_000


def main() -> None:
    runs = int(sys.argv[1])
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    analysis_media(cfg)
    ep.libInit(cfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    d = tap_dir()
    noise = d / "noise.wav"
    rng = np.random.default_rng(1)
    with wave.open(str(noise), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((rng.standard_normal(RATE * 3) * 3000).astype("<i2").tobytes())
    player = pj.AudioMediaPlayer()
    player.createPlayer(str(noise))
    silence = silence_source(d)
    stop = threading.Event()

    def busy() -> None:
        x = 0
        while not stop.is_set():
            for i in range(10_000):
                x += i

    threading.Thread(target=busy, daemon=True).start()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(5)

    bad = frames = 0
    for k in range(runs):
        got: list[tuple[np.ndarray, np.ndarray]] = []
        taps = RecorderTaps(d, f"run{k}", lambda a, c, g=got: g.append((a, c)), silence)
        pump(0.05)
        for end in ("agent_tap", "customer_tap"):
            player.startTransmit(taps.ports[end])
        pump(0.3)
        for end in ("agent_tap", "customer_tap"):
            player.stopTransmit(taps.ports[end])
        stream = taps.release()
        pump(0.1)
        stream.poll(final=True)
        stream.remove()
        both = [(a, c) for a, c in got if a.any() and c.any()]
        frames += len(both)
        bad += not all(np.array_equal(a, c) for a, c in both)
    stop.set()
    shutil.rmtree(d, ignore_errors=True)
    print(json.dumps({"runs": runs, "misaligned": bad, "frames": frames}), flush=True)
    os._exit(0)  # pjsua2 objects are not freed after the library


if __name__ == "__main__":
    main()
