"""Bounded soak: many short calls back to back in one process, through CallRunner into the call
store and the overlay hub (with a websocket client watching every call). After a warm-up,
Python memory, threads and open file descriptors must not grow with the number of calls.

The hub keeps the last few calls' history by design (CALLS_KEPT); the test keeps 3 so the
warm-up reaches the steady state. Loopback only, about 10 s.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest
from conftest import timeline
from websockets.sync.client import connect

from assist.core.session import CallSession
from assist.runtime.control import CallRegistry, DemoControl
from assist.runtime.demo import play
from assist.runtime.packs import default_pack
from assist.runtime.runner import CallRunner
from assist.runtime.store import CallStore
from overlay.hub import Hub
from overlay.server import HubSink, OverlayServer

WARMUP_CALLS = 6
SOAK_CALLS = 24
CALL_S = 4.0
MAX_GROWTH_BYTES = 64 * 1024  # steady state grows ~5 kB in all; keeping every call ~190 kB


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Watcher(threading.Thread):
    """A supervisor's browser: subscribes to every call and counts the calls it saw end."""

    def __init__(self, url: str) -> None:
        super().__init__(name="soak-watcher", daemon=True)
        self.url = url
        self.ended: list[str] = []
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        with connect(self.url, open_timeout=5) as ws:
            ws.send(json.dumps({"type": "subscribe"}))
            self.ready.set()
            while not self.stop.is_set():
                try:
                    msg = json.loads(ws.recv(0.2))
                except TimeoutError:
                    continue
                if msg.get("type") == "call_ended":
                    self.ended.append(msg["call_id"])


def grown_most(before: tracemalloc.Snapshot, top: int = 8) -> str:
    """Where the traced memory grew since `before` (lines of code, largest first): a failure
    says what was kept, not only how much."""
    ours = tracemalloc.Filter(False, tracemalloc.__file__)
    after = tracemalloc.take_snapshot().filter_traces([ours])
    diff = after.compare_to(before.filter_traces([ours]), "lineno")
    return "\n".join(str(d) for d in diff[:top])


@pytest.mark.timeout(120)
def test_back_to_back_calls_leak_no_memory_threads_or_descriptors(tmp_path: Path) -> None:
    pack = default_pack("en")
    agent = timeline(CALL_S, [(0.3, 1.5)])
    customer = timeline(CALL_S, [(1.8, 2.6)], seed=9)
    registry = CallRegistry()
    server = OverlayServer(
        Hub(calls_kept=3), port=0, registry=registry, control=DemoControl()
    ).start()
    store = CallStore(tmp_path / "calls.sqlite3")
    token = server.config.supervisors[0].token
    watcher = Watcher(f"ws://127.0.0.1:{server.port}/ws?token={token}")
    watcher.start()
    assert watcher.ready.wait(5)

    def call(i: int) -> None:
        call_id = f"soak-{i}"
        session = CallSession(call_id, pack=pack)
        runner = CallRunner(session, [store.sink(call_id), HubSink(server)], block=True).start()
        registry.add(runner)
        play(agent, customer, runner, speed=None)
        runner.finish(timeout=30)
        registry.remove(call_id)
        assert runner.error is None and not runner.alive

    def measure(last: int) -> tuple[int, int, int]:
        """Once the watcher has seen call `last` end, so no event is still on its way to it,
        and the store's writer has committed every event queued, so none waits in its queue
        (on a loaded machine the writer can be a call or more behind the calls: their queued
        events, tens of kB, were counted as growth). The same state at both measurements,
        however loaded the machine is."""
        for _ in range(200):  # bounded wait
            if f"soak-{last}" in watcher.ended:
                break
            watcher.stop.wait(0.05)
        assert store.flush(30), "the store's writer did not catch up"
        gc.collect()
        return tracemalloc.get_traced_memory()[0], threading.active_count(), open_fds()

    tracemalloc.start()
    try:
        for i in range(WARMUP_CALLS):
            call(i)
        mem0, threads0, fds0 = measure(WARMUP_CALLS - 1)
        before = tracemalloc.take_snapshot()  # counted in mem1 as well as here: not growth
        mem0 = tracemalloc.get_traced_memory()[0]
        for i in range(WARMUP_CALLS, WARMUP_CALLS + SOAK_CALLS):
            call(i)
        mem1, threads1, fds1 = measure(WARMUP_CALLS + SOAK_CALLS - 1)
        growth = grown_most(before) if mem1 - mem0 >= MAX_GROWTH_BYTES else ""
    finally:
        tracemalloc.stop()
        watcher.stop.set()
        watcher.join(5)
        store.close()
        server.stop()
    assert threads1 == threads0, (threads0, threads1)
    assert fds1 == fds0, (fds0, fds1)
    assert mem1 - mem0 < MAX_GROWTH_BYTES, (
        f"grew {mem1 - mem0} bytes over {SOAK_CALLS} calls; most at:\n{growth}"
    )
    total = WARMUP_CALLS + SOAK_CALLS
    with CallStore(tmp_path / "calls.sqlite3") as check:  # every call fully stored
        rows = check.calls(limit=None)
    assert len(rows) == total and {r.status for r in rows} == {"completed"}
    assert {r.events for r in rows} == {rows[0].events} and rows[0].events_not_stored == 0
    assert f"soak-{total - 1}" in watcher.ended  # the hub delivered to the end
