"""The supervisors' side of the floor: every plugin's calls from Redis into the overlay server.

`FloorReader` runs on the overlay server's event loop. It follows the floor stream to learn
which calls exist, reads each call's stream from the last stream id it has (so a reconnect to
Redis, or a console restarted from scratch, resumes without gaps or duplicates), and hands the
events, v1 envelope unchanged, to the server's hub, so the existing supervisor page, board and
resume-by-seq work as they do for one process. It watches each agent's heartbeat key: when it
expires the agent's live calls are marked lost. Supervisor actions go to the owning plugin as
commands on its command stream and the plugin's reply comes back on its reply stream.

One Redis: one XREAD (with BLOCK) over the floor and every followed call. A Redis Cluster
refuses a multi-key command whose keys lie in different hash slots, so there the streams are
read in per-slot batches (an agent's keys share a slot through the `{agent}` hash tag), sent
together as one cluster pipeline (redis-py groups them per node); a round that finds nothing
waits READ_POLL_S, as a BLOCK on one slot would hold up every other.

Reconnects back off exponentially with jitter (a Redis restart must not bring every console
back in the same instant). If the reader or its heartbeat watcher stops for any reason, or the
overlay server dies, `FloorConsole.died` says why and `failed` is told once: a console that no
longer reads the floor must not go on showing a frozen one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.crc import key_slot
from redis.exceptions import ResponseError

from assist.core.errors import ServiceError
from assist.core.events import Event
from assist.runtime.backoff import Backoff
from assist.runtime.control import ControlError, SuperviseMode
from fleet.config import FleetConfig
from fleet.connect import DOWN, Client, describe, open_redis
from fleet.keys import Keys
from overlay.auth import OverlayConfig
from overlay.board import CallBoard
from overlay.hub import Hub
from overlay.server import OverlayServer

HISTORY_CALLS = 1000  # calls the console keeps (live ones and the most recent ended ones)
HISTORY_PER_CALL = 5000  # events kept per call for pages that (re)subscribe
READ_COUNT = 200  # entries per stream per XREAD
READ_BLOCK_MS = 500
READ_POLL_S = 0.1  # Redis Cluster: the pause after a round that read nothing
WATCH_S = 0.5  # how often heartbeats are checked
COMMAND_TIMEOUT_S = 10.0
COMMAND_MAXLEN = 1000
RETRY_MIN_S = 0.2  # reconnect backoff: first delay (jittered), doubling up to RETRY_MAX_S
RETRY_MAX_S = 2.0
CATCH_UP_S = 60.0  # at start, read what Redis holds before serving pages, for at most this


@dataclass(eq=False)
class _Call:
    call_id: str
    agent: str
    key: str
    last_id: str = "0"
    last_seq: int = -1
    reading: bool = True  # until its call_ended has been read
    lost: bool = False


class FloorReader:
    """Floor stream + call streams → `publish(event)`; heartbeats → `lost(call_id, bool)`."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        publish: Callable[[Event], None],
        lost: Callable[[str, bool], None],
        history_calls: int = HISTORY_CALLS,
        notify: Callable[[str], None] | None = None,
        ended: Callable[[str, float], None] | None = None,
    ) -> None:
        self.config = config
        self.on_ended = ended or (lambda call_id, ago_s: None)  # a call ended ago_s ago
        self.keys = Keys(config.prefix)
        self.publish = publish
        self.on_lost = lost
        self.history_calls = history_calls
        self.notify = notify or (lambda line: None)
        self.calls: OrderedDict[str, _Call] = OrderedDict()
        self.floor_id = "0"
        self.redis: Client | None = None
        self.events = 0
        self.duplicates = 0
        self.bad = 0
        self.connected = False
        self.backoff = Backoff(base=RETRY_MIN_S, cap=RETRY_MAX_S)

    async def run(self) -> None:
        """Read forever; a lost connection is retried, resuming from the stream ids held.
        Raises if the heartbeat watcher stops (without it, lost agents would look live)."""
        self.redis = open_redis(self.config, name="assist-console")
        watch = asyncio.create_task(self._watch())
        retry = self.backoff
        try:
            while True:
                if watch.done():
                    if watch.cancelled():  # only a shutdown cancels it: this task is ending too
                        raise asyncio.CancelledError
                    raise ServiceError(f"the heartbeat watcher stopped ({watch.exception()!r})")
                try:
                    await self._read_once()
                    retry.reset()
                    if not self.connected:
                        self.connected = True
                        self.notify("console: reading the floor")
                except DOWN as exc:
                    if self.connected or not retry.failures:
                        self.notify(f"console: Redis unreachable ({describe(exc)}); retrying")
                    self.connected = False
                    await asyncio.sleep(retry.next())
                except ResponseError as exc:
                    self.notify(f"console: Redis refused a read: {describe(exc)}")
                    await asyncio.sleep(RETRY_MAX_S + retry.next())
                except Exception as exc:  # noqa: BLE001 - a bad entry must not stop the floor
                    self.notify(f"console: error reading the floor: {exc!r}; retrying")
                    await asyncio.sleep(RETRY_MAX_S + retry.next())
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # said above if it died
                await watch
            await self.redis.aclose()

    async def catch_up(self) -> int:
        """Read everything Redis holds now, without blocking; returns the entries read.

        Run before the server accepts pages, so a page reconnecting to a restarted console
        finds the history its `since` refers to and gets only what it has not seen."""
        self.redis = open_redis(self.config, name="assist-console")
        total = 0
        try:
            while n := await self._read_once(block=None):
                total += n
        finally:
            await self.redis.aclose()
            self.redis = None
        return total

    async def _read_once(self, block: int | None = READ_BLOCK_MS) -> int:
        assert self.redis is not None
        streams: dict[Any, Any] = {self.keys.floor: self.floor_id}
        for c in self.calls.values():
            if c.reading:
                streams[c.key] = c.last_id
        got: Any
        if self.config.cluster:
            got = await self._read_slots(streams)
            if not got and block is not None:
                await asyncio.sleep(READ_POLL_S)
        else:
            got = await self.redis.xread(streams, count=READ_COUNT, block=block)
        by_key = {c.key: c for c in self.calls.values()}
        n = 0
        for key, entries in got or []:
            n += len(entries)
            if key == self.keys.floor:
                for entry_id, fields in entries:
                    self.floor_id = entry_id
                    self._floor(fields or {})
                continue
            call = by_key.get(key)
            if call is None:
                continue
            for entry_id, fields in entries:
                call.last_id = entry_id
                self._event(call, (fields or {}).get("e", ""), entry_id)
        return n

    async def _read_slots(self, streams: dict[Any, Any]) -> list[Any]:
        """Redis Cluster: one XREAD per hash slot, all in one pipeline; the replies merged."""
        assert self.redis is not None
        pipe = self.redis.pipeline()
        for batch in slot_batches(streams):
            pipe.xread(batch, count=READ_COUNT)  # type: ignore[arg-type]
        out: list[Any] = []
        for reply in await pipe.execute():
            out.extend(reply or [])
        return out

    def _floor(self, fields: dict[str, str]) -> None:
        call_id, agent = fields.get("call_id", ""), fields.get("agent", "")
        if not call_id or not agent or call_id in self.calls:
            return
        self.calls[call_id] = _Call(call_id, agent, self.keys.call(agent, call_id))
        while len(self.calls) > self.history_calls:  # forget the oldest ended call
            old = next((c for c in self.calls.values() if not c.reading), None)
            if old is None:
                break
            del self.calls[old.call_id]

    def _event(self, call: _Call, raw: str, entry_id: str = "") -> None:
        try:
            ev = Event.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            self.bad += 1
            return
        if ev.call_id != call.call_id:
            self.bad += 1
            return
        if ev.seq <= call.last_seq:
            self.duplicates += 1
            return
        call.last_seq = ev.seq
        self.events += 1
        if call.lost:
            call.lost = False
            self.on_lost(call.call_id, False)
        if ev.type == "call_ended":
            call.reading = False
        self.publish(ev)
        if ev.type == "call_ended" and entry_id:  # when it really ended: a restarted console
            ended_ms = int(entry_id.split("-")[0])  # keeps old calls no longer than anyone
            self.on_ended(call.call_id, max(0.0, time.time() - ended_ms / 1000))

    async def _watch(self) -> None:
        """Mark the live calls of an agent whose heartbeat key has expired as lost."""
        assert self.redis is not None
        while True:
            await asyncio.sleep(WATCH_S)
            live = [c for c in self.calls.values() if c.reading]
            agents = sorted({c.agent for c in live})
            if not agents:
                continue
            try:
                pipe = self.redis.pipeline(transaction=False)
                for a in agents:
                    pipe.exists(self.keys.heartbeat(a))
                alive = dict(zip(agents, await pipe.execute(), strict=True))
            except (*DOWN, ResponseError):
                continue  # Redis down: nothing can be said about the agents
            for c in live:
                gone = not alive.get(c.agent)
                if gone and not c.lost and c.reading:  # its call_ended may have come meanwhile
                    c.lost = True
                    self.on_lost(c.call_id, True)

    async def supervise(self, call_id: str, mode: str, supervisor: str, name: str) -> str:
        """Ask the plugin owning `call_id` to supervise it and wait for its reply.

        `supervisor` is the SIP URI the plugin dials, `name` the token's name its events show."""
        fields = {"mode": mode, "supervisor": supervisor, "name": name}
        return await self._ask(call_id, "supervise", fields)

    async def message(self, call_id: str, text: str, name: str) -> str:
        """Hand a supervisor's text message to the plugin owning `call_id` (its overlay)."""
        return await self._ask(call_id, "message", {"text": text, "name": name})

    async def _ask(self, call_id: str, kind: str, extra: dict[str, str]) -> str:
        """Send a command to the plugin owning `call_id` and wait for its reply."""
        call = self.calls.get(call_id)
        if call is None or self.redis is None:
            raise ControlError("no such call on the floor")
        if not call.reading:
            raise ControlError("that call has ended")
        if call.lost:
            raise ControlError("the agent's plugin is offline (no heartbeat)")
        fields = {"type": kind, "call_id": call_id, **extra}
        replies = self.keys.replies(call.agent)
        try:
            cmd_id = await self.redis.xadd(
                self.keys.commands(call.agent),
                fields,  # type: ignore[arg-type]
                maxlen=COMMAND_MAXLEN,
                approximate=True,
            )
            deadline = time.monotonic() + COMMAND_TIMEOUT_S
            after = cmd_id  # replies are written after the command: same server clock
            while (left := deadline - time.monotonic()) > 0:
                got: Any = await self.redis.xread(
                    {replies: after}, count=50, block=max(1, int(min(left, 1.0) * 1000))
                )
                for _key, entries in got or []:
                    for entry_id, reply in entries:
                        after = entry_id
                        if reply.get("cmd") == cmd_id:
                            if reply.get("ok") == "1":
                                return str(reply.get("message", ""))
                            raise ControlError(str(reply.get("message", "refused")))
        except DOWN as exc:
            raise ControlError(f"the floor's Redis is unreachable ({describe(exc)})") from None
        except ResponseError as exc:
            raise ControlError(f"Redis refused the command ({describe(exc)})") from None
        raise ControlError("no answer from the agent's plugin")


def slot_batches(streams: dict[str, str]) -> list[dict[str, str]]:
    """Streams grouped by Redis Cluster hash slot: each group is one XREAD a cluster accepts."""
    batches: dict[int, dict[str, str]] = {}
    for key, last in streams.items():
        batches.setdefault(key_slot(key.encode()), {})[key] = last
    return list(batches.values())


class FleetBoard(CallBoard):
    """The supervisor board, plus calls whose plugin went silent: shown as ended and `lost`,
    and which process publishes each call (`plugin`: its floor name; with several recording
    servers, the server the call is recorded on)."""

    def __init__(
        self, *, keep_ended_s: float, plugin_of: Callable[[str], str] | None = None
    ) -> None:
        super().__init__(keep_ended_s=keep_ended_s)
        self.lost: set[str] = set()
        self.plugin_of = plugin_of or (lambda call_id: "")

    def mark_lost(self, call_id: str, lost: bool) -> bool:
        s = self.calls.get(call_id)
        if s is None:
            return False
        if lost:
            self.lost.add(call_id)
            s.live = False
        else:
            self.lost.discard(call_id)
            s.live = True
        return True

    def forget(self, call_id: str) -> None:
        super().forget(call_id)
        self.lost.discard(call_id)

    def ended_ago(self, call_id: str, ago_s: float) -> None:
        """The call ended `ago_s` before now (its stream entry's time), not when it was read."""
        s = self.calls.get(call_id)
        if s is not None and s.ended_at is not None:
            s.ended_at = self.clock() - ago_s

    def snapshot(self, visible: Any = None) -> list[dict[str, Any]]:
        rows = super().snapshot(visible)
        for row in rows:
            row["lost"] = row["call_id"] in self.lost
            row["plugin"] = self.plugin_of(row["call_id"])
        return rows


class FleetControl:
    """Call control for the console: supervise goes over the bus, the rest is the agent's."""

    telephony = False

    def __init__(self, console: FloorConsole) -> None:
        self.console = console

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        loop = self.console.server.loop
        if loop is None:
            raise ControlError("the console is not running")
        fut = asyncio.run_coroutine_threadsafe(
            self.console.reader.supervise(call_id, mode, supervisor, name), loop
        )
        try:
            return fut.result(COMMAND_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise ControlError("no answer from the floor (console busy)") from None

    def _agents_own(self) -> str:
        raise ControlError("answer, hang up and dial are on the agent's own overlay")

    def answer(self, call_id: str) -> str:
        return self._agents_own()

    def dial(self, uri: str) -> str:
        return self._agents_own()

    def hangup(self, call_id: str) -> str:
        return self._agents_own()


class FloorConsole:
    """The overlay server (pages, hub, tokens) fed by a FloorReader instead of call runners."""

    def __init__(
        self,
        fleet: FleetConfig,
        overlay: OverlayConfig,
        *,
        host: str | None = None,
        port: int | None = None,
        history_calls: int = HISTORY_CALLS,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        hub = Hub(history_per_call=HISTORY_PER_CALL, calls_kept=history_calls)
        self.server = OverlayServer(
            hub, config=overlay, host=host, port=port, control=FleetControl(self)
        )
        old = self.server.board
        self.board = FleetBoard(
            keep_ended_s=self.server.config.keep_ended_s, plugin_of=self._plugin_of
        )
        hub.forgetters.remove(old.forget)
        hub.forgetters.append(self.board.forget)
        self.server.board = self.board
        self.server.relay_message = self._message
        self.reader = FloorReader(
            fleet,
            publish=hub.publish,
            lost=self._lost,
            history_calls=history_calls,
            notify=notify,
            ended=self.board.ended_ago,
        )
        self._task: concurrent.futures.Future[None] | None = None
        self._stopping = False
        self.died: BaseException | None = None  # what stopped the reader or server, if anything
        self.failed: Callable[[str], None] | None = None  # told of `died` once, in a line
        self.server.failed = lambda exc: self._died("the console's server stopped", exc)

    def _died(self, what: str, exc: BaseException) -> None:
        if self.died is not None or self._stopping:
            return
        self.died = exc
        if self.failed is not None:
            self.failed(f"{what} ({exc!r})")

    def _reader_done(self, task: concurrent.futures.Future[None]) -> None:
        if task.cancelled():
            why: BaseException = ServiceError("it was cancelled")
        else:
            why = task.exception() or ServiceError("it ended")
        self._died("console: the floor reader stopped", why)

    @property
    def alive(self) -> bool:
        return self.died is None

    def start(self) -> FloorConsole:
        try:
            read = asyncio.run(asyncio.wait_for(self.reader.catch_up(), CATCH_UP_S))
            self.reader.notify(f"console: {read} entries read from the floor")
        except (*DOWN, TimeoutError, ResponseError) as exc:
            self.reader.notify(f"console: cannot read the floor yet ({describe(exc)})")
        self.server.start()
        assert self.server.loop is not None
        self._task = asyncio.run_coroutine_threadsafe(self.reader.run(), self.server.loop)
        self._task.add_done_callback(self._reader_done)
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
        self.server.stop()

    def _plugin_of(self, call_id: str) -> str:
        call = self.reader.calls.get(call_id)
        return call.agent if call is not None else ""

    async def _message(self, call_id: str, text: str, name: str) -> str:
        return await self.reader.message(call_id, text, name)

    def _lost(self, call_id: str, lost: bool) -> None:
        if lost:
            self.server.hub.live.discard(call_id)
        if self.board.mark_lost(call_id, lost):
            self.server._board_tick()  # tell supervisors now, not at the next event
