"""Load test of the overlay server: N overlay clients (default 50) on one server while a call
runs, loopback only; then the same call again with hostile clients alongside. Reports prompt
delivery delay: from the moment the analysis core hands a prompt to the sinks (runner thread)
to the moment each well-behaved client's websocket returns it (clients run in separate
processes; CLOCK_MONOTONIC is system-wide).

The hostile clients (issue 17), in a process of their own:
- a *stalled* client: subscribes to the live call with a 4 KiB receive buffer set before it
  connects, and never reads;
- a *backlog subscriber*: asks for a 20 000-event call the server holds, and never reads;
- a *feedback flood*: for every prompt it sees, sends 300 `feedback` messages at once.
The server must drop the two that never read (the figures say when), record each prompt's
feedback once, and keep the others' delay where it was.

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
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES  # noqa: E402
from assist.core.events import (  # noqa: E402
    CallStarted,
    Event,  # noqa: E402
    Transcript,
)
from assist.core.session import CallSession  # noqa: E402
from assist.runtime.control import CallRegistry, DemoControl  # noqa: E402
from assist.runtime.demo import play  # noqa: E402
from assist.runtime.packs import default_pack  # noqa: E402
from assist.runtime.runner import CallRunner  # noqa: E402
from overlay.auth import OverlayConfig  # noqa: E402
from overlay.server import HubSink, OverlayServer  # noqa: E402

BACKLOG_EVENTS = 20_000
FLOOD_PER_PROMPT = 300
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


class TranscriptFeed:
    """Words, as a speech engine would hand them in, tied to audio time: a partial for one
    speaker or the other every 0.12 s, every 8th a final line. Published straight to the
    server as a second stream of the same agent ("words-1"): the synthetic audio has no words,
    and word matching in the core is not what this measures, but a real call's overlay stream
    is mostly transcripts."""

    def __init__(self, server: OverlayServer) -> None:
        self.server = server
        self.n = 0
        started = CallStarted(lang="en", source="demo", sample_rate=16_000, agent="demo-agent")
        server.publish(Event("words-1", 0, 0.0, started))

    def __call__(self, done: int, total: int) -> None:
        if done % 6:
            return
        self.n += 1
        speaker = ("agent", "customer")[self.n // 8 % 2]
        kind = "final" if self.n % 8 == 0 else "partial"
        words = "so what I can do for you today is look at the account and " * 2
        line = Transcript(speaker, kind, words[: 20 + 12 * (self.n % 8)])
        self.server.publish(Event("words-1", self.n, done * FRAME_SAMPLES / ANALYSIS_RATE, line))


class StampSink:
    """Records when each prompt left the core (before the hub sees it)."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.events = 0
        self.feedback = 0

    def send(self, event: Event) -> None:
        self.events += 1
        self.feedback += event.type == "feedback"
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

    results = await asyncio.gather(*(one(i) for i in range(n)))
    out.put({"clients": results})


def client_process(url: str, n: int, ready: Any, out: Any) -> None:
    asyncio.run(_clients(url, n, ready, out))


async def _never_read(port: int, path: str, subscribe: dict[str, Any]) -> Any:
    """Connect with a 4 KiB receive buffer (set before connecting, so the window stays small),
    upgrade, subscribe, and never read again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    _, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    payload = json.dumps(subscribe).encode()
    writer.write(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
    await writer.drain()
    return writer


async def _hostile(port: int, agent: str, supervisor: str, ready: Any, out: Any) -> None:
    from websockets.asyncio.client import connect

    stalled = await _never_read(port, f"/ws?token={agent}", {"type": "subscribe"})
    backlog = await _never_read(
        port, f"/ws?token={supervisor}", {"type": "subscribe", "call_id": "backlog-1"}
    )
    replies: dict[str, int] = {}
    async with connect(f"ws://127.0.0.1:{port}/ws?token={agent}", max_size=2**20) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe"}))
        ready.put("hostile")
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "prompt":
                fb = {"type": "feedback", "call_id": msg["call_id"]}
                fb["prompt_id"] = msg["data"]["prompt_id"]
                for i in range(FLOOD_PER_PROMPT):
                    verdict = "done" if i % 3 else "not_helpful"
                    await ws.send(json.dumps(fb | {"verdict": verdict}))
            elif msg.get("type") in ("result", "error") and "seq" not in msg:
                key = msg.get("code") or msg["message"].split(":")[0]
                replies[key] = replies.get(key, 0) + 1
            elif msg.get("type") == "call_ended":
                break
    stalled.close()
    backlog.close()
    out.put({"flood_replies": replies})


def hostile_process(port: int, agent: str, supervisor: str, ready: Any, out: Any) -> None:
    asyncio.run(_hostile(port, agent, supervisor, ready, out))


class DropWatch:
    """Polls the server's drop counters; records when each drop happened (monotonic)."""

    def __init__(self, server: OverlayServer) -> None:
        self.server, self._stop = server, threading.Event()
        self.times: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen = 0
        while not self._stop.wait(0.05):
            now = self.server.dropped_stalled + self.server.dropped_slow
            self.times.extend([time.monotonic()] * (now - seen))
            seen = now

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(1)
        return self.times


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace, hostile: bool) -> dict[str, Any]:
    agent, customer = synthetic_call(args.minutes)
    registry = CallRegistry()
    cfg = OverlayConfig(port=0, max_connections_per_token=args.clients + 8)
    server = OverlayServer(config=cfg, registry=registry, control=DemoControl()).start()
    # a past call of another agent, held by the server: what the backlog subscriber asks for
    started = CallStarted(lang="en", source="demo", sample_rate=16_000, agent="archive")
    server.publish(Event("backlog-1", 0, 0.0, started))
    text = "an earlier line of the archived call " * 8
    for seq in range(1, BACKLOG_EVENTS):
        server.publish(Event("backlog-1", seq, seq / 10, Transcript("agent", "final", text)))
    agent_token = server.config.agents[0].token
    url = f"ws://127.0.0.1:{server.port}/ws?token={agent_token}"
    ctx = mp.get_context("spawn")
    ready, out, hout = ctx.Queue(), ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=client_process, args=(url, args.clients, ready, out), daemon=True)
    proc.start()
    for _ in range(args.clients):
        ready.get(timeout=60)
    hproc = None
    watch = DropWatch(server)
    t_stall = time.monotonic()
    if hostile:
        sup = server.config.supervisors[0].token
        hargs = (server.port, agent_token, sup, ready, hout)
        hproc = ctx.Process(target=hostile_process, args=hargs, daemon=True)
        hproc.start()
        ready.get(timeout=60)
        t_stall = time.monotonic()
    time.sleep(0.3)

    stamps = StampSink()
    session = CallSession("load-1", pack=default_pack("en"), source="demo", agent="demo-agent")
    runner = CallRunner(session, [stamps, HubSink(server)]).start()
    registry.add(runner)
    t0 = time.monotonic()
    play(agent, customer, runner, speed=args.speed, on_frame=TranscriptFeed(server))
    runner.finish(timeout=30)
    wall = time.monotonic() - t0
    result = out.get(timeout=120)
    hostile_result = hout.get(timeout=60) if hostile else {}
    proc.join(15)
    if hproc is not None:
        hproc.join(15)
    time.sleep(0.5)
    drops = watch.stop()
    server.stop()

    delays = [
        (got - stamps.sent[seq]) * 1000
        for c in result["clients"]
        for seq, got in c["prompts"].items()
        if seq in stamps.sent
    ]
    complete = sum(len(c["prompts"]) == len(stamps.sent) for c in result["clients"])
    return {
        "hostile": hostile,
        "clients": args.clients,
        "call_audio_s": round(agent.size / ANALYSIS_RATE, 1),
        "speed": args.speed,
        "wall_s": round(wall, 1),
        "events": stamps.events,
        "prompts": len(stamps.sent),
        "clients_with_every_prompt": complete,
        "prompt_delay_ms_median": round(statistics.median(delays), 2) if delays else None,
        "prompt_delay_ms_p95": round(pct(delays, 95), 2),
        "prompt_delay_ms_p99": round(pct(delays, 99), 2),
        "prompt_delay_ms_max": round(max(delays), 2) if delays else None,
        "messages_per_client_median": statistics.median(c["messages"] for c in result["clients"]),
        "audio_frames_dropped": runner.dropped_total,
        "clients_dropped_by_server": len(drops),
        "dropped_after_s": [round(t - t_stall, 1) for t in drops],
        "feedback_events_recorded": stamps.feedback,
        "flood_replies": hostile_result.get("flood_replies", {}),
    }


def report(f: dict[str, Any]) -> None:
    who = f"{f['clients']} clients" + (
        " + hostile (stalled reader, backlog subscriber, feedback flood)" if f["hostile"] else ""
    )
    print(
        f"overlay load: {who}, one call of {f['call_audio_s']} s audio at {f['speed']}x "
        f"({f['wall_s']} s wall)"
    )
    print(
        f"  events published {f['events']}, prompts {f['prompts']}, "
        f"clients that got every prompt {f['clients_with_every_prompt']}/{f['clients']}"
    )
    print(
        f"  prompt delivery delay: median {f['prompt_delay_ms_median']} ms, "
        f"p95 {f['prompt_delay_ms_p95']} ms, p99 {f['prompt_delay_ms_p99']} ms, "
        f"max {f['prompt_delay_ms_max']} ms"
    )
    print(f"  audio frames dropped by the call: {f['audio_frames_dropped']}")
    if f["hostile"]:
        print(
            f"  clients dropped by the server: {f['clients_dropped_by_server']} "
            f"(after {f['dropped_after_s']} s of stalling); feedback events recorded: "
            f"{f['feedback_events_recorded']} for {f['prompts']} prompts; "
            f"flood replies: {f['flood_replies']}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--speed", type=float, default=10.0, help="call playback, x real time")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the call (audio)")
    ap.add_argument("--json", action="store_true", help="print a JSON line of the figures last")
    args = ap.parse_args()

    base = run(args, hostile=False)
    report(base)
    hostile = run(args, hostile=True)
    report(hostile)
    p99 = hostile["prompt_delay_ms_p99"] - base["prompt_delay_ms_p99"]
    print(f"  p99 with hostile clients minus without: {p99:+.2f} ms")
    if args.json:
        print(json.dumps({"baseline": base, "hostile": hostile, "p99_change_ms": round(p99, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
