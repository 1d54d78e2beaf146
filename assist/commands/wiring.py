"""A command's calls and what they write to, composed once for `demo`, `sip` and `srs`.

Every recording command has the same outputs: a JSON-lines events file (or stdout), the call
store, the floor (the fleet publisher, from `[fleet]`) and the overlay server. `CallWiring`
opens them in that order and `close()` undoes exactly what was opened, in reverse, whether the
command ran to its end or failed half way through start-up: an overlay port already in use
must not leave the fleet's heartbeat key alive in Redis for its TTL, nor files open. Use it as
a context manager; `sinks(call_id)` then gives each call its list of sinks.

Ordered teardown: events file, store, fleet (flushes, drops the heartbeat), overlay server
last (`finish()` closes the first three alone, so `demo --linger` keeps serving the pages).

A part that dies while running (the store's writer, the fleet publisher, the overlay server)
is reported through `failures` (commands/failures.py): one line, an `error` event in every live
call; the command reads `failures.parts` to decide. Each call's sinks start with an
`ErrorLines`, so its own `error` events are stderr lines as they happen; `outcome(runner)` says
what could not be said then, once the call is over.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import IO, TYPE_CHECKING, Any

from assist.commands.calls import finish_store, open_store, store_sink_for
from assist.commands.failures import ErrorLines, Failures, call_outcome
from assist.commands.fleet_link import start_fleet, stop_fleet
from assist.core.errors import ConfigError, InputError
from assist.core.events import Event
from assist.runtime.control import CallControl, CallRegistry
from assist.runtime.runner import CallRunner, JsonlSink, Sink

if TYPE_CHECKING:
    from assist.runtime.store import CallStore, StoreSink
    from fleet.publisher import FleetPublisher
    from overlay.auth import OverlayConfig
    from overlay.server import OverlayServer


class CallWiring:
    """The outputs every call of one command shares; each is None until opened."""

    def __init__(self) -> None:
        self.registry = CallRegistry()
        self.failures = Failures(self.registry)
        self.events: JsonlSink | None = None
        self._events_own: IO[str] | None = None  # stdout's reserved copy, closed at the end
        self._events_target = ""
        self.store: CallStore | None = None
        self.fleet: FleetPublisher | None = None
        self.server: OverlayServer | None = None
        self._finished = False
        self._closed = False

    def __enter__(self) -> CallWiring:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- opening, in order ---------------------------------------------------------------------

    def open_events(self, target: str | None, *, reserve_stdout: bool = False) -> None:
        """`--events FILE|-`. `reserve_stdout`: native code in this process prints to fd 1
        (pjlib), so `-` gets a private copy of fd 1 and fd 1 itself goes to stderr."""
        if not target:
            return
        own: IO[str] | None = None
        where: str | IO[str] = target
        if target == "-" and reserve_stdout:
            own = where = _reserve_stdout()
        self._events_own, self._events_target = own, target
        try:
            self.events = JsonlSink(where, shared=True)
        except OSError as exc:
            raise InputError(f"{target}: cannot write events ({exc.strerror})") from None

    def open_store(self, args: argparse.Namespace) -> None:
        """The call store of `--store`, unless `--no-store`."""
        self.store = open_store(args, self.failures)

    def start_fleet(
        self,
        config_path: str | None,
        *,
        agent: str,
        control: CallControl | None,
        server: bool = False,
    ) -> str:
        """The floor, if the config has a `[fleet]` table; returns the agent's name there
        (`server`: see fleet_link.start_fleet)."""
        self.fleet = start_fleet(
            config_path,
            agent=agent,
            registry=self.registry,
            control=control,
            failures=self.failures,
            server=server,
        )
        return self.fleet.agent if self.fleet is not None else agent

    def start_overlay(
        self,
        config: OverlayConfig,
        *,
        control: CallControl | None,
        agent: str,
        host: str | None = None,
        port: int | None = None,
        then: str = "the call goes on without its pages",
    ) -> OverlayServer:
        """Serve the overlay and print its two URLs. `then`: what the command does if the
        server dies later (said in its one line)."""
        from overlay.server import OverlayServer

        server = OverlayServer(
            config=config,
            host=host,
            port=port,
            registry=self.registry,
            control=control,
            agent=agent,
        )
        self.failures.overlay(server, then=then)
        self.server = server.start()  # kept only once started: a failed start holds nothing
        print(f"Overlay: {server.agent_url(agent)}", file=sys.stderr)
        print(f"Supervisor: {server.supervisor_url()}", file=sys.stderr)
        return server

    # -- per call ------------------------------------------------------------------------------

    def sinks(self, call_id: str, *, fast: bool = False) -> tuple[list[Sink], StoreSink | None]:
        """A new call's sinks (any thread), and its store sink among them, if recorded."""
        sinks: list[Sink] = [ErrorLines(self.failures)]
        if self.events is not None:
            sinks.append(self.events)
        if self.fleet is not None:
            sinks.append(self.fleet.sink())
        if self.server is not None:
            from overlay.server import HubSink

            sinks.append(HubSink(self.server))
        stored = store_sink_for(self.store, call_id, fast=fast)
        if stored is not None:
            sinks.append(stored)
        return sinks, stored

    def outcome(self, runner: CallRunner) -> bool:
        """After `runner.finish()`: a line for each failure its `ErrorLines` could not print
        as it happened; True if the call's analysis failed."""
        lines = next((s for s in runner.sinks if isinstance(s, ErrorLines)), None)
        return call_outcome(runner, lines or ErrorLines())

    def note(self, event: Event) -> None:
        """An event that belongs to no call (call_id ""): the events file only."""
        if self.events is not None:
            self.events.send(event)

    # -- teardown, in reverse ------------------------------------------------------------------

    def finish(self, stored: StoreSink | None = None) -> None:
        """Close the events file, the store (saying where `stored` went) and the fleet
        publisher; the overlay keeps serving. Idempotent."""
        if self._finished:
            return
        self._finished = True
        try:
            self._close_events()
        finally:
            try:
                finish_store(self.store, stored)
            finally:
                stop_fleet(self.fleet)

    def _close_events(self) -> None:
        try:
            if self.events is not None:
                self.events.close_file()
            if self._events_own is not None:
                self._events_own.close()
        except OSError as exc:  # a full disk: said already if a write failed before
            if self.events is not None and self.events.failed:
                return
            print(
                f"assist: warning: {self._events_target}: cannot close the events file "
                f"({exc.strerror})",
                file=sys.stderr,
            )

    def close(self) -> None:
        """Everything `finish` closes, then the overlay server. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.finish()
        finally:
            if self.server is not None:
                self.server.stop()


def _reserve_stdout() -> IO[str]:
    """Our own copy of fd 1 for the events; fd 1 itself (where pjlib prints) goes to stderr."""
    sys.stdout.flush()
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


# -- the overlay's options, shared by every command that serves it --------------------------


def add_live_words_option(p: argparse.ArgumentParser) -> None:
    """`--live-words`, for the commands that run calls in real time (`demo`, `sip`)."""
    p.add_argument(
        "--live-words",
        action="store_true",
        help="with Whisper finals: also re-decode the open utterance every second on spare CPU "
        "and show the words two decodes agree on, so word cues can fire mid-utterance "
        "(real time only)",
    )


def add_tls_options(p: argparse.ArgumentParser) -> None:
    """--tls-cert/--tls-key/--insecure: how the overlay may be served beyond loopback."""
    p.add_argument("--tls-cert", metavar="PEM", help="serve the overlay over https/wss")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain http beyond loopback (tokens travel in clear)",
    )


def with_tls_options(config: Any, args: argparse.Namespace) -> Any:
    """The [overlay] config with the TLS options of the command line applied over it."""
    changes: dict[str, Any] = {}
    if args.tls_cert is not None or args.tls_key is not None:
        changes.update(tls_cert=args.tls_cert or "", tls_key=args.tls_key or "")
    if args.insecure:
        changes["insecure"] = True
    return dataclasses.replace(config, **changes) if changes else config


def overlay_config(path: str | None) -> OverlayConfig:
    """The overlay settings from the [overlay] table of a TOML config file (defaults without)."""
    from assist.core.tables import table_of
    from assist.runtime.config import read_config
    from overlay.auth import OverlayConfig

    if path is None:
        return OverlayConfig()
    doc = read_config(path)
    try:
        return OverlayConfig.from_table(table_of(doc, "overlay"))
    except ConfigError as exc:
        raise exc.in_file(path) from None
