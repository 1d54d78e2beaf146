"""Run every benchmark and write docs/performance.md: the one command for all the figures.

    python benchmarks/run_all.py [--only NAME ...] [--output docs/performance.md]

Runs each other `benchmarks/*.py` as `python benchmarks/NAME.py --json` (repo root as cwd,
one at a time so they do not compete for the cores), reads the JSON object on its last
stdout line, and writes every figure with a description of this machine (CPU model, cores,
RAM, OS, Python, commit). A benchmark that fails or times out is reported as such in the
page; the others still run. Exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TIMEOUT_S = 180  # a benchmark must finish in under 3 minutes on the 2-core machine, unless:
TIMEOUTS_S = {
    "realtime_calls": 1500,  # each call count plays the 53 s demo call in real time, twice
    "memory": 600,  # recognisers decode speech at 16 kHz, twice per model
    "core_transcripts": 420,  # records two timelines with the real recognisers first
    "overlay_load": 300,  # two runs of a 3-minute call at 10x, plus start-up
    "sip_clock": 400,  # 3 tap kinds x 5 conditions x 10 s, each kind in its own process
    "whisper": 900,  # real-time calls on recorded speech (benchmarks/whisper.py, issue 16)
    "sip_g711": 420,  # real 17 s SIP calls, 4 per codec, one after another
    "zh": 600,  # CER and CPU by encoder window and beam: 4 decodes of 18 sentences (issue 24)
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "commit": (commit or "?") + (" (with uncommitted changes)" if dirty else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average at start": loadavg(),
    }


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def benchmarks(only: list[str] | None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if only:
        found = [p for p in found if p.stem in only]
    return found


def describe(path: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def run(path: Path) -> dict[str, Any]:
    """Run one benchmark; the load average before and after goes with its figures."""
    before = loadavg()
    res = _run(path)
    res["load"] = (before, loadavg())
    res["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return res


def _run(path: Path) -> dict[str, Any]:
    timeout = TIMEOUTS_S.get(path.stem, TIMEOUT_S)
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            [sys.executable, str(path), "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {
            "ok": False,
            "error": f"timed out after {timeout} s",
            "output": out,
            "seconds": timeout,
        }
    seconds = round(time.monotonic() - t0, 1)
    lines = r.stdout.strip().splitlines()
    figures = None
    if lines:
        try:
            figures = json.loads(lines[-1])
        except ValueError:
            figures = None
    if r.returncode != 0 or not isinstance(figures, dict):
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}, no JSON figures"])[-1]
        return {"ok": False, "error": why, "output": r.stdout, "seconds": seconds}
    return {"ok": True, "figures": figures, "output": "\n".join(lines[:-1]), "seconds": seconds}


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(obj, list):
        return [kv for i, v in enumerate(obj) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), obj)]


def render(info: dict[str, str], results: list[tuple[Path, dict[str, Any]]]) -> str:
    out = [
        "# Performance",
        "",
        "Generated by `python benchmarks/run_all.py` (do not edit by hand; re-run it).",
        "Each benchmark is `python benchmarks/NAME.py`; `--json` prints its figures as JSON.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        "",
        "The load average (1, 5, 15 min) is printed before and after each benchmark: on a",
        "shared machine the other jobs' load is part of the conditions. With a load above the",
        "number of cores, wall-clock figures (latencies, real-time calls) are worse than on a",
        "machine of one's own; CPU-time figures (core cost, real-time factors) much less so.",
        "",
    ]
    for path, res in results:
        out += section(path, res)
    return "\n".join(out)


def section(path: Path, res: dict[str, Any]) -> list[str]:
    """One benchmark's part of the page, from its `## NAME` heading to the next."""
    out = [f"## {path.stem}", "", describe(path), ""]
    if "load" in res:
        when = f" ({res['date']})" if "date" in res else ""
        out += [f"Load average before: {res['load'][0]}; after: {res['load'][1]}{when}.", ""]
    if not res["ok"]:
        out += [f"**Failed** ({res['seconds']} s): `{res['error']}`", ""]
    else:
        out += ["| figure | value |", "|---|---|"]
        out += [f"| `{k}` | {v} |" for k, v in flatten(res["figures"])]
        out += ["", f"Took {res['seconds']} s."]
    if res.get("output", "").strip():
        out += ["", "```", res["output"].rstrip(), "```"]
    out.append("")
    return out


def splice(page: str, results: list[tuple[Path, dict[str, Any]]]) -> str:
    """`page` with the sections of these benchmarks replaced (added at the end if new): for
    `--only`, so a rerun of one benchmark keeps the others' figures and when they were taken."""
    parts = re.split(r"(?m)^(?=## )", page)
    names = [m.group(1) if (m := re.match(r"## (\S+)", p)) else "" for p in parts]
    for path, res in results:
        text = "\n".join(section(path, res)) + "\n"
        if path.stem in names:
            parts[names.index(path.stem)] = text
        else:
            parts.append(text)
    return "".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these benchmarks and replace their sections of an existing page",
    )
    ap.add_argument("--output", default=str(ROOT / "docs" / "performance.md"))
    args = ap.parse_args()
    info = machine()
    print("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    results = []
    for path in benchmarks(args.only):
        print(f"== {path.stem} ... (load average {loadavg()})", flush=True)
        res = run(path)
        results.append((path, res))
        if res["ok"]:
            print(res["output"], flush=True)
        else:
            print(f"   FAILED: {res['error']}", flush=True)
        print(f"   (load average at end {res['load'][1]})", flush=True)
    page = Path(args.output)
    if args.only and page.exists():  # keep the other benchmarks' sections as they were
        text = splice(page.read_text(encoding="utf-8"), results)
    else:
        text = render(info, results)
    page.write_text(text, encoding="utf-8")
    failed = [p.stem for p, r in results if not r["ok"]]
    print(f"Wrote {args.output}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
