"""The overlay server: static pages over HTTP and the event stream over one websocket, one port.

Runs its own asyncio loop on a background thread so the call runner never touches asyncio:
`HubSink.send()` hands events to the loop with `call_soon_threadsafe`, and each client's
bounded queue lives in the Hub. Messages are decoded by overlay/protocol.py; tokens, roles and
the Origin check are overlay/auth.py. Feedback goes to the call's runner through the
CallRegistry; listen/whisper/barge to the CallControl. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import errno
import http
import logging
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from assist import __version__
from assist.core.errors import ServiceError
from assist.core.events import Event, SupervisorAction
from assist.runtime.control import CallControl, CallRegistry, ControlError
from overlay import protocol
from overlay.auth import OverlayConfig, Principal, Tokens, origin_allowed
from overlay.board import CallBoard
from overlay.hub import Hub, Subscription
from overlay.protocol import PROTOCOL_VERSION, ProtocolError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

WS_PATH = "/ws"
PAGES = {"/": "overlay.html", "/overlay": "overlay.html", "/supervisor": "supervisor.html"}
BOARD_EVERY_S = 0.25  # the supervisor board is sent at most this often (coalesced)
STALL_GRACE_S = 2.0  # an overflowed client whose socket is stuck is aborted after this


def _static(name: str) -> bytes | None:
    f = resources.files("overlay").joinpath("static", name)
    return f.read_bytes() if f.is_file() else None


def _response(status: http.HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers(
        [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    )
    return Response(status.value, status.phrase, headers, body)


class Client:
    """One websocket connection: who it is, its subscription, and a coalesced board slot."""

    def __init__(self, ws: ServerConnection, who: Principal) -> None:
        self.ws = ws
        self.who = who
        self.sub: Subscription | None = None
        self.backlog: list[Event] = []
        self.board = who.supervisor  # a board message is pending
        self.wake = asyncio.Event()
        self.wake.set()
        self._abort: asyncio.TimerHandle | None = None

    def poke(self) -> None:
        self.wake.set()
        if self.sub is not None and self.sub.overflowed and self._abort is None:
            transport = self.ws.transport
            loop = asyncio.get_running_loop()
            self._abort = loop.call_later(STALL_GRACE_S, transport.abort)

    def done(self) -> None:
        if self._abort is not None:
            self._abort.cancel()


class OverlayServer:
    """Serves the pages and the websocket on `host:port` (port 0 picks a free one)."""

    def __init__(
        self,
        hub: Hub | None = None,
        *,
        config: OverlayConfig | None = None,
        host: str | None = None,
        port: int | None = None,
        registry: CallRegistry | None = None,
        control: CallControl | None = None,
        agent: str = "demo-agent",
    ) -> None:
        cfg = config or OverlayConfig()
        cfg = replace(cfg, host=host or cfg.host, port=cfg.port if port is None else port)
        self.config = cfg.with_tokens(agent)
        self.hub = hub or Hub()
        self.host = self.config.host
        self.port = self.config.port
        self.registry = registry
        self.control = control
        self.tokens = Tokens((*self.config.agents, *self.config.supervisors))
        self.board = CallBoard()
        self.hub.listeners.append(self._on_event)
        self.hub.forgetters.append(self.board.forget)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._board_due: asyncio.TimerHandle | None = None
        self.connected: set[Client] = set()
        self.clients = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def agent_url(self, name: str | None = None) -> str:
        p = next(a for a in self.config.agents if name in (None, a.name))
        return f"{self.url}?token={p.token}"

    def supervisor_url(self) -> str:
        return f"{self.url}supervisor?token={self.config.supervisors[0].token}"

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
            max_size=protocol.MAX_FRAME,
            max_queue=16,
            server_header=f"softphone-assist/{__version__}",
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def disconnect_all(self) -> None:
        """Close every websocket (code 1012, "restarting"): clients reconnect and resume."""
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_all(1012, "restarting"), self.loop).result(
                10
            )

    async def _close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(*(c.ws.close(code, reason) for c in list(self.connected)))

    # -- publishing (any thread) ---------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.hub.publish, event)

    def _on_event(self, event: Event) -> None:
        if self.board.apply(event) and self._board_due is None and self.loop is not None:
            self._board_due = self.loop.call_later(BOARD_EVERY_S, self._board_tick)

    def _board_tick(self) -> None:
        self._board_due = None
        for c in self.connected:
            if c.who.supervisor:
                c.board = True
                c.wake.set()

    def _visible(self, who: Principal) -> Any:
        return lambda call_id: who.may_see(self.hub.agent_of(call_id))

    # -- HTTP ----------------------------------------------------------------------------------

    def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == WS_PATH:
            origin = request.headers.get("Origin")
            if not origin_allowed(
                origin, port=self.port, host=self.host, extra=self.config.origins
            ):
                return _response(http.HTTPStatus.FORBIDDEN, b"origin not allowed\n", "text/plain")
            return None
        if path == "/favicon.ico":
            return _response(http.HTTPStatus.NO_CONTENT, b"", "image/x-icon")
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
        assert ws.request is not None
        token = parse_qs(urlsplit(ws.request.path).query).get("token", [None])[0]
        who = self.tokens.check(token)
        if who is None:
            await ws.send(protocol.error("unauthorized", "missing or unknown token"))
            await ws.close(protocol.CLOSE_UNAUTHORIZED, "unauthorized")
            return
        client = Client(ws, who)
        self.clients += 1
        self.connected.add(client)
        visible = self._visible(who)
        await ws.send(
            protocol.hello(
                server=f"softphone-assist/{__version__}",
                role=who.role,
                name=who.name,
                calls=[c for c in self.hub.calls() if visible(c)],
                telephony=self.control is not None and self.control.telephony,
            )
        )
        pump = asyncio.create_task(self._pump(client))
        try:
            async for raw in ws:
                try:
                    reply = await self._on_message(client, protocol.decode(raw))
                except ProtocolError as exc:
                    reply = protocol.error(exc.code, exc.message, exc.ref)
                if reply is not None:
                    await ws.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self.clients -= 1
            self.connected.discard(client)
            client.done()
            if client.sub is not None:
                self.hub.unsubscribe(client.sub)
            pump.cancel()

    async def _on_message(self, client: Client, msg: protocol.ClientMessage) -> str | None:
        who = client.who
        if isinstance(msg, protocol.Subscribe):
            # a supervisor may also follow a call that has not started yet; an agent may not
            if msg.call_id is not None and not who.may_see(self.hub.agent_of(msg.call_id)):
                raise ProtocolError("forbidden", "this token may not see that call", msg.ref)
            if client.sub is not None:
                self.hub.unsubscribe(client.sub)
            client.sub, client.backlog = self.hub.subscribe(
                msg.call_id,
                client.poke,
                since=dict(msg.since),
                maxlen=self.config.client_queue,
                visible=self._visible(who),
                latest=msg.latest,
            )
            client.wake.set()
            return None
        if isinstance(msg, protocol.Dial):
            uri = msg.uri
            return protocol.result(await self._control(lambda c: c.dial(uri), msg.ref), msg.ref)
        if not who.may_see(self.hub.agent_of(msg.call_id)):
            raise ProtocolError("forbidden", "this token may not act on that call", msg.ref)
        if isinstance(msg, protocol.CallAction):
            if self.hub.agent_of(msg.call_id) is None:
                raise ProtocolError("no_such_call", "no such call on this server", msg.ref)
            call_id, answer = msg.call_id, msg.action == "answer"

            def act(c: CallControl) -> str:
                return c.answer(call_id) if answer else c.hangup(call_id)

            return protocol.result(await self._control(act, msg.ref), msg.ref)
        runner = self.registry.get(msg.call_id) if self.registry is not None else None
        if isinstance(msg, protocol.SendFeedback):
            if runner is None:
                raise ProtocolError("no_such_call", "that call is not live on this server", msg.ref)
            if not self.hub.has_prompt(msg.call_id, msg.prompt_id):
                raise ProtocolError("unknown_prompt", "this call raised no such prompt", msg.ref)
            pid, verdict, label = msg.prompt_id, msg.verdict, who.label
            runner.submit(lambda s: s.feedback(pid, verdict, label))
            return protocol.result(f"feedback recorded: {verdict}", msg.ref)
        if not who.supervisor:
            raise ProtocolError("forbidden", "only supervisor tokens may supervise", msg.ref)
        if self.hub.agent_of(msg.call_id) is None:
            raise ProtocolError("no_such_call", "no such call on this server", msg.ref)
        call_id, mode = msg.call_id, msg.mode
        failure: ProtocolError | None = None
        try:
            status = await self._control(lambda c: c.supervise(call_id, mode, who.sip), msg.ref)
        except ProtocolError as exc:
            status, failure = exc.message, exc
        if runner is not None:  # recorded in the call's stream: the audit trail of who did what
            action = SupervisorAction(
                mode=mode, supervisor=who.name, ok=failure is None, message=status
            )
            runner.submit(lambda s: s.note(action))
        if failure is not None:
            raise failure
        return protocol.result(status, msg.ref)

    async def _control(self, request: Callable[[CallControl], str], ref: str | int | None) -> str:
        """Run a call-control request off the event loop; a refusal is a `control_failed`."""
        try:
            if self.control is None:
                raise ControlError("call control is not available on this server")
            control = self.control
            return await asyncio.to_thread(request, control)
        except ControlError as exc:
            raise ProtocolError("control_failed", str(exc), ref) from None

    async def _pump(self, client: Client) -> None:
        ws = client.ws
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                sub = client.sub
                if sub is not None and sub.overflowed:
                    await ws.close(protocol.CLOSE_TOO_SLOW, "client too slow; reconnect and resume")
                    return
                if client.board:
                    client.board = False
                    who = client.who
                    rows = self.board.snapshot(lambda c, who=who: who.may_see(c.agent))
                    await ws.send(protocol.calls(rows))
                backlog, client.backlog = client.backlog, []
                for ev in backlog:
                    await ws.send(ev.to_json())
                if sub is not None and sub is client.sub:
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
