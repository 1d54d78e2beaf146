"""Memory per live call, and for each loaded speech model.

    python benchmarks/memory.py [--calls N] [--json]

Each measurement runs in a fresh child process so one does not inflate the next. Per call:
N calls live at once (session + runner thread + call-store sink), each fed 30 s of
two-channel audio, then resident memory (RSS) and Python heap (tracemalloc) growth / N.
Models: RSS growth when a model is loaded (Vosk models found by assist.runtime.models, the
PocketSphinx en-us default, the Whisper second pass), and per call: one recogniser per channel
at 16 kHz, just opened and after decoding 20 s of the demo call, measured on a second call
(the first also pages in the model); for Whisper, the shared decode pool's working set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALL_SECONDS = 30.0
SPEECH_S = 20  # demo-call audio each recogniser decodes in the model measurement


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


# --- children -------------------------------------------------------------------------------


def child_calls(n: int) -> dict[str, Any]:
    import gc
    import tracemalloc

    import numpy as np

    from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES
    from assist.core.session import CallSession
    from assist.runtime.packs import default_pack
    from assist.runtime.runner import CallRunner
    from assist.runtime.store import CallStore

    rng = np.random.default_rng(1)
    frames = int(CALL_SECONDS * ANALYSIS_RATE) // FRAME_SAMPLES
    t = np.arange(FRAME_SAMPLES * 50) / ANALYSIS_RATE
    burst = (0.1 * np.sin(2 * np.pi * 160 * t)).astype(np.float32)  # 1 s of "speech"
    hiss = (rng.normal(0, 1e-3, FRAME_SAMPLES * 50)).astype(np.float32)
    pack = default_pack("en")
    with tempfile.TemporaryDirectory() as tmp:
        store = CallStore(Path(tmp) / "calls.sqlite3")

        def run(ids: list[str]) -> list[CallRunner]:
            runners = [
                CallRunner(CallSession(i, pack=pack), [store.sink(i)], block=True).start()
                for i in ids
            ]
            for f in range(frames):
                k = f % 50
                second = f // 50
                a = burst if second % 4 in (0, 1) else hiss
                c = burst if second % 4 == 2 else hiss
                for r in runners:
                    r.push(
                        a[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES],
                        c[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES],
                    )
            return runners

        for r in run(["warm-1", "warm-2"]):  # imports, caches, sqlite pages
            r.finish()
        gc.collect()
        tracemalloc.start()
        rss0, heap0 = rss_mb(), tracemalloc.get_traced_memory()[0]
        live = run([f"call-{i}" for i in range(n)])
        store.flush()
        gc.collect()
        rss1, heap1 = rss_mb(), tracemalloc.get_traced_memory()[0]
        for r in live:
            r.finish()
        store.close()
    return {
        "calls": n,
        "rss_mb_per_call": round((rss1 - rss0) / n, 3),
        "heap_kb_per_call": round((heap1 - heap0) / n / 1024, 1),
    }


def child_model(kind: str) -> dict[str, Any]:
    """RSS growth to load one model, and for one call's two recognisers at 16 kHz (the rate
    production feeds them) after they decoded the demo call's first SPEECH_S s, one per channel:
    a second call's growth (the first also touches the model's pages).
    Whisper: the model (one replica per decode worker) and the shared decode pool's working
    set after one utterance per worker; it keeps nothing per call but the open utterance."""
    from assist.core.audio import to_int16_bytes
    from assist.runtime.demo import bundled_call
    from assist.runtime.wavio import load_call

    agent, customer, _ = load_call(bundled_call("en"))
    rate = 16000
    channels = [agent[: SPEECH_S * rate], customer[: SPEECH_S * rate]]
    if kind == "whisper":
        from concurrent.futures import ThreadPoolExecutor

        from assist.runtime import models, whisper_models
        from assist.runtime.second_pass import decode_workers

        info = models.find_whisper("en")
        if info is None:
            raise RuntimeError("no Whisper model for en")
        workers = decode_workers()
        rss0 = rss_mb()
        whisper = whisper_models.load(info, "en", workers)
        rss1 = rss_mb()
        utterances = [agent[int(0.3 * rate) : int(4.5 * rate)], customer[5 * rate : 13 * rate]]
        with ThreadPoolExecutor(workers) as pool:
            for _ in range(2):
                list(pool.map(whisper.decode, utterances[:workers] * max(1, workers // 2)))
        rss2 = rss_mb()
        return {
            "model": whisper.name,
            "rate": rate,
            "load_mb": round(rss1 - rss0, 1),
            "decode_workers": workers,
            "decoding_mb": round(rss2 - rss1, 1),
            "per_call_mb": "shared (one model and pool per process)",
        }
    if kind == "pocketsphinx":
        from assist.asr.sphinx_engine import SphinxEngine

        rss0 = rss_mb()
        engine: Any = SphinxEngine()
        rss1 = rss_mb()
    else:
        from assist.runtime import models

        info = next(m for m in models.discover() if str(m.path) == kind)
        rss0 = rss_mb()
        engine = models.load_vosk(info)
        rss1 = rss_mb()

    def one_call() -> tuple[list[Any], float, float]:
        """Open a call's two recognisers and decode its speech: RSS after each step."""
        recs = [engine.recognizer(rate) for _ in range(2)]
        opened = rss_mb()
        for rec, x in zip(recs, channels, strict=True):
            for i in range(0, x.shape[0], 320):
                rec.accept(to_int16_bytes(x[i : i + 320]))
        return recs, opened, rss_mb()

    first, opened1, used1 = one_call()  # also pages in the model's graph on first decode
    second, opened2, used2 = one_call()  # a further call: what each call adds
    del first, second
    return {
        "model": getattr(engine, "name", kind),
        "rate": rate,
        "load_mb": round(rss1 - rss0, 1),
        "first_call_mb": round(used1 - rss1, 1),
        "per_call_mb_opened": round(opened2 - used1, 1),
        "per_call_mb": round(used2 - used1, 1),
    }


def run_child(*args: str) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last}
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=20, help="live calls at once (default 20)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the per-call measurement")
    ap.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        kind, *rest = args.child
        out = child_calls(int(rest[0])) if kind == "calls" else child_model(rest[0])
        print(json.dumps(out))
        return 0

    def load() -> str:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())

    load0 = load()
    print(f"load average at start: {load0}")
    runs = [run_child("calls", str(args.calls)) for _ in range(args.repeat)]
    ok = [r for r in runs if "error" not in r]
    figures: dict[str, Any] = {"calls_at_once": args.calls}
    if ok:
        figures["rss_mb_per_call"] = statistics.median(r["rss_mb_per_call"] for r in ok)
        figures["heap_kb_per_call"] = statistics.median(r["heap_kb_per_call"] for r in ok)
    else:
        figures["per_call_error"] = runs[0]["error"]
    print(
        f"Memory per live call ({args.calls} at once, {CALL_SECONDS:.0f} s of audio each, "
        f"median of {len(ok)} runs):"
    )
    if ok:
        print(f"  resident (RSS)  {figures['rss_mb_per_call']:.2f} MB")
        print(f"  Python heap     {figures['heap_kb_per_call']:.0f} kB")
    else:
        print(f"  failed: {figures['per_call_error']}")

    targets = ["pocketsphinx", "whisper"]
    try:
        from assist.runtime import models

        targets += [str(m.path) for m in models.discover()]
    except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could not measure
        print(f"  (Vosk model discovery unavailable: {exc})")
    figures["models"] = []
    print("Speech models (RSS growth):")
    for target in targets:
        res = run_child("model", target)
        res.setdefault("model", target)
        figures["models"].append(res)
        if "error" in res:
            print(f"  {res['model']:<40} failed: {res['error']}")
        elif "decoding_mb" in res:
            print(
                f"  {res['model']:<28} load {res['load_mb']:7.1f} MB ({res['decode_workers']}"
                f" replicas)  + decoding {res['decoding_mb']:.1f} MB, shared by every call"
            )
        else:
            print(
                f"  {res['model']:<28} load {res['load_mb']:7.1f} MB   per call (2 recognisers"
                f" at {res['rate'] // 1000} kHz) {res['per_call_mb_opened']:6.1f} MB opened,"
                f" {res['per_call_mb']:6.1f} MB after {SPEECH_S} s of speech"
                f" (the first call: {res['first_call_mb']:.1f} MB, model pages touched included)"
            )
    figures["load"] = f"{load0} -> {load()}"
    print(f"load average at end: {load()}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
