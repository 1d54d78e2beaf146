"""The plugin's side of the floor: events to Redis Streams, supervisor commands back.

`FleetSink.send()` runs on a call's runner thread and never blocks: it appends the event to
one bounded backlog (a deque under a lock) and wakes the publisher's own event loop thread,
which owns the Redis connection. When the backlog is full the event is dropped, counted, and
reported as a `dropped` event (queue "fleet"). When Redis is unreachable coaching goes on,
events wait in the backlog, every live call gets `fleet_degraded` (down), and on reconnect
the backlog is written and `fleet_degraded` (up) follows.

No duplicates after a reconnect: each event goes to its call stream with an explicit stream
id `<call base ms>-<seq + 1>`, so a batch written again after a half-sent pipeline is refused
by Redis ("equal or smaller than the top item") for the entries that made it the first time.
Floor summaries carry (call_id, seq) and the console ignores ones it has seen.

Its three tasks (publishing, the heartbeat, supervisor commands) are watched together: if one
ends for any reason but a requested stop, the publisher stops, keeps why in `died` and says so
once through `failed`; its owner decides what the plugin does without the floor. Reconnects
back off exponentially with jitter, so a Redis restart does not bring a floor back in lockstep.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from assist.core.errors import ServiceError
from assist.core.events import (
    Dropped,
    Event,
    EventData,
    FleetDegraded,
    SupervisorAction,
    SupervisorMessage,
)
from assist.runtime.backoff import Backoff
from assist.runtime.control import SUPERVISE_MODES, CallControl, CallRegistry, ControlError
from fleet.claim import NameClaim, beat, holder, new_owner
from fleet.config import FleetConfig
from fleet.connect import DOWN, Client, describe, open_redis
from fleet.keys import PLUGIN_GROUP, Keys
from overlay.board import CallBoard
from overlay.protocol import MAX_TEXT

BATCH = 500  # events per pipeline
RETRY_MIN_S = 0.2  # reconnect backoff: first delay (jittered), doubling up to RETRY_MAX_S
RETRY_MAX_S = 2.0
REFUSED_S = 10.0  # after Redis refused the command stream (ACL): retry no sooner than this
START_WAIT_S = 10.0  # start(): the publisher's loop must be running by then
COMMAND_BLOCK_MS = 1000
COMMAND_MAX_AGE_S = 30.0  # an older command (sent while we were down) is refused, not run
REPLY_MAXLEN = 1000
DROP_REPORT_S = 1.0
FLOOR_KINDS = {"call_started": "started", "prompt": "prompt", "call_ended": "ended"}
DUPLICATE = "equal or smaller"


@dataclass(frozen=True, slots=True)
class _Record:
    """One event ready to write: its call stream entry and, maybe, a floor summary."""

    key: str
    entry_id: str
    fields: dict[str, str]
    floor: dict[str, str] | None
    ended: bool = False


class FleetPublisher:
    """One per plugin process: a thread running an asyncio loop that owns the Redis client."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        agent: str,
        registry: CallRegistry | None = None,
        control: CallControl | None = None,
        notify: Callable[[str], None] | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.agent = config.agent or agent
        self.keys = Keys(config.prefix)
        # the name's holder id (fleet/claim.py): the one that claimed it at start, if any
        self.owner = owner or new_owner()
        self.claim = NameClaim(self.keys.heartbeat(self.agent), self.owner, config.heartbeat_ttl_s)
        self.registry = registry
        self.control = control
        self.notify = notify or (lambda line: None)
        self._backlog: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None  # why it could not start
        self.died: BaseException | None = None  # what stopped it early, if anything
        self.failed: Callable[[str], None] | None = None  # told of `died` once, in a line
        self._deadline = 0.0
        self._base_ms: dict[str, int] = {}
        self._board = CallBoard()
        self._flagged: dict[str, bool] = {}
        self._ready_records: list[_Record] = []
        self.degraded = False
        self.published = 0  # call stream entries written
        self.duplicates = 0  # entries Redis already had (a batch re-sent after a reconnect)
        self.rejected = 0  # entries Redis refused for another reason (ACL, wrong type)
        self.dropped = 0  # events the full backlog could not keep
        self._dropped_unreported = 0
        self._last_drop_report = 0.0
        self.commands = 0
        self._said_unchecked = False
        self.backoff = Backoff(base=RETRY_MIN_S, cap=RETRY_MAX_S)  # publishing's reconnects

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> FleetPublisher:
        self._thread = threading.Thread(target=self._main, name="fleet-publisher", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_WAIT_S):
            raise ServiceError(f"fleet: the publisher did not start within {START_WAIT_S:.0f} s")
        if self._error is not None:
            raise ServiceError(f"fleet: cannot start the publisher: {self._error!r}")
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def sink(self) -> FleetSink:
        return FleetSink(self)

    def offer(self, event: Event) -> bool:
        """Queue one event for Redis; never blocks. False: the backlog was full (dropped)."""
        with self._lock:
            if len(self._backlog) >= self.config.backlog:
                self.dropped += 1
                self._dropped_unreported += 1
                return False
            self._backlog.append(event)
            if self._wake_pending or self._loop is None:
                return True
            self._wake_pending = True
            loop, wake = self._loop, self._wake
        try:
            assert wake is not None
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop has closed (process ending): the event stays queued
            pass
        return True

    @property
    def backlog(self) -> int:
        with self._lock:
            return len(self._backlog) + len(self._ready_records)

    def close(self, timeout: float = 5.0) -> int:
        """Write what is queued (for up to `timeout` s), drop the heartbeat, stop. Returns the
        number of events that could not be published."""
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._deadline = time.monotonic() + timeout
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass
            self._thread.join(timeout + 5)
        return self.backlog

    # -- the publisher's loop ------------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - surfaced to start(), or to the owner
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                self._died("publisher", exc)

    def _died(self, task: str, exc: BaseException) -> None:
        if self.died is not None:
            return
        self.died = exc
        if self.failed is not None:
            self.failed(f"fleet: the {task} task stopped ({exc!r})")

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._wake.set()
        redis = open_redis(self.config, name=f"assist-plugin:{self.agent}")
        self._ready.set()
        tasks = {
            asyncio.create_task(self._publish(redis)): "publishing",
            asyncio.create_task(self._heartbeat(redis)): "heartbeat",
            asyncio.create_task(self._commands(redis)): "supervisor commands",
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:  # only publishing ends on its own, and only when asked to stop
                exc = None if task.cancelled() else task.exception()
                if exc is not None or tasks[task] != "publishing":
                    self._died(tasks[task], exc or ServiceError("it ended"))
        finally:
            for task in tasks:
                task.cancel()
            for task, name in tasks.items():  # a failure while being cancelled is still said
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception as exc:  # noqa: BLE001 - reported once, then the loop closes
                    self._died(name, exc)
            try:  # only if still ours: never another process's claim on the name
                await asyncio.wait_for(self.claim.release(redis), 1.0)
            except (TimeoutError, *DOWN, ResponseError):
                pass  # the key expires by itself
            await redis.aclose()

    async def _publish(self, redis: Client) -> None:
        assert self._wake is not None and self._stopping is not None
        retry = self.backoff
        while True:
            with self._lock:
                self._wake_pending = False
                self._wake.clear()
                self._take()
                batch = list(self._ready_records)
            self._report_drops()
            if not batch:
                if self._stopping.is_set():
                    return
                stop = asyncio.create_task(self._stopping.wait())
                wake = asyncio.create_task(self._wake.wait())
                await asyncio.wait({stop, wake}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                wake.cancel()
                continue
            try:
                await self._write(redis, batch)
            except DOWN as exc:
                self._down(exc)
                if self._stopping.is_set() and time.monotonic() >= self._deadline:
                    return
                await asyncio.sleep(retry.next())
                continue
            retry.reset()
            with self._lock:
                del self._ready_records[: len(batch)]
            if self.degraded:
                self._up()

    def _take(self) -> None:
        """Turn up to BATCH queued events into records (under the lock), once each: the board
        that decides "flagged" sees every event exactly once, however often a batch is re-sent."""
        while self._backlog and len(self._ready_records) < BATCH:
            self._ready_records.append(self._record(self._backlog.popleft()))

    def _record(self, ev: Event) -> _Record:
        base = self._base_ms.setdefault(ev.call_id, int(time.time() * 1000))
        now = str(int(time.time() * 1000))
        fields = {"e": ev.to_json(), "ts": now}
        kind = FLOOR_KINDS.get(ev.type)
        self._board.apply(ev)
        summary = self._board.calls.get(ev.call_id)
        flagged = bool(summary is not None and summary.flagged)
        if flagged != self._flagged.get(ev.call_id, False) and kind is None:
            kind = "flagged"
        self._flagged[ev.call_id] = flagged
        floor = None
        if kind is not None:
            floor = {
                "kind": kind,
                "call_id": ev.call_id,
                "agent": self.agent,
                "seq": str(ev.seq),
                "t": str(round(ev.t, 3)),
                "ts": now,
                "summary": json.dumps(summary.to_dict() if summary else {}, ensure_ascii=False),
            }
        if ev.type == "call_ended":
            self._board.forget(ev.call_id)
            self._flagged.pop(ev.call_id, None)
            self._base_ms.pop(ev.call_id, None)
        return _Record(
            key=self.keys.call(self.agent, ev.call_id),
            entry_id=f"{base}-{ev.seq + 1}",
            fields=fields,
            floor=floor,
            ended=ev.type == "call_ended",
        )

    async def _write(self, redis: Client, batch: list[_Record]) -> None:
        pipe = redis.pipeline(transaction=False)
        calls = []
        for r in batch:
            pipe.xadd(
                r.key,
                r.fields,  # type: ignore[arg-type]
                id=r.entry_id,
                maxlen=self.config.call_maxlen,
                approximate=True,
            )
            calls.append(True)
            if r.ended:  # an ended call's stream stays for late readers, then goes
                pipe.expire(r.key, int(self.config.ended_ttl_s))
                calls.append(False)
            if r.floor is not None:
                pipe.xadd(
                    self.keys.floor,
                    r.floor,  # type: ignore[arg-type]
                    maxlen=self.config.floor_maxlen,
                    approximate=True,
                )
                calls.append(False)
        results = await pipe.execute(raise_on_error=False)
        for is_call, res in zip(calls, results, strict=True):
            if isinstance(res, DOWN):
                raise res
            if isinstance(res, ResponseError):
                if is_call and DUPLICATE in str(res):
                    self.duplicates += 1
                    continue
                self.rejected += 1
                if self.rejected == 1:
                    self.notify(f"fleet: Redis refused an event: {describe(res)}")
            elif is_call:
                self.published += 1

    async def _heartbeat(self, redis: Client) -> None:
        """Renew the name's claim; another process holding it (it took the name while Redis
        was away from us longer than the TTL) stops this publisher: never two under one name."""
        while True:
            calls = self.registry.ids() if self.registry is not None else []
            try:
                if not await self.claim.renew(redis, beat(self.agent, self.owner, calls)):
                    who = holder(await redis.get(self.claim.key))
                    raise ServiceError(
                        f"{self.agent!r} is held on the floor by another process ({who}); "
                        "this one stops publishing under it"
                    )
                if not self.claim.checked and not self._said_unchecked:
                    self._said_unchecked = True
                    self.notify(
                        "fleet: Redis refused EVAL (ACL): the heartbeat cannot check that the "
                        "name is still ours; add +eval +get to the plugin's user (fleet/acl.py)"
                    )
                if self.degraded and not self.backlog:  # back, and nothing left to catch up
                    self._up()
            except DOWN as exc:
                self._down(exc)
            except ResponseError as exc:
                self.notify(f"fleet: heartbeat refused: {describe(exc)}")
            await asyncio.sleep(self.config.heartbeat_s)

    # -- supervisor commands -------------------------------------------------------------------

    async def _commands(self, redis: Client) -> None:
        stream = self.keys.commands(self.agent)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        grouped = False
        retry = Backoff(base=RETRY_MIN_S, cap=RETRY_MAX_S)
        while True:
            try:
                if not grouped:
                    try:
                        # from the start: a command sent before the group existed is still
                        # answered (refused as expired when it is old)
                        await redis.xgroup_create(stream, PLUGIN_GROUP, id="0", mkstream=True)
                    except ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
                    grouped = True
                # first what was delivered to us and never acknowledged, then new ones
                for start in ("0", ">"):
                    got: Any = await redis.xreadgroup(
                        PLUGIN_GROUP,
                        consumer,
                        {stream: start},
                        count=10,
                        block=COMMAND_BLOCK_MS if start == ">" else None,
                    )
                    for _key, entries in got or []:
                        for entry_id, fields in entries:
                            await self._command(redis, entry_id, fields or {})
                retry.reset()
            except DOWN:
                await asyncio.sleep(retry.next())
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted (Redis restarted empty)
                    grouped = False
                    continue
                self.notify(f"fleet: command stream refused: {describe(exc)}")
                await asyncio.sleep(REFUSED_S + retry.next())

    async def _command(self, redis: Client, entry_id: str, fields: dict[str, str]) -> None:
        """Carry out one command, answer it on the reply stream, then acknowledge it."""
        ok, message = await self._carry_out(entry_id, fields)
        self.commands += 1
        await redis.xadd(
            self.keys.replies(self.agent),
            {"cmd": entry_id, "ok": "1" if ok else "0", "message": message},
            maxlen=REPLY_MAXLEN,
            approximate=True,
        )
        await redis.xack(self.keys.commands(self.agent), PLUGIN_GROUP, entry_id)

    async def _carry_out(self, entry_id: str, fields: dict[str, str]) -> tuple[bool, str]:
        call_id, mode = fields.get("call_id", ""), fields.get("mode", "")
        supervisor = fields.get("supervisor", "")
        name = fields.get("name", "") or "supervisor"  # the token's name, never the SIP URI
        if fields.get("type") == "message":
            return self._message(entry_id, call_id, fields.get("text", ""), name)
        if fields.get("type") != "supervise" or mode not in SUPERVISE_MODES:
            return False, f"unknown command {fields.get('type', '')!r} / mode {mode!r}"
        runner, refusal = self._runner(entry_id, call_id)
        if runner is None:
            return False, refusal
        control = self.control
        try:
            if control is None:
                raise ControlError("call control is not available on this plugin")
            status = await asyncio.to_thread(control.supervise, call_id, mode, supervisor, name)
            ok = True
        except ControlError as exc:
            status, ok = str(exc), False
        action = SupervisorAction(mode=mode, supervisor=name, ok=ok, message=status)
        runner.submit(lambda s: s.note(action))
        return ok, status

    def _runner(self, entry_id: str, call_id: str) -> tuple[Any, str]:
        """The live call a command is for, or None and why not (too old, not here)."""
        sent_ms = int(entry_id.split("-")[0])
        if time.time() * 1000 - sent_ms > COMMAND_MAX_AGE_S * 1000:
            return None, "command expired (sent while this plugin was unreachable)"
        runner = self.registry.get(call_id) if self.registry is not None else None
        if runner is None:
            return None, "that call is not live on this agent's plugin"
        return runner, ""

    def _message(self, entry_id: str, call_id: str, text: str, name: str) -> tuple[bool, str]:
        """A supervisor's text message: into the call's stream, so the agent's overlay shows it."""
        text = " ".join(text.split())[:MAX_TEXT]
        if not text:
            return False, "an empty message"
        runner, refusal = self._runner(entry_id, call_id)
        if runner is None:
            return False, refusal
        note = SupervisorMessage(supervisor=name, text=text)
        runner.submit(lambda s: s.note(note))
        return True, "message sent to the agent"

    # -- state reports -------------------------------------------------------------------------

    def _tell_calls(self, data: EventData) -> None:
        if self.registry is None:
            return
        for call_id in self.registry.ids():
            runner = self.registry.get(call_id)
            if runner is not None:
                runner.submit(lambda s, d=data: s.note(d))  # type: ignore[misc]

    def _down(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self.degraded = True
        reason = describe(exc)
        self.notify(f"fleet: Redis unreachable ({reason}); coaching goes on, events are kept")
        self._tell_calls(
            FleetDegraded(state="down", backlog=self.backlog, dropped=self.dropped, message=reason)
        )

    def _up(self) -> None:
        self.degraded = False
        self.notify(f"fleet: Redis is back; backlog sent ({self.dropped} events dropped)")
        self._tell_calls(FleetDegraded(state="up", backlog=self.backlog, dropped=self.dropped))

    def _report_drops(self) -> None:
        now = time.monotonic()
        with self._lock:
            count = self._dropped_unreported
            if not count or now - self._last_drop_report < DROP_REPORT_S:
                return
            self._dropped_unreported = 0
        self._last_drop_report = now
        self._tell_calls(Dropped(queue="fleet", count=count, total=self.dropped))


class FleetSink:
    """A call runner's sink: hands each event to the process's FleetPublisher."""

    name = "fleet"

    def __init__(self, publisher: FleetPublisher) -> None:
        self.publisher = publisher

    def send(self, event: Event) -> None:
        self.publisher.offer(event)

    def close(self) -> None:
        pass  # the publisher outlives calls; it flushes when the process closes it


def stats(publisher: FleetPublisher) -> dict[str, Any]:
    """Counters for logs and tests."""
    return {
        "published": publisher.published,
        "duplicates": publisher.duplicates,
        "rejected": publisher.rejected,
        "dropped": publisher.dropped,
        "backlog": publisher.backlog,
        "commands": publisher.commands,
        "degraded": publisher.degraded,
    }
