"""The overlay server: static pages over HTTP and the event stream over one websocket, one port.

Runs its own asyncio loop on a background thread so the call runner never touches asyncio:
`HubSink.send()` hands events to the loop with `call_soon_threadsafe`, and each client's
bounded queue lives in the Hub. See docs/protocol.md for the messages.
"""

from __future__ import annotations

import asyncio
import errno
import http
import json
import mimetypes
import threading
from importlib import resources
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from assist import __version__
from assist.errors import ServiceError
from assist.events import SCHEMA_VERSION, Event
from overlay.hub import Hub, Subscription

PROTOCOL_VERSION = 1
WS_PATH = "/ws"
MAX_MESSAGE = 64 * 1024
PAGES = {"/": "overlay.html", "/overlay": "overlay.html", "/supervisor": "supervisor.html"}


def _static(name: str) -> bytes | None:
    f = resources.files("overlay").joinpath("static", name)
    return f.read_bytes() if f.is_file() else None


def _response(status: http.HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers(
        [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    )
    return Response(status.value, status.phrase, headers, body)


class OverlayServer:
    """Serves the pages and the websocket on `host:port` (port 0 picks a free one)."""

    def __init__(
        self, hub: Hub | None = None, *, host: str = "127.0.0.1", port: int = 8765
    ) -> None:
        self.hub = hub or Hub()
        self.host = host
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.clients = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> OverlayServer:
        self._thread = threading.Thread(target=self._main, name="overlay-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            err = self._error
            if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
                raise ServiceError(
                    f"port {self.port} on {self.host} is already in use; "
                    "pass --port N (0 = any free port)"
                ) from None
            raise ServiceError(f"cannot start overlay server on {self.host}:{self.port}: {err}")
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start() or logged by the owner
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._http,
            max_size=MAX_MESSAGE,
            server_header=f"softphone-assist/{__version__}",
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[index]
            self._ready.set()
            await self._stop.wait()

    # -- publishing (any thread) ---------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.hub.publish, event)

    # -- HTTP ----------------------------------------------------------------------------------

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None
        name = PAGES.get(path) or (path[len("/static/") :] if path.startswith("/static/") else "")
        if name and "/" not in name and ".." not in name:
            body = _static(name)
            if body is not None:
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                if ctype.startswith("text/") or ctype.endswith("javascript"):
                    ctype += "; charset=utf-8"
                return _response(http.HTTPStatus.OK, body, ctype)
        return _response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    # -- websocket -----------------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        self.clients += 1
        wake = asyncio.Event()
        sub: Subscription | None = None
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "v": SCHEMA_VERSION,
                    "protocol": PROTOCOL_VERSION,
                    "server": f"softphone-assist/{__version__}",
                    "calls": self.hub.calls(),
                }
            )
        )
        sender: asyncio.Task[None] | None = None
        try:
            async for raw in ws:
                msg = self._parse(raw)
                if "error" in msg:
                    await ws.send(json.dumps({"type": "error", **msg}))
                    continue
                if msg["type"] == "subscribe":
                    if sub is not None:
                        self.hub.unsubscribe(sub)
                    if sender is not None:
                        sender.cancel()
                    call_id = msg.get("call_id") or None
                    since = msg.get("since") or {}
                    sub, backlog = self.hub.subscribe(call_id, wake.set, since=since)
                    for ev in backlog:
                        await ws.send(ev.to_json())
                    sender = asyncio.create_task(self._pump(ws, sub, wake))
        except ConnectionClosed:
            pass
        finally:
            self.clients -= 1
            if sub is not None:
                self.hub.unsubscribe(sub)
            if sender is not None:
                sender.cancel()

    @staticmethod
    def _parse(raw: str | bytes) -> dict[str, Any]:
        if isinstance(raw, bytes):
            return {"error": "binary messages are not accepted", "code": "bad_message"}
        try:
            msg = json.loads(raw)
        except ValueError:
            return {"error": "message is not JSON", "code": "bad_message"}
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return {"error": "message must be an object with a 'type'", "code": "bad_message"}
        if msg["type"] != "subscribe":
            return {"error": f"unknown message type {msg['type']!r}", "code": "unknown_type"}
        since = msg.get("since", {})
        if not isinstance(since, dict) or not all(isinstance(v, int) for v in since.values()):
            return {"error": "'since' must map call ids to seq numbers", "code": "bad_message"}
        return msg

    async def _pump(self, ws: ServerConnection, sub: Subscription, wake: asyncio.Event) -> None:
        try:
            while True:
                await wake.wait()
                wake.clear()
                if sub.overflowed:
                    await ws.close(1013, "client too slow; reconnect and resume")
                    return
                for ev in sub.drain():
                    await ws.send(ev.to_json())
        except ConnectionClosed:
            pass


class HubSink:
    """A runtime Sink that publishes to a running OverlayServer."""

    def __init__(self, server: OverlayServer) -> None:
        self.server = server

    def send(self, event: Event) -> None:
        self.server.publish(event)

    def close(self) -> None:
        pass
