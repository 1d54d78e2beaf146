"""How fast `assist demo --fast` plays a call, as a multiple of real time.

    python benchmarks/demo_speed.py [--runs N] [--json]

On the bundled English demo call: the analysis pipeline alone in one process (WAV loaded, no
speech recognition: CallRunner + CallSession + sinks), without and with the call store; the
whole command as a user runs it (`assist demo --fast --no-server`, process start-up
included) with speech recognition off, without and with the store; and, once (it is slow),
the command with default settings, speech recognition included. Medians of N runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def command_x(audio_s: float, store: str | None, extra: tuple[str, ...] = ()) -> float:
    cmd = [sys.executable, "-m", "assist", "demo", "--fast", "--no-server", "--events", "/dev/null"]
    cmd += ["--store", store] if store else ["--no-store"]
    if store:
        Path(store).unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run([*cmd, *extra], cwd=ROOT, check=True, capture_output=True, timeout=170)
    return audio_s / (time.perf_counter() - t0)


def asr_off() -> tuple[str, ...]:
    """`--asr off` if this version of `assist demo` has speech recognition (on by default)."""
    r = subprocess.run(
        [sys.executable, "-m", "assist", "demo", "-h"], cwd=ROOT, capture_output=True, text=True
    )
    return ("--asr", "off") if "--asr" in r.stdout else ()


def pipeline_x(agent: Any, customer: Any, store_dir: str | None, i: int) -> float:
    from assist.core.session import CallSession
    from assist.runtime.demo import play
    from assist.runtime.packs import default_pack
    from assist.runtime.runner import CallRunner, ListSink
    from assist.runtime.store import CallStore

    store = CallStore(Path(store_dir) / f"calls-{i}.sqlite3") if store_dir else None
    sinks: list[Any] = [ListSink()]
    if store is not None:
        sinks.append(store.sink(f"bench-{i}"))
    t0 = time.perf_counter()
    runner = CallRunner(CallSession(f"bench-{i}", pack=default_pack("en")), sinks, block=True)
    runner.start()
    play(agent, customer, runner, speed=None)
    runner.finish()
    if store is not None:
        store.close()
    return agent.shape[0] / 16000 / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from assist.runtime.demo import bundled_call
    from assist.runtime.wavio import load_call

    agent, customer, _ = load_call(bundled_call("en"))
    audio_s = agent.shape[0] / 16000
    fig: dict[str, Any] = {"audio_s": round(audio_s, 1), "runs": args.runs}
    off = asr_off()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "cmd.sqlite3")
        pipeline_x(agent, customer, None, -1)  # warm-up
        for name, store in (("no_store", None), ("store", tmp)):
            xs = [pipeline_x(agent, customer, store, i) for i in range(args.runs)]
            fig[f"pipeline_x_realtime_{name}"] = round(statistics.median(xs), 1)
        for name, path in (("no_store", None), ("store", db)):
            xs = [command_x(audio_s, path, off) for _ in range(args.runs)]
            fig[f"command_x_realtime_{name}"] = round(statistics.median(xs), 1)
        if off:
            fig["command_x_realtime_default_with_asr"] = round(command_x(audio_s, db), 1)
    print(
        f"assist demo --fast on the bundled call ({audio_s:.1f} s of audio), median of "
        f"{args.runs} runs, as a multiple of real time:"
    )
    print(
        f"  pipeline alone (no ASR)       {fig['pipeline_x_realtime_no_store']:7.1f}x   "
        f"with call store {fig['pipeline_x_realtime_store']:7.1f}x"
    )
    print(
        f"  whole command{', --asr off' if off else ''}      "
        f"{fig['command_x_realtime_no_store']:7.1f}x   "
        f"with call store {fig['command_x_realtime_store']:7.1f}x   (process start-up included)"
    )
    if off:
        print(
            f"  whole command, default (ASR on, store; 1 run) "
            f"{fig['command_x_realtime_default_with_asr']:7.1f}x"
        )
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
