"""What the floor tests share: a supervisor's websocket on the console, the console's history
of a call as a fresh page gets it, the plugins' JSONL, and the environment for child processes."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
SUP_TOKEN = "floor-supervisor-token-0123456789"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


class Supervisor:
    """A websocket client with the supervisor token: the board, and every event it is sent."""

    def __init__(
        self,
        port: int,
        *,
        call_id: str | None = None,
        since: dict[str, int] | None = None,
        subscribe: bool = True,
    ) -> None:
        self._stack = contextlib.ExitStack()
        url = f"ws://127.0.0.1:{port}/ws?token={SUP_TOKEN}"
        self.ws = self._stack.enter_context(connect(url, max_size=2**24))
        hello = json.loads(self.ws.recv(10))
        assert hello["type"] == "hello" and hello["role"] == "supervisor"
        self.events: list[dict[str, Any]] = []
        self.board: list[dict[str, Any]] = []
        self.flagged: set[str] = set()  # every call any board showed flagged
        self.results: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        if subscribe:  # without: the board only (a live all-calls feed may be coalesced/cut)
            msg: dict[str, Any] = {"type": "subscribe", "since": since or {}}
            if call_id is not None:
                msg["call_id"] = call_id
            self.ws.send(json.dumps(msg))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                m = json.loads(raw)
                with self.lock:
                    if "seq" in m:
                        self.events.append(m)
                    elif m["type"] == "calls":
                        self.board = m["calls"]
                        self.flagged |= {r["call_id"] for r in self.board if r["flagged"]}
                    elif m["type"] in ("result", "error"):
                        self.results.append(m)
        except Exception:  # noqa: BLE001 - the connection closed: the reader ends
            pass

    def of(self, call_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["call_id"] == call_id]

    def row(self, call_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((r for r in self.board if r["call_id"] == call_id), None)

    def wait(self, what: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        self._stack.close()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def console_history(port: int, call_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Everything the console holds for these calls, as a freshly opened page gets it."""
    out = {}
    for call_id in call_ids:
        sup = Supervisor(port, call_id=call_id)
        try:
            sup.wait(lambda s=sup, c=call_id: (e := s.of(c)) and e[-1]["type"] == "call_ended")
            time.sleep(0.1)
            out[call_id] = sup.of(call_id)
        finally:
            sup.close()
    return out
