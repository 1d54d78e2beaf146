"""The overlay server: static pages over HTTP and the event stream over one websocket, one port.

Runs its own asyncio loop on a background thread so the call runner never touches asyncio:
`HubSink.send()` hands events to the loop with `call_soon_threadsafe`, and each client's
bounded queue lives in the Hub. Messages are decoded by overlay/protocol.py; tokens, roles and
the Origin check are overlay/auth.py. Feedback goes to the call's runner through the
CallRegistry; listen/whisper/barge to the CallControl. See docs/protocol.md.

Hostile clients are bounded here: connections overall and per token, handshake time, each
connection's message rate, feedback once per token holder and prompt, backlog replay in
paced batches, and a send that cannot complete within SEND_TIMEOUT_S drops its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http
import itertools
import logging
import mimetypes
import os
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from assist import __version__
from assist.core.errors import ConfigError, ServiceError
from assist.core.events import Event, SupervisorAction, SupervisorMessage
from assist.runtime.control import CallControl, CallRegistry, ControlError
from overlay import protocol
from overlay.auth import OverlayConfig, Principal, Tokens, origin_allowed
from overlay.board import CallBoard
from overlay.hub import SUPERVISOR_ONLY, Hub, Subscription
from overlay.protocol import PROTOCOL_VERSION, ProtocolError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

WS_PATH = "/ws"
PAGES = {"/": "overlay.html", "/overlay": "overlay.html", "/supervisor": "supervisor.html"}
BOARD_EVERY_S = 0.25  # the supervisor board is sent at most this often (coalesced)
EXPIRE_EVERY_S = 1.0  # how often ended calls past keep_ended_s are dropped from the board
STALL_GRACE_S = 2.0  # an overflowed client whose socket is stuck is aborted after this
SEND_TIMEOUT_S = 5.0  # a send that cannot complete this long: the client is not reading
START_WAIT_S = 10.0  # start(): the server must be listening by then, else a ServiceError
HANDSHAKE_TIMEOUT_S = 5.0  # TCP connect to an open websocket (or an HTTP answer), at most
SEND_BUFFER = 64 * 1024  # kernel send buffer per client: what a stalled one holds is bounded
REPLAY_BATCH = 64  # backlog events sent before yielding to the loop (other clients, the hub)
FEEDBACK_CHANGES = 1  # after its first feedback on a prompt, a token holder may change it once
STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "SAMEORIGIN"),  # older browsers; CSP frame-ancestors rules otherwise
)


def _static(name: str) -> bytes | None:
    f = resources.files("overlay").joinpath("static", name)
    return f.read_bytes() if f.is_file() else None


def _csp(origins: tuple[str, ...]) -> str:
    """Pages load only our own files and talk only to our own websocket; they may be framed
    by our own pages and the configured origins (a CRM embedding the overlay)."""
    ancestors = " ".join(("'self'", *origins))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )


def _response(
    status: http.HTTPStatus,
    body: bytes,
    ctype: str,
    csp: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    headers = Headers(
        [
            ("Content-Type", ctype),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", csp),
            *SECURITY_HEADERS,
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


class _Stalled(Exception):
    """A send did not complete within SEND_TIMEOUT_S; the client has been dropped."""


class Client:
    """One websocket connection: who it is, its subscription, and a coalesced board slot."""

    def __init__(self, ws: ServerConnection, who: Principal, rate: float) -> None:
        self.ws = ws
        self.who = who
        self.sub: Subscription | None = None
        self.backlog: Iterator[Event] | None = None  # replay still to send, in batches
        self.board = who.supervisor  # a board message is pending
        self.phone = False  # a phone message is pending
        self.limit = protocol.RateLimit(rate)
        self.wake = asyncio.Event()
        self.wake.set()
        self._abort: asyncio.TimerHandle | None = None
        self.overflowed = False  # its queue overflowed: being closed (1013) or aborted

    def poke(self) -> None:
        self.wake.set()
        if self.sub is not None and self.sub.overflowed and self._abort is None:
            self.overflowed = True
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
        cfg = replace(
            cfg, host=cfg.host if host is None else host, port=cfg.port if port is None else port
        )
        self.config = cfg.with_tokens(agent)
        self.hub = hub or Hub()
        self.host = self.config.host
        self.port = self.config.port
        self.registry = registry
        self.control = control
        self.tokens = Tokens((*self.config.agents, *self.config.supervisors))
        self.board = CallBoard(keep_ended_s=self.config.keep_ended_s)
        self.hub.listeners.append(self._on_event)
        self.hub.forgetters.append(self.board.forget)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None  # why it could not start
        self._stopping = False
        self.died: BaseException | None = None  # what ended it after start, if anything
        self.failed: Callable[[BaseException], None] | None = None  # told of `died`, once
        self._board_due: asyncio.TimerHandle | None = None
        self.phone: str | None = None  # the latest `phone` message (registration state)
        # the floor console: a supervisor's message goes to the agent's plugin (call, text, name)
        self.relay_message: Callable[[str, str, str], Awaitable[str]] | None = None
        self.connected: set[Client] = set()
        self.per_token: Counter[str] = Counter()  # open websockets per token
        self.sockets = 0  # TCP connections at any stage (handshakes included)
        self.dropped_stalled = 0  # clients dropped because a send could not complete
        self.dropped_slow = 0  # clients closed (1013) or aborted: their queue overflowed
        # call id -> (token holder, prompt id) -> (verdict, times changed)
        self.feedback: dict[str, dict[tuple[str, str], tuple[str, int]]] = {}
        self.hub.forgetters.append(self._forget_feedback)
        self._csp = _csp(self.config.origins)
        self._ssl = _ssl_context(self.config)

    @property
    def clients(self) -> int:
        """Open websockets (authenticated, hello sent or being sent)."""
        return len(self.connected)

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/"

    def agent_url(self, name: str | None = None) -> str:
        p = next(a for a in self.config.agents if name in (None, a.name))
        return f"{self.url}?token={p.token}"

    def supervisor_url(self) -> str:
        return f"{self.url}supervisor?token={self.config.supervisors[0].token}"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> OverlayServer:
        self._thread = threading.Thread(target=self._main, name="overlay-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_WAIT_S):
            self._stopping = True  # it stops by itself if it ever gets there
            raise ServiceError(
                f"the overlay server on {self.host}:{self.port} did not start within "
                f"{START_WAIT_S:.0f} s"
            )
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
        self._stopping = True
        if self.loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: it died already
                self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - surfaced to start(), or to the owner
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
                return
            self._died(exc)
        else:
            if not self._stopping:  # nobody asked it to stop
                self._died(ServiceError("the overlay server stopped by itself"))

    def _died(self, exc: BaseException) -> None:
        self.died = exc
        if self.failed is not None:
            self.failed(exc)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        owner = self

        class Counted(ServerConnection):
            """Counts TCP connections from their first byte; beyond the cap, cut at once."""

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                owner.sockets += 1
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                if owner.sockets > owner.config.max_connections:
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                owner.sockets -= 1
                super().connection_lost(exc)

        async with serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._http,
            max_size=protocol.MAX_FRAME,
            max_queue=16,
            open_timeout=HANDSHAKE_TIMEOUT_S,
            ssl=self._ssl,
            create_connection=Counted,
            server_header=f"softphone-assist/{__version__}",
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            expiring = asyncio.create_task(self._expire_ended())
            stopping = asyncio.create_task(self._stop.wait())
            try:
                if not self._stopping:
                    await asyncio.wait({expiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if expiring.done() and not expiring.cancelled():
                    expiring.result()  # it died: that ends the server, and its owner hears why
            finally:
                expiring.cancel()
                stopping.cancel()

    async def _expire_ended(self) -> None:
        """Ended calls leave the board keep_ended_s after their end (the pages are told)."""
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            if self.board.expire():
                self._board_tick()

    def disconnect_all(self) -> None:
        """Close every websocket (code 1012, "restarting"): clients reconnect and resume."""
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_all(1012, "restarting"), self.loop).result(
                10
            )

    async def _close_all(self, code: int, reason: str) -> None:
        await asyncio.gather(*(c.ws.close(code, reason) for c in list(self.connected)))

    def _forget_feedback(self, call_id: str) -> None:
        self.feedback.pop(call_id, None)

    # -- publishing (any thread) ---------------------------------------------------------------

    def publish(self, event: Event) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.hub.publish, event)

    def set_phone(self, registration: protocol.RegistrationState, message: str) -> None:
        """The softphone's registration changed (any thread): every client is told."""
        text = protocol.phone(registration, message)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._phone_changed, text)
        else:
            self.phone = text

    def _phone_changed(self, text: str) -> None:
        self.phone = text
        for c in self.connected:
            c.phone = True
            c.wake.set()

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
        """Pages, static files and the websocket upgrade; anything else a clean 4xx."""
        csp = self._csp

        def answer(
            status: http.HTTPStatus, text: str, extra: tuple[tuple[str, str], ...] = ()
        ) -> Response:
            return _response(status, text.encode() + b"\n", "text/plain; charset=utf-8", csp, extra)

        if request.method != "GET":  # websockets' parser takes any method; we serve GET only
            allow = (("Allow", "GET"),)
            return answer(http.HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed", allow)
        if len(request.path) > 2048:
            return answer(http.HTTPStatus.REQUEST_URI_TOO_LONG, "path too long")
        path = urlsplit(request.path).path
        if path == WS_PATH:
            origins = request.headers.get_all("Origin")
            if len(origins) > 1:
                return answer(http.HTTPStatus.BAD_REQUEST, "more than one Origin header")
            if not origin_allowed(
                origins[0] if origins else None,
                port=self.port,
                host=self.host,
                extra=self.config.origins,
                tls=self.config.tls,
            ):
                return answer(http.HTTPStatus.FORBIDDEN, "origin not allowed")
            return None
        if path == "/favicon.ico":
            return _response(http.HTTPStatus.NO_CONTENT, b"", "image/x-icon", csp)
        name = PAGES.get(path) or (path[len("/static/") :] if path.startswith("/static/") else "")
        if name and STATIC_NAME.fullmatch(name) and ".." not in name:
            body = _static(name)
            if body is not None:
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                if ctype.startswith("text/") or ctype.endswith("javascript"):
                    ctype += "; charset=utf-8"
                return _response(http.HTTPStatus.OK, body, ctype, csp)
        return answer(http.HTTPStatus.NOT_FOUND, "not found")

    # -- websocket -----------------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        token = parse_qs(urlsplit(ws.request.path).query).get("token", [None])[0]
        who = self.tokens.check(token)
        try:
            if who is None:
                await ws.send(protocol.error("unauthorized", "missing or unknown token"))
                await ws.close(protocol.CLOSE_UNAUTHORIZED, "unauthorized")
                return
            if self.per_token[who.token] >= self.config.max_connections_per_token:
                cap = self.config.max_connections_per_token
                message = f"this token already has {cap} connections; close one"
                await ws.send(protocol.error("too_many_connections", message))
                await ws.close(protocol.CLOSE_TOO_MANY, "too many connections")
                return
        except ConnectionClosed:
            return
        client = Client(ws, who, self.config.messages_per_s)
        client.phone = self.phone is not None  # sent by the pump, so always after hello
        self.connected.add(client)  # counted from here; the finally below uncounts it
        self.per_token[who.token] += 1
        pump: asyncio.Task[None] | None = None
        try:
            visible = self._visible(who)
            hello = protocol.hello(
                server=f"softphone-assist/{__version__}",
                role=who.role,
                name=who.name,
                calls=[c for c in self.hub.calls() if visible(c)],
                telephony=self.control is not None and self.control.telephony,
                dial=who.dial,
            )
            await self._send(client, hello)
            pump = asyncio.create_task(self._pump(client))
            loop = asyncio.get_running_loop()
            async for raw in ws:
                if not client.limit.allow(loop.time()):
                    per_s = client.limit.rate
                    reply: str | None = protocol.error(
                        "rate_limited", f"more than {per_s:g} messages a second; not done"
                    )
                else:
                    try:
                        reply = await self._on_message(client, protocol.decode(raw))
                    except ProtocolError as exc:
                        reply = protocol.error(exc.code, exc.message, exc.ref)
                if reply is not None:
                    await self._send(client, reply)
        except (ConnectionClosed, _Stalled):
            pass
        finally:
            self.dropped_slow += client.overflowed
            self.connected.discard(client)
            self.per_token[who.token] -= 1
            if self.per_token[who.token] <= 0:
                del self.per_token[who.token]
            client.done()
            if client.sub is not None:
                self.hub.unsubscribe(client.sub)
            if pump is not None:
                pump.cancel()

    async def _send(self, client: Client, text: str) -> None:
        """Send, or drop a client that does not read: its socket buffers are full and have
        not drained for SEND_TIMEOUT_S."""
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await client.ws.send(text)
        except TimeoutError:
            self.dropped_stalled += 1
            log.info("overlay: dropped %s: not reading", client.who.label)
            client.ws.transport.abort()
            raise _Stalled from None

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
                hidden=frozenset() if who.supervisor else SUPERVISOR_ONLY,
                latest=msg.latest,
            )
            client.wake.set()
            return None
        if isinstance(msg, protocol.Dial):
            if not who.dial:
                raise ProtocolError("forbidden", "this token may not place calls", msg.ref)
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
            given = self.feedback.setdefault(msg.call_id, {})
            before = given.get((label, pid))
            if before is not None and (before[0] == verdict or before[1] >= FEEDBACK_CHANGES):
                return protocol.result(f"feedback already recorded: {before[0]}", msg.ref)
            given[label, pid] = (verdict, 0 if before is None else before[1] + 1)
            runner.submit(lambda s: s.feedback(pid, verdict, label))
            return protocol.result(f"feedback recorded: {verdict}", msg.ref)
        if not who.supervisor:
            raise ProtocolError("forbidden", "only supervisor tokens may supervise", msg.ref)
        if isinstance(msg, protocol.Message):
            return protocol.result(await self._message(runner, msg, who.name), msg.ref)
        if self.hub.agent_of(msg.call_id) is None:
            raise ProtocolError("no_such_call", "no such call on this server", msg.ref)
        call_id, mode = msg.call_id, msg.mode
        failure: ProtocolError | None = None
        try:
            status = await self._control(
                lambda c: c.supervise(call_id, mode, who.sip, who.name), msg.ref
            )
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

    async def _message(self, runner: Any, msg: protocol.Message, name: str) -> str:
        """A supervisor's text to the agent: into the call's own stream (so the overlay, the
        store and the report get it), here or, on the floor console, at the agent's plugin."""
        if runner is not None:
            note = SupervisorMessage(supervisor=name, text=msg.text)
            runner.submit(lambda s: s.note(note))
            return "message sent to the agent"
        if self.relay_message is not None:
            try:
                return await self.relay_message(msg.call_id, msg.text, name)
            except ControlError as exc:
                raise ProtocolError("control_failed", str(exc), msg.ref) from None
        raise ProtocolError("no_such_call", "that call is not live on this server", msg.ref)

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
        """Board, then backlog in paced batches, then live events; one client's sends only."""
        ws = client.ws
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                sub = client.sub
                if sub is not None and sub.overflowed:
                    await ws.close(protocol.CLOSE_TOO_SLOW, "client too slow; reconnect and resume")
                    return
                if client.phone and self.phone is not None:
                    client.phone = False
                    await self._send(client, self.phone)
                if client.board:
                    client.board = False
                    who = client.who
                    rows = self.board.snapshot(lambda c, who=who: who.may_see(c.agent))
                    await self._send(client, protocol.calls(rows))
                if client.backlog is not None:
                    batch = list(itertools.islice(client.backlog, REPLAY_BATCH))
                    if batch:
                        for ev in batch:
                            await self._send(client, self.hub.wire(ev))
                        client.wake.set()  # more to replay: after the others have had a turn
                        await asyncio.sleep(0)
                        continue
                    client.backlog = None
                if sub is not None and sub is client.sub:
                    for ev in sub.drain():
                        await self._send(client, self.hub.wire(ev))
        except (ConnectionClosed, _Stalled):
            pass


def _ssl_context(config: OverlayConfig) -> ssl.SSLContext | None:
    """The server's TLS context from the configured PEM files (None: plain http)."""
    if not config.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for key, path in (("tls_cert", config.tls_cert), ("tls_key", config.tls_key)):
        if not os.path.isfile(path):
            raise ConfigError(
                f"expected an existing PEM file, got {path!r} (no such file)", key=f"overlay.{key}"
            )
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load {config.tls_cert} with key {config.tls_key}: "
            f"{getattr(exc, 'reason', None) or exc}",
            key="overlay.tls_cert",
        ) from None
    return ctx


class HubSink:
    """A runtime Sink that publishes to a running OverlayServer."""

    def __init__(self, server: OverlayServer) -> None:
        self.server = server

    def send(self, event: Event) -> None:
        self.server.publish(event)

    def close(self) -> None:
        pass
