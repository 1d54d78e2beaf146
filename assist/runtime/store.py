"""The call store: every event of every call in one SQLite file (WAL), written as it happens.

Two tables. `events` holds each event's envelope JSON (docs/events.md) with `call_id`, `seq`,
`t` and `type` as indexed columns; `calls` holds one row per call for listing (status is `live`
until its `call_ended`, then that event's reason). Each SQLite connection has one owner thread:
the opening thread reads on its own connection; every other thread (a SIP call set up on a
worker, a call's runner) only talks to the writer thread through its queue, which also answers
`has_call` for them. A call's runner never touches the disk: its
`StoreSink.send()` puts the event on one bounded queue, and the store's writer thread inserts
and commits at least every COMMIT_EVERY_S of wall time and of call audio, so `kill -9` loses at
most about a second. A full queue (a stalled disk) drops events instead of stalling the call;
drops are counted per call in `calls.dropped`. Whatever stops the writer (a disk error, or
anything else) is kept in `error` and handed once to the owner's `failed` callback; the writer
then keeps emptying its queue, so calls and `close()` never wait on a dead writer.

A transferred SIPREC call (a `recording` event naming another `agent`) is listed under the
agent it was last bound to, as on the board; its `recording` events say who had it before.

On open, calls still `live` whose writing process is gone (it was killed or crashed) get a
`call_ended` event with reason `interrupted` appended, and `calls.recovered = 1`: every stored
call then ends with `call_ended`, and exports and reports need no special case.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assist.core.errors import InputError, ServiceError
from assist.core.events import SCHEMA_VERSION, Event
from assist.runtime import paths

COMMIT_EVERY_S = 0.5  # wall time and audio time between commits: kill -9 loses at most ~1 s
QUEUE_EVENTS = 20_000  # events waiting for the writer (minutes of a live call)
CLOSE_WAIT_S = 5.0  # how long a call's close() waits for its events to be committed
BUSY_TIMEOUT_MS = 5_000  # another process holding the write lock
DB_FILE = "calls.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,   -- wall clock (UTC, ISO 8601) when call_started was stored
    ended_at TEXT,
    status TEXT NOT NULL,       -- live | the call_ended reason (completed, interrupted, ...)
    recovered INTEGER NOT NULL DEFAULT 0,  -- 1: marked interrupted when the store reopened
    source TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL DEFAULT '',
    remote TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT '',
    duration_s REAL,
    prompts INTEGER,
    dropped INTEGER NOT NULL DEFAULT 0,  -- events the writer queue had to drop
    pid INTEGER NOT NULL        -- process writing the call (to tell live from interrupted)
);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,         -- the event envelope, JSON
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, call_id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (call_id, t);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started_at);
"""


def default_path() -> Path:
    """$ASSIST_DB, else $XDG_DATA_HOME/softphone-assist/calls.sqlite3 (~/.local/share/...)."""
    env = os.environ.get("ASSIST_DB", "").strip()
    if env:
        return Path(env).expanduser()
    return paths.data_home() / DB_FILE


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    started_at: str
    ended_at: str | None
    status: str
    recovered: bool
    source: str
    agent: str
    remote: str
    lang: str
    duration_s: float | None
    prompts: int | None
    events_not_stored: int  # events the store's writer queue had to drop (disk too slow)
    events: int
    last_t: float
    audio_frames_dropped: int  # 20 ms frames the call's analysis or recognition lost (overload)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL: a process crash loses no committed data
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


@contextmanager
def _as_input_error(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a usable call store ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open call store ({exc.strerror})") from None


class CallStore:
    """One SQLite call store. Reads on the opening thread; writes (and other threads' `has_call`)
    on a lazily started writer thread with its own connection."""

    def __init__(
        self,
        path: str | Path,
        *,
        queue_events: int = QUEUE_EVENTS,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.path = Path(path)
        with _as_input_error(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(self.path)
            self._db.executescript(SCHEMA)
            self.recovered = self.recover()
        self._owner = threading.get_ident()  # the only thread that may use self._db
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=queue_events)
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self.error: BaseException | None = None  # the writer's failure, if any
        self.failed = failed  # told of that failure once, on the writer thread

    @classmethod
    def open_existing(cls, path: str | Path) -> CallStore:
        """Open a store that must already exist (listing, export, report)."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no call store here (record a call first, or pass --store)")
        return cls(p)

    # -- recovery ------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """End every `live` call whose process is gone with `call_ended` (interrupted)."""
        rows = self._db.execute("SELECT call_id, pid FROM calls WHERE status = 'live'").fetchall()
        done = []
        for call_id, pid in rows:
            if _pid_alive(pid):
                continue
            last_seq, last_t, prompts = self._db.execute(
                "SELECT max(seq), max(t), sum(type = 'prompt') FROM events WHERE call_id = ?",
                (call_id,),
            ).fetchone()
            last_t = float(last_t or 0.0)
            body = {
                "v": SCHEMA_VERSION,
                "type": "call_ended",
                "call_id": call_id,
                "seq": (last_seq if last_seq is not None else -1) + 1,
                "t": round(last_t, 3),
                "data": {
                    "duration_s": round(last_t, 3),
                    "reason": "interrupted",
                    "prompts": int(prompts or 0),
                },
            }
            with self._db:
                self._insert(self._db, body)
                self._db.execute(
                    "UPDATE calls SET status = 'interrupted', recovered = 1, ended_at = ?, "
                    "duration_s = ?, prompts = ? WHERE call_id = ?",
                    (_now(), last_t, int(prompts or 0), call_id),
                )
            done.append(call_id)
        return done

    # -- writing -------------------------------------------------------------------------------

    def sink(self, call_id: str, *, wait_s: float = 0.0) -> StoreSink:
        """A runtime Sink for one call. `wait_s`: how long send() may wait on a full queue
        (0 for live calls; a file played --fast may wait, as it has no real time to keep)."""
        if self.has_call(call_id):
            raise InputError(f"call {call_id!r} is already in the store {self.path}")
        self._start_writer()
        return StoreSink(self, call_id, wait_s)

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="call-store", daemon=True
                )
                self._writer.start()

    def _put(self, item: tuple[str, Any], wait_s: float) -> bool:
        try:
            if wait_s > 0:
                self._queue.put(item, timeout=wait_s)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    @staticmethod
    def _insert(db: sqlite3.Connection, body: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO events (call_id, seq, t, type, body) VALUES (?, ?, ?, ?, ?)",
            (
                body["call_id"],
                body["seq"],
                body["t"],
                body["type"],
                json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            ),
        )

    def _apply(self, db: sqlite3.Connection, ev: Event) -> None:
        body = ev.to_dict()
        if ev.type == "call_started":
            d = body["data"]
            db.execute(
                "INSERT INTO calls (call_id, started_at, status, source, agent, remote, lang, pid)"
                " VALUES (?, ?, 'live', ?, ?, ?, ?, ?)",
                (ev.call_id, _now(), d["source"], d["agent"], d["remote"], d["lang"], os.getpid()),
            )
        self._insert(db, body)
        if ev.type == "recording" and body["data"].get("agent"):
            # a recorded (SIPREC) call transferred: the call is now the new agent's, as on the
            # board; its `recording` events (in `events`) say who had it before
            db.execute(
                "UPDATE calls SET agent = ? WHERE call_id = ?", (body["data"]["agent"], ev.call_id)
            )
        if ev.type == "call_ended":
            d = body["data"]
            db.execute(
                "UPDATE calls SET status = ?, ended_at = ?, duration_s = ?, prompts = ? "
                "WHERE call_id = ?",
                (d["reason"], _now(), d["duration_s"], d["prompts"], ev.call_id),
            )

    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        in_tx = False  # a transaction is open: commit it within COMMIT_EVERY_S
        first_wall = 0.0
        first_t = 0.0
        try:
            db = _connect(self.path)
            while True:
                timeout = (
                    max(0.0, first_wall + COMMIT_EVERY_S - time.monotonic()) if in_tx else None
                )
                try:
                    kind, item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    kind, item = "tick", None
                if kind in ("event", "dropped") and self.error is None and not in_tx:
                    db.execute("BEGIN")
                    in_tx, first_wall = True, time.monotonic()
                    first_t = item.t if kind == "event" else 0.0
                if kind == "event" and self.error is None:
                    ev: Event = item
                    try:
                        self._apply(db, ev)
                    except sqlite3.Error as exc:  # reported to the owner; the call goes on
                        self._fail(exc)
                    if ev.t - first_t >= COMMIT_EVERY_S or ev.type == "call_ended":
                        kind = "commit"
                elif kind == "dropped" and self.error is None:
                    call_id, count = item
                    db.execute(
                        "UPDATE calls SET dropped = dropped + ? WHERE call_id = ?", (count, call_id)
                    )
                if in_tx and (
                    kind in ("commit", "tick", "flush", "stop")
                    or time.monotonic() - first_wall >= COMMIT_EVERY_S
                ):
                    db.commit()
                    in_tx = False
                if kind == "flush":
                    item.set()
                elif kind == "ask":
                    self._answer(db, *item)
                if kind == "stop":
                    return
        except BaseException as exc:  # noqa: BLE001 - disk full, file removed, a bug: reported
            self._fail(exc)
            self._drain_after_failure()
        finally:
            if db is not None:
                db.close()

    def _fail(self, exc: BaseException) -> None:
        """The writer cannot store any more: keep why, tell the owner once."""
        if self.error is not None:
            return
        self.error = exc
        if self.failed is not None:
            try:
                self.failed(exc)
            except Exception:  # noqa: BLE001 - the owner's report must not stop the draining
                pass

    def _drain_after_failure(self) -> None:
        while True:
            kind, item = self._queue.get()
            if kind == "flush":
                item.set()
            elif kind == "ask":
                item[1].set_exception(ServiceError(f"{self.path}: call store failed: {self.error}"))
            elif kind == "stop":
                return

    def flush(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """Wait until everything queued so far is committed; False on timeout."""
        if self._writer is None:
            return True
        done = threading.Event()
        if not self._put(("flush", done), timeout):
            return False
        return done.wait(timeout)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the file (never waits for ever:
        a writer that is gone takes nothing off a full queue)."""
        writer = self._writer
        if writer is not None:
            deadline = time.monotonic() + CLOSE_WAIT_S * 2
            while writer.is_alive() and time.monotonic() < deadline:
                try:
                    self._queue.put(("stop", None), timeout=0.1)
                    break
                except queue.Full:
                    continue
            writer.join(max(0.0, deadline - time.monotonic()))
            self._writer = None
        self._db.close()

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _has_call(db: sqlite3.Connection, call_id: str) -> bool:
        row = db.execute("SELECT 1 FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return row is not None

    def _answer(self, db: sqlite3.Connection, call_id: str, answer: Future[bool]) -> None:
        """On the writer thread: answer another thread's `has_call` (sees queued calls too)."""
        try:
            answer.set_result(self._has_call(db, call_id))
        except sqlite3.Error as exc:
            answer.set_exception(ServiceError(f"{self.path}: call store failed: {exc}"))

    def has_call(self, call_id: str, timeout: float = CLOSE_WAIT_S) -> bool:
        """Whether `call_id` is stored (or queued for storing). Any thread may ask: off the
        opening thread, the writer answers on its own connection."""
        if threading.get_ident() == self._owner:
            return self._has_call(self._db, call_id)
        self._start_writer()
        answer: Future[bool] = Future()
        if not self._put(("ask", (call_id, answer)), timeout):
            raise ServiceError(f"{self.path}: the call store is too busy to answer")
        try:
            return answer.result(timeout)
        except FutureTimeout:
            raise ServiceError(f"{self.path}: the call store did not answer in time") from None

    def calls(self, *, limit: int | None = None) -> list[CallRow]:
        """Calls, newest first, with their event count and last audio time."""
        sql = (
            "SELECT c.call_id, c.started_at, c.ended_at, c.status, c.recovered, c.source, "
            "c.agent, c.remote, c.lang, c.duration_s, c.prompts, c.dropped, "
            "(SELECT count(*) FROM events e WHERE e.call_id = c.call_id), "
            "(SELECT coalesce(max(t), 0) FROM events e WHERE e.call_id = c.call_id), "
            "(SELECT coalesce(sum(json_extract(e.body, '$.data.count')), 0) FROM events e "
            " WHERE e.call_id = c.call_id AND e.type = 'dropped' "
            " AND json_extract(e.body, '$.data.queue') <> 'work') "
            "FROM calls c ORDER BY c.started_at DESC, c.call_id"
        )
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with _as_input_error(self.path):
            rows = self._db.execute(sql, params).fetchall()
        return [
            CallRow(
                call_id=r[0],
                started_at=r[1],
                ended_at=r[2],
                status=r[3],
                recovered=bool(r[4]),
                source=r[5],
                agent=r[6],
                remote=r[7],
                lang=r[8],
                duration_s=r[9],
                prompts=r[10],
                events_not_stored=int(r[11]),
                events=int(r[12]),
                last_t=float(r[13]),
                audio_frames_dropped=int(r[14]),
            )
            for r in rows
        ]

    def find(self, ref: str) -> CallRow:
        """The call whose id is `ref` or starts with it (unique prefix); InputError otherwise."""
        rows = self.calls()
        exact = [r for r in rows if r.call_id == ref]
        if exact:
            return exact[0]
        matches = [r for r in rows if r.call_id.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise InputError(f"no call {ref!r} in {self.path} (see `assist calls`)")
        ids = ", ".join(r.call_id for r in matches[:5])
        raise InputError(
            f"call id {ref!r} is ambiguous: {ids}{', ...' if len(matches) > 5 else ''}"
        )

    def events(self, call_id: str) -> list[dict[str, Any]]:
        """Every stored envelope of a call, in `seq` order."""
        with _as_input_error(self.path):
            rows = self._db.execute(
                "SELECT body FROM events WHERE call_id = ? ORDER BY seq", (call_id,)
            ).fetchall()
        return [json.loads(body) for (body,) in rows]


class StoreSink:
    """A runtime Sink writing one call into a CallStore; never blocks longer than `wait_s`."""

    def __init__(self, store: CallStore, call_id: str, wait_s: float = 0.0) -> None:
        self.store = store
        self.call_id = call_id
        self.wait_s = wait_s
        self.sent = 0
        self.dropped = 0
        self._unreported = 0

    def send(self, event: Event) -> None:
        if self.store._put(("event", event), self.wait_s):
            self.sent += 1
        else:
            self.dropped += 1
            self._unreported += 1
        if self._unreported and event.type == "call_ended":
            self._report_drops()

    def _report_drops(self) -> None:
        if self.store._put(("dropped", (self.call_id, self._unreported)), CLOSE_WAIT_S):
            self._unreported = 0

    def close(self) -> None:
        """Record drops and wait (bounded) until this call's events are committed."""
        if self._unreported:
            self._report_drops()
        self.store.flush()
