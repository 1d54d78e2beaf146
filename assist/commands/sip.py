"""`assist sip --config FILE`: the SIP softphone with live coaching; `assist sip call URI`."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from assist.commands.calls import add_store_options
from assist.commands.stopping import StopSignals
from assist.commands.wiring import (
    CallWiring,
    add_live_words_option,
    add_tls_options,
    with_tls_options,
)
from assist.core.errors import AssistError, ConfigError, InputError, ServiceError
from assist.core.events import Error, Event
from assist.core.session import CallSession
from assist.runtime.asr_worker import CallAsr
from assist.runtime.control import ControlError
from assist.runtime.models import ASR_CHOICES, select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner
from assist.runtime.terminal import TerminalSink
from sip.config import load_settings

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
    add_service_options(p)
    add_live_words_option(p)
    p.set_defaults(run=run)


def add_service_options(p: argparse.ArgumentParser) -> None:
    """The options `sip` and `srs` share: outputs, overlay, language and rules, speech, store."""
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


class CallFailed(AssistError):
    """`sip call URI` did not connect (busy, no answer, unreachable): exit 1."""


def _check_uris(settings: Any, overlay_cfg: Any) -> None:
    """Every URI of the config dialled on this transport, checked before pjsua2 sees any (the
    [sip] table checked their syntax; ConfigError: exit 2)."""
    from sip.uri import UriError, dial_uri

    sip = settings.sip
    try:
        if sip.registrar:
            dial_uri(sip.registrar, sip.transport)
    except UriError as exc:
        raise ConfigError(str(exc), key="sip.registrar") from None
    for i, sup in enumerate(overlay_cfg.supervisors):
        if sup.sip:
            try:
                dial_uri(sup.sip, sip.transport)
            except UriError as exc:
                raise ConfigError(str(exc), key=f"overlay.supervisor[{i}].sip") from None


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
        raise exc.in_file(args.config) from None
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

    def say(line: str) -> None:
        print(f"assist: sip: {line}", file=sys.stderr, flush=True)

    book = CallBook(outcomes=args.action == "call")
    wiring = CallWiring()
    calls = PhoneCalls(
        wiring,
        book,
        pack=pack,
        speech=speech,
        source="sip",
        agent=agent_name,
        live_words=args.live_words,
    )

    def registration(state: str, message: str) -> None:
        """The account's registration changed (any thread): both overlay pages show it."""
        if wiring.server is not None:
            wiring.server.set_phone(cast("RegistrationState", state), message)

    phone = Softphone(
        settings.sip,
        new_runner=calls.new_runner,
        end_runner=calls.end_runner,
        notify=say,
        ended=book.ended,
        trouble=calls.trouble,
        registration=registration,
        log_level=settings.sip.log_level,
        log_file=settings.sip.log_file,
        role="call" if args.action == "call" else "phone",  # `sip call` never registers
    )
    # SIGTERM from here on ends the phone in order, even before the URLs are printed
    signals = StopSignals().install()  # Ctrl-C too, even if it came ignored (stopping.py)
    stop = signals.event
    code = 0
    try:
        with wiring:
            wiring.open_events(args.events, reserve_stdout=True)
            wiring.open_store(args)
            calls.agent = wiring.start_fleet(
                args.config, agent=agent_name, control=SipControl(phone)
            )
            if not args.no_server:
                wiring.start_overlay(
                    overlay_cfg,
                    control=SipControl(phone),
                    agent=calls.agent,
                    then="the agent cannot see prompts or answer: the phone stops",
                )
            # This was the clicks mitigation while the analysis taps were Python on pjmedia's
            # clock thread; the taps are C now (sip/tap.py) and the clock no longer waits for
            # the GIL (benchmarks/sip_clock.py). Kept for now: shorter GIL turns for the SIP
            # and tap reader threads (not measured either way).
            sys.setswitchinterval(GIL_SWITCH_S)
            try:
                phone.start()
                say(
                    f"listening on {settings.sip.transport} port {phone.port} as {settings.sip.uri}"
                )
                placed = ""
                if args.action == "call":
                    try:
                        placed = phone.dial(args.uri)
                    except DialFailed as exc:  # a call that failed, like one the callee refused
                        raise CallFailed(f"the call to {args.uri} failed: {exc.reason}") from None
                    except ControlError as exc:
                        raise ServiceError(str(exc)) from None
                deadline = None if args.duration is None else time.monotonic() + args.duration
                while not stop.wait(0.1):
                    check_pump(phone.pump)
                    if check_parts(phone, wiring):
                        code = 1  # said when it happened
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
            finally:
                phone.stop()
                book.join(ASR_CLOSE_S + FINISH_TIMEOUT_S)
    except KeyboardInterrupt:  # only if something put back Python's own SIGINT handler
        code = 130
    finally:
        signals.restore()
    return code


def check_pump(pump: Any) -> None:
    """The SIP thread died: every call is lost, the command exits non-zero."""
    if not pump.alive:
        why = pump.died
        detail = f": {type(why).__name__}: {why}" if why is not None else ""
        raise AssistError(f"the SIP thread stopped{detail}; every call is lost")


def check_parts(phone: Any, wiring: CallWiring) -> bool:
    """Whether a part without which the phone must not go on has died: the tap reader (no
    call would be analysed) or the overlay server (the agent sees nothing). The store and the
    floor are not among them: calls go on unrecorded or off the floor."""
    died = phone.tap_reader.died
    if died is not None:  # the reader said why on its own line
        reason = f"the call audio reader stopped ({died!r})"
        wiring.failures.part("taps", reason, then="the phone stops", said=True)
    return "taps" in wiring.failures.parts or "overlay" in wiring.failures.parts


class PhoneCalls:
    """How a SIP command builds and ends its calls' analysis (shared by `sip` and `srs`):
    `new_runner` off the SIP thread, `end_runner` on it (the closing is done elsewhere, so
    SIP never waits for ASR)."""

    def __init__(
        self,
        wiring: CallWiring,
        book: CallBook,
        *,
        pack: Any,
        speech: Any,
        source: str,
        agent: str,
        live_words: bool = False,
    ) -> None:
        self.live_words = live_words
        self.wiring = wiring
        self.book = book
        self.pack = pack
        self.speech = speech
        self.source = source
        self.agent = agent
        self.asrs: dict[str, CallAsr] = {}
        self._seq = itertools.count()

    def new_runner(self, call_id: str, direction: str, remote: str) -> CallRunner:
        session = CallSession(
            call_id,
            pack=self.pack,
            source=self.source,
            agent=self.agent,
            remote=remote,
            asr=self.speech.label,
        )
        return self.start(session)

    def start(self, session: CallSession) -> CallRunner:
        sinks, _ = self.wiring.sinks(session.call_id)
        if sys.stderr.isatty():  # a person is watching: each prompt as it fires, per call
            sinks.append(TerminalSink(sys.stderr, show_call=True))
        runner = CallRunner(session, sinks)
        if self.speech.label:
            self.asrs[session.call_id] = CallAsr(
                runner, self.speech.engine, second=self.speech.second, live_words=self.live_words
            )
        self.wiring.registry.add(runner.start())
        return runner

    def close(self, runner: CallRunner, reason: str) -> None:
        call_id = runner.session.call_id
        asr = self.asrs.pop(call_id, None)
        if asr is not None:  # the last words, then the call ends
            asr.close(until=None, timeout=ASR_CLOSE_S)
        runner.finish(reason, timeout=FINISH_TIMEOUT_S)
        self.wiring.registry.remove(call_id)
        if not runner.alive:
            self.wiring.outcome(runner)  # what its error lines could not say; the phone goes on

    def end_runner(self, runner: CallRunner, reason: str) -> None:
        """Called on the SIP thread: finish the call elsewhere so SIP never waits for ASR."""
        t = threading.Thread(target=self.close, args=(runner, reason), name="call-end", daemon=True)
        self.book.closing(t)

    def trouble(self, message: str, source: str = "registration") -> None:
        """A phone-level problem: an `error` event with no call (call_id "") on the --events
        stream; any thread."""
        data = Error(source=source, message=message, recoverable=True)
        self.wiring.note(Event(call_id="", seq=next(self._seq), t=0.0, data=data))


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
