"""`assist sip --config FILE`: the SIP softphone with live coaching; `assist sip call URI`."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, cast

from assist.commands.calls import add_store_options, finish_store, open_store, store_sink_for
from assist.commands.demo import add_tls_options, with_tls_options
from assist.commands.failures import ErrorLines, Failures, call_outcome
from assist.commands.fleet_link import start_fleet, stop_fleet
from assist.commands.stopping import StopSignals
from assist.core.errors import AssistError, ConfigError, InputError, ServiceError
from assist.core.events import Error, Event
from assist.core.session import CallSession
from assist.runtime.asr_worker import CallAsr
from assist.runtime.config import load_settings
from assist.runtime.control import CallRegistry, ControlError
from assist.runtime.models import ASR_CHOICES, select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner, JsonlSink, Sink

if TYPE_CHECKING:
    from overlay.protocol import RegistrationState

FINISH_TIMEOUT_S = 5.0
ASR_CLOSE_S = 3.0  # at a call's end, wait this long for the last words
GIL_SWITCH_S = 0.001  # Python's default is 5 ms (see the comment where it is set)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sip",
        help="run the SIP softphone with live coaching (or `sip call URI` to place a call)",
        description="Register the [sip] account of --config, answer and place calls, analyse "
        "both directions of every call and serve the overlay.",
    )
    p.add_argument("action", nargs="?", choices=("call",), help="`call URI`: place a call")
    p.add_argument("uri", nargs="?", help="SIP URI to call (with `call`)")
    p.add_argument("--config", metavar="FILE", required=True, help="TOML config ([sip], [overlay])")
    p.add_argument("--events", metavar="FILE|-", help="write every event as JSON lines")
    p.add_argument("--no-server", action="store_true", help="do not serve the overlay")
    add_tls_options(p)
    p.add_argument(
        "--port", type=int, metavar="N", help="overlay port (0 = any free port; default: config)"
    )
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language (rule pack)")
    p.add_argument("--rules", metavar="FILE", help="rule pack TOML overriding the built-in one")
    p.add_argument(
        "--asr",
        choices=ASR_CHOICES,
        default="auto",
        help="speech engine for word cues (as for `assist demo`; default auto)",
    )
    p.add_argument("--model", metavar="DIR", help="Vosk model folder for the first pass")
    p.add_argument(
        "--duration", type=float, metavar="S", help="quit after S seconds (scripts, tests)"
    )
    add_store_options(p, recording=True)
    p.set_defaults(run=run)


class CallFailed(AssistError):
    """`sip call URI` did not connect (busy, no answer, unreachable): exit 1."""


def _check_uris(settings: Any, overlay_cfg: Any) -> None:
    """Every URI of the config, checked before pjsua2 sees any (ConfigError: exit 2)."""
    from sip.uri import UriError, check_uri, dial_uri

    sip = settings.sip
    try:
        check_uri(sip.uri)
        if sip.registrar:
            dial_uri(sip.registrar, sip.transport)
    except UriError as exc:
        raise ConfigError(f"sip: {exc}") from None
    for sup in overlay_cfg.supervisors:
        if sup.sip:
            try:
                dial_uri(sup.sip, sip.transport)
            except UriError as exc:
                raise ConfigError(f"overlay.supervisor {sup.name!r}: sip: {exc}") from None


def _reserve_stdout() -> IO[str]:
    """`--events -`: stdout carries JSON lines only. Our own copy of fd 1 gets the events;
    fd 1 itself (where pjlib and any native code print) is pointed at stderr."""
    sys.stdout.flush()
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events


def run(args: argparse.Namespace) -> int:
    from overlay.auth import OverlayConfig
    from sip.control import SipControl
    from sip.phone import DialFailed, Softphone
    from sip.uri import UriError, dial_uri

    if args.action == "call" and not args.uri:
        raise InputError("sip call: give the SIP URI to call")
    if args.action is None and args.uri:
        raise InputError(f"unexpected argument {args.uri!r} (did you mean `sip call URI`?)")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    settings = load_settings(args.config)
    try:
        overlay_cfg = with_tls_options(OverlayConfig.from_table(settings.overlay), args)
        _check_uris(settings, overlay_cfg)
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    if args.port is not None:
        overlay_cfg = dataclasses.replace(overlay_cfg, port=args.port)
    if args.action == "call":
        try:
            dial_uri(args.uri, settings.sip.transport)
        except UriError as exc:
            raise InputError(f"sip call: {exc}") from None
    pack = load_pack(args.rules) if args.rules else default_pack(args.lang)
    agent_name = overlay_cfg.agents[0].name if overlay_cfg.agents else "agent"
    speech = select_engine(pack.lang, args.asr, args.model)
    print(speech.message, file=sys.stderr)
    engine = speech.engine
    asr_label = speech.label
    asrs: dict[str, CallAsr] = {}
    book = CallBook(outcomes=args.action == "call")

    shared: list[Sink] = []
    if args.events:
        target: Any = _reserve_stdout() if args.events == "-" else args.events
        try:
            shared.append(_Shared(JsonlSink(target), own=target if args.events == "-" else None))
        except OSError as exc:
            raise InputError(f"{args.events}: cannot write events ({exc.strerror})") from None
    registry = CallRegistry()
    failures = Failures(registry)
    lines: dict[str, ErrorLines] = {}  # per live call: its error events as stderr lines
    store = open_store(args, failures)
    server = None

    def say(line: str) -> None:
        print(f"assist: sip: {line}", file=sys.stderr, flush=True)

    def new_runner(call_id: str, direction: str, remote: str) -> CallRunner:
        """Off the SIP thread (a set-up thread, or the dialling one)."""
        session = CallSession(
            call_id, pack=pack, source="sip", agent=agent_name, remote=remote, asr=asr_label
        )
        lines[call_id] = ErrorLines(failures)
        sinks: list[Sink] = [lines[call_id], *shared]
        if fleet is not None:
            sinks.append(fleet.sink())
        if server is not None:
            sinks.append(HubSink(server))
        store_sink = store_sink_for(store, call_id, fast=False)
        if store_sink is not None:
            sinks.append(store_sink)
        runner = CallRunner(session, sinks)
        if asr_label:
            asrs[call_id] = CallAsr(runner, engine, second=speech.second)
        registry.add(runner.start())
        return runner

    def close(runner: CallRunner, reason: str) -> None:
        call_id = runner.session.call_id
        asr = asrs.pop(call_id, None)
        if asr is not None:  # the last words, then the call ends
            asr.close(until=None, timeout=ASR_CLOSE_S)
        runner.finish(reason, timeout=FINISH_TIMEOUT_S)
        registry.remove(call_id)
        said = lines.pop(call_id, None)
        if said is not None and not runner.alive:
            call_outcome(runner, said)  # its failures; the phone goes on either way

    def end_runner(runner: CallRunner, reason: str) -> None:
        """Called on the SIP thread: finish the call elsewhere so SIP never waits for ASR."""
        t = threading.Thread(target=close, args=(runner, reason), name="call-end", daemon=True)
        book.closing(t)

    phone_seq = itertools.count()

    def trouble(message: str) -> None:
        """A phone-level problem (registration): an `error` event with no call (call_id "")
        on the --events stream; any thread."""
        data = Error(source="registration", message=message, recoverable=True)
        event = Event(call_id="", seq=next(phone_seq), t=0.0, data=data)
        for sink in shared:
            sink.send(event)

    def registration(state: str, message: str) -> None:
        """The account's registration changed (any thread): both overlay pages show it."""
        if server is not None:
            server.set_phone(cast("RegistrationState", state), message)

    phone = Softphone(
        settings.sip,
        new_runner=new_runner,
        end_runner=end_runner,
        notify=say,
        ended=book.ended,
        trouble=trouble,
        registration=registration,
        log_level=settings.sip.log_level,
        log_file=settings.sip.log_file,
    )
    # SIGTERM from here on ends the phone in order, even before the URLs are printed
    signals = StopSignals().install()  # Ctrl-C too, even if it came ignored (stopping.py)
    stop = signals.event
    fleet = start_fleet(
        args.config,
        agent=agent_name,
        registry=registry,
        control=SipControl(phone),
        failures=failures,
    )
    agent_name = fleet.agent if fleet is not None else agent_name
    if not args.no_server:
        from overlay.server import HubSink, OverlayServer

        server = OverlayServer(
            config=overlay_cfg, registry=registry, control=SipControl(phone), agent=agent_name
        )
        failures.overlay(server, then="the agent cannot see prompts or answer: the phone stops")
        server.start()
        print(f"Overlay: {server.agent_url(agent_name)}", file=sys.stderr)
        print(f"Supervisor: {server.supervisor_url()}", file=sys.stderr)
    code = 0
    # This was the clicks mitigation while the analysis taps were Python on pjmedia's clock
    # thread; the taps are C now (sip/tap.py) and the clock no longer waits for the GIL
    # (benchmarks/sip_clock.py). Kept for now: shorter GIL turns for the SIP and tap reader
    # threads (not measured either way).
    sys.setswitchinterval(GIL_SWITCH_S)
    try:
        phone.start()
        say(f"listening on {settings.sip.transport} port {phone.port} as {settings.sip.uri}")
        placed = ""
        if args.action == "call":
            try:
                placed = phone.dial(args.uri)
            except DialFailed as exc:  # a call that failed, like one refused by the callee
                raise CallFailed(f"the call to {args.uri} failed: {exc.reason}") from None
            except ControlError as exc:
                raise ServiceError(str(exc)) from None
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stop.wait(0.1):
            if not phone.pump.alive:
                why = phone.pump.died
                detail = f": {type(why).__name__}: {why}" if why is not None else ""
                raise AssistError(f"the SIP thread stopped{detail}; every call is lost")
            if phone.tap_reader.died is not None:  # it said why; no call is analysed any more
                reason = f"the call audio reader stopped ({phone.tap_reader.died!r})"
                failures.part("taps", reason, then="the phone stops", said=True)
            if "taps" in failures.parts or "overlay" in failures.parts:
                code = 1  # the line was printed when it happened
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if placed:
                outcome = book.outcome(placed)
                if outcome is not None:
                    if outcome[0] == "failed":
                        raise CallFailed(f"the call to {args.uri} failed: {outcome[1]}")
                    break
        if signals.interrupted:
            code = 130
    except KeyboardInterrupt:  # only if something put back Python's own SIGINT handler
        code = 130
    finally:
        signals.restore()
        phone.stop()
        book.join(ASR_CLOSE_S + FINISH_TIMEOUT_S)
        for s in shared:
            s.close_now()  # type: ignore[attr-defined]
        finish_store(store, None)
        stop_fleet(fleet)
        if server is not None:
            server.stop()
    return code


class CallBook:
    """What the command keeps about calls, bounded for a phone that runs for months: the
    threads still finishing calls (finished ones are dropped as new ones start), and, for
    `sip call URI` only, call outcomes until the placed call's id is known, then that one's."""

    def __init__(self, *, outcomes: bool) -> None:
        self.keep = outcomes
        self.closers: list[threading.Thread] = []
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.placed = ""
        self._lock = threading.Lock()

    def closing(self, t: threading.Thread) -> None:
        """Start a call's closer (SIP thread); forget the closers that are done."""
        with self._lock:
            self.closers = [c for c in self.closers if c.is_alive()]
            self.closers.append(t)
        t.start()

    def ended(self, call_id: str, reason: str, outcome: str) -> None:
        """A call ended (SIP thread): kept only while it may be the one `sip call` placed."""
        if not self.keep:
            return
        with self._lock:
            if not self.placed or call_id == self.placed:
                self.outcomes[call_id] = (reason, outcome)

    def outcome(self, placed: str) -> tuple[str, str] | None:
        """The placed call's (reason, outcome) once it ended; drops every other call's."""
        with self._lock:
            self.placed = placed
            got = self.outcomes.get(placed)
            self.outcomes = {placed: got} if got is not None else {}
            return got

    def join(self, timeout: float) -> None:
        with self._lock:
            closers = list(self.closers)
        for t in closers:
            t.join(timeout)


class _Shared:
    """One JSONL file for every call: closing a call's runner must not close the file."""

    name = "JsonlSink"  # as the demo's own sink is named in `error` events

    def __init__(self, sink: JsonlSink, *, own: IO[str] | None = None) -> None:
        self.sink = sink
        self.own = own  # a file object made for it (stdout's reserved copy): closed at the end
        self.failed = False  # a write failed (said then, in that call's error event)

    def send(self, event: Any) -> None:
        try:
            self.sink.send(event)
        except OSError:
            self.failed = True
            raise

    def close(self) -> None:
        pass

    def close_now(self) -> None:
        try:
            self.sink.close()
            if self.own is not None:
                self.own.close()
        except OSError as exc:  # the last flush: a disk that failed before fails again
            if not self.failed:
                print(f"assist: warning: --events: {exc}", file=sys.stderr)
