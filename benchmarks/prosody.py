"""Cost of the analysis core per 20 ms frame, and cue latency per rule.

    python benchmarks/prosody.py [--seconds S] [--json]

Cost: one call (two channels) through CallSession.feed (VAD, prosody, conversation, every rule
of the English pack, meters), each frame timed on its own. A call where both sides talk, with
overtalk, so pitch tracking runs on both channels much of the time. Reported as the median and
95th percentile per frame, and as a share of one core in real time (cost / 20 ms; target
< 2 %). Also the prosody loop alone (VAD + prosody for both channels). Frames only: no
transcripts (`benchmarks/core_transcripts.py` adds them). Timed as the CPU time of the thread
(thread_time), so other jobs preempting it on a shared machine do not count.

Latency: each phone-like test call (tests/phone.py: 8 kHz mu-law, -50 dBFS noise) through the
session; for each cue, audio time (1) from the moment the audio meets the rule's threshold to
the prompt (the detector's own delay), and (2) from the moment the condition starts in the
audio to the prompt (what an agent experiences: the threshold's evidence window included, e.g.
customer silence from the end of the agent's speech, overtalk from the start of the overlap).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from assist.core.audio import FRAME_SAMPLES, FRAME_SECONDS  # noqa: E402
from assist.core.prosody import SpeakerProsody  # noqa: E402
from assist.core.session import CallSession  # noqa: E402
from assist.core.vad import VoiceActivity  # noqa: E402
from assist.runtime.packs import default_pack  # noqa: E402


def busy_call(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    from conftest import noise, speechlike

    agent, customer = noise(seconds, seed=1), noise(seconds, seed=2)
    t, i = 0.5, 0
    while t < seconds - 8:
        a = speechlike(6.0, f0=120, seed=i)
        c = speechlike(6.0, f0=210, seed=100 + i)
        agent[int(t * 16000) : int(t * 16000) + a.shape[0]] += a
        t2 = t + 4.5  # the customer starts before the agent is done: 1.5 s of overlap
        customer[int(t2 * 16000) : int(t2 * 16000) + c.shape[0]] += c
        t, i = t2 + 6.8, i + 1
    return agent, customer


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def cost(seconds: float) -> dict[str, Any]:
    agent, customer = busy_call(seconds)
    n = agent.shape[0] // FRAME_SAMPLES
    frames = [
        (
            agent[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES],
            customer[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES],
        )
        for i in range(n)
    ]
    session = CallSession("bench", pack=default_pack("en"))
    session.start()
    whole: list[float] = []
    clock = time.thread_time_ns  # CPU time of this thread: preemption by other jobs excluded
    for a, c in frames:
        t0 = clock()
        session.feed(a, c)
        whole.append((clock() - t0) / 1e3)
    loop: list[float] = []
    vads = [VoiceActivity(), VoiceActivity()]
    pros = [SpeakerProsody(), SpeakerProsody()]
    for i, (a, c) in enumerate(frames):
        end = (i + 1) * FRAME_SAMPLES
        t0 = clock()
        for vad, sp, x in ((vads[0], pros[0], a), (vads[1], pros[1], c)):
            vad.feed(x, end)
            sp.feed(
                x,
                end,
                speaking=vad.speaking,
                voiced=vad.voiced,
                level_dbfs=float(vad.level_dbfs),
                noise_dbfs=float(vad.floor_dbfs),
            )
        loop.append((clock() - t0) / 1e3)
    frame_us = FRAME_SECONDS * 1e6
    return {
        "audio_s": round(n * FRAME_SECONDS, 1),
        "core_us_median": round(statistics.median(whole), 1),
        "core_us_p95": round(percentile(whole, 95), 1),
        "core_cpu_pct_median": round(100 * statistics.median(whole) / frame_us, 3),
        "core_cpu_pct_p95": round(100 * percentile(whole, 95) / frame_us, 3),
        "core_cpu_pct_mean": round(100 * statistics.fmean(whole) / frame_us, 3),
        "prosody_loop_us_median": round(statistics.median(loop), 1),
        "prosody_loop_us_p95": round(percentile(loop, 95), 1),
        "prosody_loop_cpu_pct_median": round(100 * statistics.median(loop) / frame_us, 3),
    }


# When each cue's condition starts in the audio of tests/phone.py's calls (see PHONE_CALLS spans).
ONSETS: dict[str, tuple[float, str]] = {
    "customer_silence": (2.5, "the agent stops speaking"),
    "agent_silence": (13.5, "the customer stops speaking"),
    "overtalk": (4.0, "the agent starts talking over the customer"),
    "no_backchannel": (5.4, "the agent's last backchannel ends"),
    "long_monologue": (1.0, "the agent starts talking"),
    "talk_ratio": (1.0, "the agent starts talking (and nobody else does)"),
    "pace_fast": (1.0, "the fast speech starts"),
    "volume_low": (1.0, "the quiet speech starts"),
    "volume_high": (8.0, "the loud speech starts"),
    "agitation": (14.5, "the customer's agitated speech starts"),
    "agent_escalating": (22.5, "the agent's raised voice starts"),
}


def latency() -> tuple[dict[str, float], dict[str, float]]:
    """Per cue: ms from its threshold, and s from the start of its condition, to the prompt."""
    from phone import PHONE_CALLS, write_phone_calls

    from assist.runtime.wavio import load_call

    out: dict[str, float] = {}
    onset: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_phone_calls(tmp)
        for name, (_, _, expected) in PHONE_CALLS.items():
            agent, customer, _ = load_call(Path(tmp) / f"{name}.wav")
            session = CallSession(name, pack=default_pack("en"))
            events = session.start()
            for i in range(agent.shape[0] // FRAME_SAMPLES):
                sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
                events += session.feed(agent[sl], customer[sl])
            for ev in events:
                rule = getattr(ev.data, "rule", None)
                if ev.type == "prompt" and rule in expected and rule not in out:
                    out[rule] = round((ev.t - expected[rule]) * 1000, 1)
                    onset[rule] = round(ev.t - ONSETS[rule][0], 2)
            for rule in expected:
                out.setdefault(rule, float("nan"))
                onset.setdefault(rule, float("nan"))
    return out, onset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the timed call")
    ap.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = ap.parse_args()
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start: {load0}")
    fig = cost(args.seconds)
    lat, onset = latency()
    print(f"analysis core, one call (two channels), {fig['audio_s']} s of audio, per 20 ms frame:")
    print(
        f"  whole core     median {fig['core_us_median']:7.1f} us  p95 {fig['core_us_p95']:7.1f} us"
        f"  = {fig['core_cpu_pct_median']:.2f} % / {fig['core_cpu_pct_p95']:.2f} % of one core"
        f" (mean {fig['core_cpu_pct_mean']:.2f} %; target < 2 %)"
    )
    print(
        f"  VAD + prosody  median {fig['prosody_loop_us_median']:7.1f} us"
        f"  p95 {fig['prosody_loop_us_p95']:7.1f} us"
        f"  = {fig['prosody_loop_cpu_pct_median']:.2f} % of one core"
    )
    print("cue latency in audio time (phone-like calls), to the prompt from")
    print("  the threshold (limit 250 ms) | the start of the condition in the audio")
    for rule, ms in lat.items():
        print(f"  {rule:18s} {ms:6.1f} ms | {onset[rule]:6.2f} s after {ONSETS[rule][1]}")
    fig["latency_ms"] = lat
    fig["latency_ms_max"] = max(lat.values())
    fig["latency_from_onset_s"] = onset
    fig["load"] = f"{load0} -> {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    print(f"load average at end: {fig['load'].split(' -> ')[1]}")
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
