"""The floor under load: N simulated agents' plugins → Redis → `assist console` → a supervisor.

Each simulated agent is a real FleetPublisher (its own thread, event loop and Redis client)
replaying the events of the bundled demo call (`assist demo --asr off`: ~2.7 events/s: meters
twice a second, speech, prompts) at real time, staggered over the first 2 s. A supervisor
websocket client in another process subscribes to every call; latency is from the moment an
event is handed to the sink (`send()` on the "runner") to the moment the supervisor's socket
returns it (CLOCK_MONOTONIC is system-wide). Redis CPU is read from /proc, memory from
INFO memory (used_memory over the empty server), both divided by the agents.

    python benchmarks/fleet.py [--agents 20 100] [--seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from assist.core.events import Event  # noqa: E402
from fleet.config import FleetConfig  # noqa: E402
from fleet.publisher import FleetPublisher  # noqa: E402

TOKEN = "bench-supervisor-token-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_events(tmp: Path) -> list[dict[str, Any]]:
    out = tmp / "demo.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT), ASSIST_DB=str(tmp / "calls.sqlite3"))
    subprocess.run(
        [sys.executable, "-m", "assist", "demo", "--fast", "--no-server", "--asr", "off"]
        + ["--events", str(out), "--call-id", "template"],
        check=True,
        env=env,
        capture_output=True,
    )
    return [json.loads(line) for line in out.read_text().splitlines()]


def supervisor(port: int, seconds: float, queue: Any) -> None:
    """In its own process: receive every event, note when each arrived."""
    from websockets.asyncio.client import connect

    async def main() -> None:
        got: list[tuple[str, int, float]] = []
        async with connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}", max_size=2**24) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "since": {}}))
            queue.put("ready")
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    raw = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    break
                now = time.monotonic()
                m = json.loads(raw)
                if "seq" in m:
                    got.append((m["call_id"], m["seq"], now))
        queue.put(got)

    asyncio.run(main())


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def run(agents: int, seconds: float, template: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    rport, cport = free_port(), free_port()
    rdir = tmp / f"redis-{agents}"
    rdir.mkdir()
    rproc = subprocess.Popen(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(rdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    admin = redis.Redis(port=rport, decode_responses=True)
    for _ in range(100):
        try:
            admin.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    base_mem = int(admin.info("memory")["used_memory"])
    url = f"redis://127.0.0.1:{rport}/0"
    cfg = tmp / f"console-{agents}.toml"
    cfg.write_text(
        f'[fleet]\nurl = "{url}"\n[overlay]\nport = {cport}\nclient_queue = 100000\n'
        f'[[overlay.supervisor]]\nname = "bench"\ntoken = "{TOKEN}"\n'
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    console = subprocess.Popen(
        [sys.executable, "-m", "assist", "console", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert console.stderr is not None
    while "Supervisor:" not in console.stderr.readline():
        pass
    threading.Thread(target=console.stderr.read, daemon=True).start()
    q: Any = mp.get_context("spawn").Queue()
    sup = mp.get_context("spawn").Process(target=supervisor, args=(cport, seconds + 8, q))
    sup.start()
    assert q.get(timeout=30) == "ready"

    pubs = [
        FleetPublisher(FleetConfig(url=url, agent=f"bench-{i:03d}"), agent=f"bench-{i:03d}").start()
        for i in range(agents)
    ]
    sent: dict[tuple[str, int], float] = {}
    schedule: list[tuple[float, int, Event]] = []
    for i in range(agents):
        offset = 2.0 * i / agents
        for m in template:
            if m["t"] + offset > seconds:
                break
            m = dict(m, call_id=f"bench-{agents}-{i:03d}")
            schedule.append((m["t"] + offset, i, Event.from_dict(m)))
    schedule.sort(key=lambda x: x[0])
    r0, c0 = cpu_ticks(rproc.pid), cpu_ticks(console.pid)
    start = time.monotonic()
    for at, i, ev in schedule:
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent[(ev.call_id, ev.seq)] = time.monotonic()
        pubs[i].offer(ev)
    wall = time.monotonic() - start
    time.sleep(2.0)
    r1, c1 = cpu_ticks(rproc.pid), cpu_ticks(console.pid)
    mem = int(admin.info("memory")["used_memory"]) - base_mem
    got = q.get(timeout=seconds + 60)
    sup.join(10)
    for p in pubs:
        p.close(2.0)
    console.terminate()
    console.wait(10)
    rproc.terminate()
    rproc.wait(10)
    lat = sorted((t - sent[(c, s)]) * 1000 for c, s, t in got if (c, s) in sent)
    received = len({(c, s) for c, s, _ in got})

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2) if lat else float("nan")

    return {
        "agents": agents,
        "events_sent": len(sent),
        "events_per_s": round(len(sent) / wall, 1),
        "events_at_console": received,
        "latency_ms_p50": pct(50),
        "latency_ms_p99": pct(99),
        "latency_ms_max": round(lat[-1], 2) if lat else None,
        "redis_cpu_pct": round(100 * (r1 - r0) / CLK_TCK / (wall + 2), 2),
        "redis_cpu_pct_per_agent": round(100 * (r1 - r0) / CLK_TCK / (wall + 2) / agents, 3),
        "console_cpu_pct": round(100 * (c1 - c0) / CLK_TCK / (wall + 2), 1),
        "redis_memory_kb_per_agent": round(mem / agents / 1024, 1),
        "redis_bytes_per_event": round(mem / max(1, len(sent))),
        "mean_latency_ms": round(statistics.fmean(lat), 2) if lat else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[20, 100])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server is missing (scripts/install-test-deps.sh)", file=sys.stderr)
        return 1
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        template = demo_events(tmp)
        for n in args.agents:
            res = run(n, args.seconds, template, tmp)
            figures[f"agents_{n}"] = res
            print(
                f"fleet: {n} agents, {res['events_per_s']} events/s for {args.seconds:.0f} s: "
                f"event→supervisor p50 {res['latency_ms_p50']} ms, p99 {res['latency_ms_p99']} "
                f"ms; {res['events_at_console']}/{res['events_sent']} at the console; Redis "
                f"{res['redis_cpu_pct']} % CPU ({res['redis_cpu_pct_per_agent']} %/agent), "
                f"{res['redis_memory_kb_per_agent']} KiB/agent ({res['redis_bytes_per_event']} "
                f"B/event); console {res['console_cpu_pct']} % CPU"
            )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
