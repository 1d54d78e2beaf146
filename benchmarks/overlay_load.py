"""Load test of the overlay server: N overlay clients (default 50) and one stalled client on one
server while a call runs, loopback only. Reports prompt delivery delay: from the moment the
analysis core hands a prompt to the sinks (runner thread) to the moment each client's
websocket returns it (clients run in a separate process; CLOCK_MONOTONIC is system-wide).

    python benchmarks/overlay_load.py [--clients 50] [--speed 10] [--minutes 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES  # noqa: E402
from assist.core.events import Event  # noqa: E402
from assist.core.session import CallSession  # noqa: E402
from assist.runtime.control import CallRegistry, DemoControl  # noqa: E402
from assist.runtime.demo import play  # noqa: E402
from assist.runtime.packs import default_pack  # noqa: E402
from assist.runtime.runner import CallRunner  # noqa: E402
from overlay.server import HubSink, OverlayServer  # noqa: E402

CYCLE_S = 20.0  # agent 1 s, 8.5 s silence (customer_silence), customer 1 s, 6 s (agent_silence)


def speech(seconds: float, rng: np.random.Generator, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * ANALYSIS_RATE)) / ANALYSIS_RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    x = x * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2 * t)))
    return (0.1 * x / np.sqrt(np.mean(x**2)) + rng.normal(0, 1e-3, t.shape)).astype(np.float32)


def synthetic_call(minutes: float) -> tuple[np.ndarray, np.ndarray]:
    """A call that raises a prompt about every 10 s of audio and clears it again."""
    rng = np.random.default_rng(5)
    n = int(minutes * 60 * ANALYSIS_RATE) // FRAME_SAMPLES * FRAME_SAMPLES
    agent = rng.normal(0, 1e-3, n).astype(np.float32)
    customer = rng.normal(0, 1e-3, n).astype(np.float32)
    for start in np.arange(0.5, minutes * 60 - CYCLE_S, CYCLE_S):
        a0, c0 = int(start * ANALYSIS_RATE), int((start + 9.5) * ANALYSIS_RATE)
        s = speech(1.0, rng, 140)
        agent[a0 : a0 + s.size] += s
        customer[c0 : c0 + s.size] += speech(1.0, rng, 210)
    return agent, customer


class StampSink:
    """Records when each prompt left the core (before the hub sees it)."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.events = 0

    def send(self, event: Event) -> None:
        self.events += 1
        if event.type == "prompt":
            self.sent[event.seq] = time.monotonic()

    def close(self) -> None:
        pass


async def _clients(url: str, n: int, ready: Any, out: Any) -> None:
    from websockets.asyncio.client import connect

    async def one(i: int) -> dict[str, Any]:
        prompts: dict[int, float] = {}
        count = 0
        async with connect(url, max_size=2**20) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "subscribe"}))
            ready.put(i)
            async for raw in ws:
                now = time.monotonic()
                count += 1
                msg = json.loads(raw)
                if msg.get("type") == "prompt":
                    prompts[msg["seq"]] = now
                elif msg.get("type") == "call_ended":
                    break
        return {"prompts": prompts, "messages": count}

    async def stalled() -> str:
        """Subscribes, then never reads: the server must drop it, not slow the others."""
        host, port = url.split("//")[1].split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        path = "/" + url.split("/", 3)[3]
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        payload = json.dumps({"type": "subscribe"}).encode()
        mask = b"\x00\x00\x00\x00"
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + payload)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ready.put(-1)
        try:  # never read: wait until the server gives up on us
            while not reader.at_eof():
                await asyncio.sleep(0.5)
                if writer.transport.is_closing():
                    break
            return "dropped by server"
        except ConnectionError:
            return "dropped by server"

    stall = asyncio.create_task(stalled())
    results = await asyncio.gather(*(one(i) for i in range(n)))
    try:
        async with asyncio.timeout(10):
            stall_fate = await stall
    except TimeoutError:
        stall_fate = "still connected 10 s after the call (what it missed fit in socket buffers)"
        stall.cancel()
    out.put({"clients": results, "stalled": stall_fate})


def client_process(url: str, n: int, ready: Any, out: Any) -> None:
    asyncio.run(_clients(url, n, ready, out))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--speed", type=float, default=10.0, help="call playback, x real time")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the call (audio)")
    ap.add_argument("--json", action="store_true", help="print a JSON line of the figures last")
    args = ap.parse_args()

    agent, customer = synthetic_call(args.minutes)
    registry = CallRegistry()
    server = OverlayServer(port=0, registry=registry, control=DemoControl()).start()
    url = f"ws://127.0.0.1:{server.port}/ws?token={server.config.agents[0].token}"
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=client_process, args=(url, args.clients, ready, out), daemon=True)
    proc.start()
    for _ in range(args.clients + 1):
        ready.get(timeout=60)
    time.sleep(0.3)

    stamps = StampSink()
    session = CallSession("load-1", pack=default_pack("en"), source="demo", agent="demo-agent")
    runner = CallRunner(session, [stamps, HubSink(server)]).start()
    registry.add(runner)
    t0 = time.monotonic()
    play(agent, customer, runner, speed=args.speed)
    runner.finish(timeout=30)
    wall = time.monotonic() - t0
    result = out.get(timeout=120)
    proc.join(15)
    server.stop()

    delays = [
        (got - stamps.sent[seq]) * 1000
        for c in result["clients"]
        for seq, got in c["prompts"].items()
        if seq in stamps.sent
    ]
    complete = sum(len(c["prompts"]) == len(stamps.sent) for c in result["clients"])
    figures = {
        "clients": args.clients,
        "call_audio_s": round(agent.size / ANALYSIS_RATE, 1),
        "speed": args.speed,
        "wall_s": round(wall, 1),
        "events": stamps.events,
        "prompts": len(stamps.sent),
        "clients_with_every_prompt": complete,
        "prompt_delay_ms_median": round(statistics.median(delays), 2) if delays else None,
        "prompt_delay_ms_p95": round(pct(delays, 95), 2),
        "prompt_delay_ms_max": round(max(delays), 2) if delays else None,
        "messages_per_client_median": statistics.median(c["messages"] for c in result["clients"]),
        "audio_frames_dropped": runner.dropped_total,
        "stalled_client": result["stalled"],
    }
    print(
        f"overlay load: {args.clients} clients + 1 stalled, one call of "
        f"{figures['call_audio_s']} s audio at {args.speed}x ({figures['wall_s']} s wall)"
    )
    print(
        f"  events published {figures['events']}, prompts {figures['prompts']}, "
        f"clients that got every prompt {complete}/{args.clients}"
    )
    print(
        f"  prompt delivery delay: median {figures['prompt_delay_ms_median']} ms, "
        f"p95 {figures['prompt_delay_ms_p95']} ms, max {figures['prompt_delay_ms_max']} ms"
    )
    print(
        f"  audio frames dropped by the call: {runner.dropped_total}; "
        f"stalled client: {result['stalled']}"
    )
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
