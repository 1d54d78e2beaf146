"""The console's own parts dying: said once, and the console stops instead of showing a floor
it no longer reads (a real redis-server; the reader's faults are injected)."""

from __future__ import annotations

import time
from pathlib import Path

from redis_helpers import RedisServer
from waits import wait_until

from assist.core.events import CallStarted, Event, Recording
from fleet.config import FleetConfig
from fleet.console import FloorConsole
from fleet.publisher import FleetPublisher
from overlay.auth import OverlayConfig


def config(srv: RedisServer) -> FleetConfig:
    return FleetConfig(url=f"redis://:{srv.admin_password}@127.0.0.1:{srv.port}/0")


def test_a_heartbeat_watcher_that_dies_stops_the_console_and_says_so(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """It used to die alone: the floor went on showing lost agents as live."""
    console = FloorConsole(config(redis_server), OverlayConfig(), port=0)

    async def watch() -> None:
        raise RuntimeError("watcher bug")

    console.reader._watch = watch  # type: ignore[method-assign]
    said: list[str] = []
    console.failed = said.append
    console.start()
    try:
        wait_until(lambda: said)
    finally:
        console.stop()
    assert said == [
        'console: the floor reader stopped (ServiceError("the heartbeat watcher stopped '
        "(RuntimeError('watcher bug'))\"))"
    ]
    assert console.died is not None


def test_a_console_whose_server_dies_says_so(redis_server: RedisServer) -> None:
    import asyncio

    console = FloorConsole(config(redis_server), OverlayConfig(), port=0)
    said: list[str] = []
    console.failed = said.append
    console.start()
    try:
        loop = console.server.loop
        assert loop is not None
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        wait_until(lambda: said)
    finally:
        console.stop()
    assert len(said) == 1 and console.died is not None


def test_a_stopped_console_has_not_died(redis_server: RedisServer) -> None:
    console = FloorConsole(config(redis_server), OverlayConfig(), port=0)
    said: list[str] = []
    console.failed = said.append
    console.start()
    time.sleep(0.3)
    console.stop()
    time.sleep(0.3)
    assert not said and console.died is None


def test_a_siprec_pause_reaches_the_floor_consoles_board(redis_server: RedisServer) -> None:
    """A recording server's `recording` events (paused, then resumed) travel in the call's
    stream: the console's board row says paused, then when it resumed."""
    pub = FleetPublisher(config(redis_server), agent="srs-pause").start()
    console = FloorConsole(config(redis_server), OverlayConfig(), port=0).start()
    try:
        sink = pub.sink()
        start = CallStarted(lang="en", source="srs", sample_rate=8000, agent="alice")
        sink.send(Event("p1", 0, 0.0, start))
        sink.send(Event("p1", 1, 0.1, Recording(agent="alice")))
        sink.send(Event("p1", 2, 4.0, Recording(agent="alice", update=True, paused=True)))

        def row() -> dict:  # type: ignore[type-arg]
            return next((r for r in console.board.snapshot() if r["call_id"] == "p1"), {})

        wait_until(lambda: row().get("paused"))
        assert (row()["paused_since"], row()["resumed_at"], row()["plugin"]) == (
            4.0, None, "srs-pause",
        )  # fmt: skip
        sink.send(Event("p1", 3, 9.0, Recording(agent="alice", update=True, paused=False)))
        wait_until(lambda: row().get("resumed_at") == 9.0)
        assert row()["paused"] is False and row()["live"]
    finally:
        console.stop()
        pub.close(2.0)


def test_reconnects_back_off_with_jitter_so_consoles_do_not_retry_in_lockstep() -> None:
    import asyncio

    from redis_helpers import free_port

    from assist.runtime.backoff import Backoff
    from fleet.console import RETRY_MAX_S, RETRY_MIN_S, FloorReader

    class Recorded(Backoff):
        def __init__(self) -> None:
            super().__init__(base=RETRY_MIN_S, cap=RETRY_MAX_S)
            self.delays: list[float] = []

        def next(self) -> float:
            self.delays.append(super().next())
            if len(self.delays) == 4:
                fourth.release()
            return self.delays[-1]

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    fourth = asyncio.Semaphore(0)  # released once per reader, at its 4th retry
    readers = []
    for _ in range(2):
        r = FloorReader(FleetConfig(url=url), publish=lambda e: None, lost=lambda c, b: None)
        r.backoff = Recorded()
        readers.append(r)

    async def run_both() -> None:
        tasks = [asyncio.create_task(r.run()) for r in readers]
        try:
            async with asyncio.timeout(20):
                for _ in readers:
                    await fourth.acquire()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run_both())
    one, two = (r.backoff.delays[:4] for r in readers)  # type: ignore[attr-defined]
    nominal = [0.2, 0.4, 0.8, 1.6]
    for delays in (one, two):
        assert all(d / 2 <= got <= d for got, d in zip(delays, nominal, strict=True)), delays
    assert one != two


def test_a_shutdown_that_cancels_the_heartbeat_watcher_first_is_no_error() -> None:
    """asyncio.run's shutdown cancels every task: when the watcher goes first, the reader ends
    as cancelled (no "heartbeat watcher stopped" traceback on the console's terminal); a
    watcher that dies of an error still stops the reader with a ServiceError."""
    import asyncio

    from redis_helpers import free_port

    from assist.core.errors import ServiceError
    from fleet.console import FloorReader

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: the reader retries

    def outcome(watch_ends: BaseException) -> BaseException | None:
        reader = FloorReader(FleetConfig(url=url), publish=lambda e: None, lost=lambda c, b: None)

        async def watch() -> None:
            raise watch_ends

        reader._watch = watch  # type: ignore[method-assign]

        async def main() -> BaseException | None:
            task = asyncio.create_task(reader.run())
            async with asyncio.timeout(20):
                try:
                    await task
                except BaseException as exc:  # noqa: BLE001 - what ended it is the result
                    return exc
            return None

        return asyncio.run(main())

    assert isinstance(outcome(asyncio.CancelledError()), asyncio.CancelledError)
    died = outcome(RuntimeError("lost its connection"))
    assert isinstance(died, ServiceError) and "lost its connection" in str(died)
