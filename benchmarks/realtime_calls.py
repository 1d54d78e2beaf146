"""Calls at once in real time, as the product runs them: the largest N with no drop or lag.

    python benchmarks/realtime_calls.py [--calls 1 2 3 4] [--lang en] [--asr auto] [--json]

N `assist demo` processes start together, each playing the bundled demo call paced in real
time through the whole product with its defaults: speech recognition `--asr auto` (for
English without a Vosk model: Whisper tiny.en per utterance), the overlay server, the call
store (each process its own file, as each agent's plugin has), events written as JSON lines.
From each call's events: audio frames dropped (`dropped`), `asr_lagging` reports (first or
second pass), finals decoded by Whisper vs first-pass stand-ins, the prompts raised, and each
word cue's latency from the end of the utterance that triggered it, two ways: from its final's
last word (Whisper's word time, often a little before the voice really stops) and from the
end of the speech (the VAD's last voiced frame of that speaker, as `benchmarks/whisper.py`
measures), in audio time: the decode and the 0.45 s alignment included. A
call count passes when no call dropped a frame or reported lag. Also the CPU time of the
processes (share of one core per call, also without the command's start-up CPU, measured on
a 0.5 s call) and wall time over audio time. Runs N = 1, 2, ... and
stops after the first N that fails.

All N calls play the same recording, so by default (`--offset 0`) they start together and every
utterance of every call ends at the same moment: 2N decodes arrive at once, the worst case a
floor never sees. `--offset S` starts call i S*i seconds after the first, as calls on a real
floor start at unrelated moments; the calls still overlap for all but (N-1)*S seconds.

By default this is done as shipped (`--asr auto`); `--asr auto sphinx` adds the PocketSphinx
fallback for comparison.

This is the one-process-per-agent deployment. `benchmarks/whisper.py` measures the other: N
calls as threads of one process sharing one Whisper decode pool, on recorded speech.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def startup_cpu(lang: str, tmp: Path) -> float:
    """CPU seconds of `assist demo` around a 0.5 s call: start-up (imports, models) and exit."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from assist.runtime.wavio import write_wav

    wav = tmp / "short.wav"
    write_wav(wav, np.zeros((8000, 2), np.float32), 16000)
    cmd = [sys.executable, "-m", "assist", "demo", str(wav), "--lang", lang, "--port", "0"]
    cmd += ["--store", str(tmp / "short.sqlite3")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(p.pid, 0)
    p.returncode = 0
    return usage.ru_utime + usage.ru_stime


def run_calls(
    n: int, lang: str, tmp: Path, start_cpu: float, asr: str, offset: float = 0.0
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    t0 = time.perf_counter()
    for i in range(n):
        time.sleep(max(0.0, t0 + i * offset - time.perf_counter()))
        ev = tmp / f"n{n}-call{i}.jsonl"
        cmd = [sys.executable, "-m", "assist", "demo", "--lang", lang, "--port", "0", "--asr", asr]
        cmd += ["--events", str(ev), "--store", str(tmp / f"n{n}-call{i}.sqlite3")]
        cmd += ["--call-id", f"rt{n}-{i}"]
        with open(tmp / f"n{n}-call{i}.err", "w") as err:
            p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        procs.append((p, ev))
    cpu = 0.0
    errors = []
    for p, ev in procs:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        err = ev.with_suffix(".err").read_text(encoding="utf-8", errors="replace")
        if p.returncode != 0:
            errors.append((err.strip().splitlines() or [f"exit {p.returncode}"])[-1])
    wall = time.perf_counter() - t0
    calls = [summarise(ev) for _, ev in procs]
    audio = max(c["audio_s"] for c in calls) if calls else 0.0
    wall -= (n - 1) * offset
    out: dict[str, Any] = {
        "calls": n,
        "dropped_frames": sum(c["dropped"] for c in calls),
        "asr_lagging": sum(c["lagging"] for c in calls),
        "asr_lagging_first_pass": sum(c["lagging_pass1"] for c in calls),
        "asr_lagging_whisper": sum(c["lagging_pass2"] for c in calls),
        "whisper_finals": sum(c["whisper_finals"] for c in calls),
        "first_pass_finals": sum(c["first_pass_finals"] for c in calls),
        "prompts_per_call": sorted({c["prompts"] for c in calls}),
        "cpu_pct_of_core_per_call": round(100 * cpu / max(audio, 1e-9) / n, 1),
        "cpu_pct_of_core_per_call_after_startup": round(
            100 * (cpu - n * start_cpu) / max(audio, 1e-9) / n, 1
        ),
        "word_cue_latency_s_median": median([x for c in calls for x in c["word_cue_latency_s"]]),
        "word_cue_latency_s_max": max(
            [x for c in calls for x in c["word_cue_latency_s"]], default=None
        ),
        "word_cue_latency_vad_s_median": median(
            [x for c in calls for x in c["word_cue_latency_vad_s"]]
        ),
        "word_cue_latency_vad_s_p95": p95([x for c in calls for x in c["word_cue_latency_vad_s"]]),
        "wall_over_audio": round(wall / max(audio, 1e-9), 2),
    }
    if errors:
        out["errors"] = errors
    out["ok"] = not errors and out["dropped_frames"] == 0 and out["asr_lagging"] == 0
    return out


def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 2) if xs else None


def p95(xs: list[float]) -> float | None:
    return round(sorted(xs)[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))], 2) if xs else None


def summarise(path: Path) -> dict[str, Any]:
    """Drops, lag reports, finals by pass and prompts from one call's JSON lines."""
    c: dict[str, Any] = {
        "word_cue_latency_s": [],
        "word_cue_latency_vad_s": [],
        "dropped": 0,
        "lagging": 0,
        "lagging_pass1": 0,
        "lagging_pass2": 0,
        "whisper_finals": 0,
        "first_pass_finals": 0,
        "prompts": 0,
        "audio_s": 0.0,
    }
    if not path.exists():
        return c
    last_final: dict[str, Any] | None = None
    stop_at: dict[str, float] = {}  # speaker -> the VAD's last voiced frame of their last speech
    final_stop: float | None = None  # ... as it was when the last final came
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        d = e.get("data", {})
        if e["type"] == "prompt" and last_final is not None and last_final["seq"] == e["seq"] - 1:
            end = last_final["data"]["end"]  # a word cue: its final's last word, audio time
            if end is not None:
                c["word_cue_latency_s"].append(round(e["t"] - end, 2))
            if final_stop is not None:
                c["word_cue_latency_vad_s"].append(round(e["t"] - final_stop, 2))
        if e["type"] == "speech" and d.get("state") == "stop":
            stop_at[d["speaker"]] = d["at"]
        if e["type"] == "dropped":
            c["dropped"] += d["count"]
        elif e["type"] == "asr_lagging" and not d.get("recovered"):
            c["lagging"] += 1
            c[f"lagging_pass{d.get('asr_pass', 1)}"] += 1
        elif e["type"] == "transcript" and d["kind"] == "final":
            c["whisper_finals" if d.get("asr_pass") == 2 else "first_pass_finals"] += 1
            last_final = e
            final_stop = stop_at.get(d["speaker"])
        elif e["type"] == "prompt":
            c["prompts"] += 1
        elif e["type"] == "call_ended":  # dropped frames never reached the session
            c["audio_s"] = d["duration_s"] + 0.02 * c["dropped"]
    return c


def sweep(asr: str, lang: str, counts: list[int], tmp: Path, offset: float = 0.0) -> dict[str, Any]:
    """N = counts[0], counts[1], ... calls at once until one count drops or lags."""
    out: dict[str, Any] = {"runs": {}}
    start_cpu = out["startup_cpu_s"] = round(startup_cpu(lang, tmp), 2)
    print(f"--asr {asr}: start-up and exit of assist demo (0.5 s call): {start_cpu} s CPU")
    best = 0
    for n in sorted(set(counts)):
        before = load()
        res = run_calls(n, lang, tmp, start_cpu, asr, offset)
        res["load"] = f"{before} -> {load()}"
        out["runs"][str(n)] = res
        print(
            f"  {n} call(s) at once, real time: dropped frames {res['dropped_frames']}, "
            f"asr_lagging {res['asr_lagging']} (first pass {res['asr_lagging_first_pass']},"
            f" Whisper {res['asr_lagging_whisper']}), finals whisper/first-pass "
            f"{res['whisper_finals']}/{res['first_pass_finals']}, prompts per call "
            f"{res['prompts_per_call']}, CPU {res['cpu_pct_of_core_per_call']} % of a core "
            f"per call ({res['cpu_pct_of_core_per_call_after_startup']} % without start-up),"
            f" wall/audio {res['wall_over_audio']}, word cues from the end of the"
            f" utterance: median {res['word_cue_latency_s_median']} s, max"
            f" {res['word_cue_latency_s_max']} s; from the end of the speech (the VAD's last"
            f" voiced frame): median {res['word_cue_latency_vad_s_median']} s, p95"
            f" {res['word_cue_latency_vad_s_p95']} s, load {res['load']}"
            + (f", errors {res['errors']}" if "errors" in res else ""),
            flush=True,
        )
        if not res["ok"]:
            break
        best = n
    out["max_calls_no_drop_no_lag"] = best
    print(f"  most calls at once in real time with no drop and no lag (--asr {asr}): {best}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 6, 8, 10])
    ap.add_argument("--lang", default="en", choices=["en", "zh"])
    ap.add_argument(
        "--asr",
        nargs="+",
        default=["auto"],
        help="the demo's --asr values to measure (default: auto, as shipped)",
    )
    ap.add_argument(
        "--offset",
        type=float,
        default=0.0,
        help="seconds between one call's start and the next (default 0: all in lockstep)",
    )
    ap.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = ap.parse_args()
    figures: dict[str, Any] = {
        "lang": args.lang,
        "offset_s": args.offset,
        "load_at_start": load(),
    }
    print(f"load average at start: {figures['load_at_start']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for asr in args.asr:
            figures[f"asr_{asr}"] = sweep(asr, args.lang, args.calls, Path(tmp), args.offset)
    figures["load_at_end"] = load()
    print(f"load average at end: {figures['load_at_end']}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
