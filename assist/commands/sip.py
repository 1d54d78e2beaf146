"""`assist sip --config FILE`: the SIP softphone with live coaching; `assist sip call URI`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from assist.commands.calls import add_store_options, finish_store, open_store, store_sink_for
from assist.commands.fleet_link import start_fleet, stop_fleet
from assist.core.errors import ConfigError, InputError, ServiceError
from assist.core.session import CallSession
from assist.runtime.asr_worker import CallAsr
from assist.runtime.config import load_settings
from assist.runtime.control import CallRegistry, ControlError
from assist.runtime.models import select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner, JsonlSink, Sink

FINISH_TIMEOUT_S = 5.0
ASR_CLOSE_S = 3.0  # at a call's end, wait this long for the last words


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
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language (rule pack)")
    p.add_argument("--rules", metavar="FILE", help="rule pack TOML overriding the built-in one")
    p.add_argument(
        "--asr",
        choices=("auto", "vosk", "sphinx", "off"),
        default="auto",
        help="speech engine for word cues (as for `assist demo`; default auto)",
    )
    p.add_argument("--model", metavar="DIR", help="Vosk model folder to use (overrides --asr)")
    p.add_argument(
        "--duration", type=float, metavar="S", help="quit after S seconds (scripts, tests)"
    )
    add_store_options(p, recording=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from overlay.auth import OverlayConfig
    from sip.control import SipControl
    from sip.phone import Softphone

    if args.action == "call" and not args.uri:
        raise InputError("sip call: give the SIP URI to call")
    if args.action is None and args.uri:
        raise InputError(f"unexpected argument {args.uri!r} (did you mean `sip call URI`?)")
    settings = load_settings(args.config)
    try:
        overlay_cfg = OverlayConfig.from_table(settings.overlay)
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    pack = load_pack(args.rules) if args.rules else default_pack(args.lang)
    agent_name = overlay_cfg.agents[0].name if overlay_cfg.agents else "agent"
    speech = select_engine(pack.lang, args.asr, args.model)
    print(speech.message, file=sys.stderr)
    engine = speech.engine
    asr_label = "" if engine is None else engine.name + (" (fallback)" if engine.fallback else "")
    asrs: dict[str, CallAsr] = {}
    closers: list[threading.Thread] = []

    shared: list[Sink] = []
    if args.events:
        try:
            shared.append(_Shared(JsonlSink(args.events)))
        except OSError as exc:
            raise InputError(f"{args.events}: cannot write events ({exc.strerror})") from None
    store = open_store(args)
    registry = CallRegistry()
    server = None
    ended: list[str] = []
    lock = threading.Lock()

    def say(line: str) -> None:
        print(f"assist: sip: {line}", file=sys.stderr, flush=True)

    def new_runner(call_id: str, direction: str, remote: str) -> CallRunner:
        session = CallSession(
            call_id, pack=pack, source="sip", agent=agent_name, remote=remote, asr=asr_label
        )
        sinks = list(shared)
        if fleet is not None:
            sinks.append(fleet.sink())
        if server is not None:
            sinks.append(HubSink(server))
        store_sink = store_sink_for(store, call_id, fast=False)
        if store_sink is not None:
            sinks.append(store_sink)
        runner = CallRunner(session, sinks)
        if engine is not None:
            asrs[call_id] = CallAsr(runner, engine)
        registry.add(runner.start())
        return runner

    def close(runner: CallRunner, reason: str) -> None:
        call_id = runner.session.call_id
        asr = asrs.pop(call_id, None)
        if asr is not None:  # the last words, then the call ends
            asr.close(until=None, timeout=ASR_CLOSE_S)
        runner.finish(reason, timeout=FINISH_TIMEOUT_S)
        registry.remove(call_id)
        with lock:
            ended.append(call_id)

    def end_runner(runner: CallRunner, reason: str) -> None:
        """Called on the SIP thread: finish the call elsewhere so SIP never waits for ASR."""
        t = threading.Thread(target=close, args=(runner, reason), name="call-end", daemon=True)
        closers.append(t)
        t.start()

    phone = Softphone(settings.sip, new_runner=new_runner, end_runner=end_runner, notify=say)
    fleet = start_fleet(args.config, agent=agent_name, registry=registry, control=SipControl(phone))
    agent_name = fleet.agent if fleet is not None else agent_name
    if not args.no_server:
        from overlay.server import HubSink, OverlayServer

        server = OverlayServer(
            config=overlay_cfg, registry=registry, control=SipControl(phone), agent=agent_name
        ).start()
        print(f"Overlay: {server.agent_url(agent_name)}", file=sys.stderr)
        print(f"Supervisor: {server.supervisor_url()}", file=sys.stderr)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code = 0
    try:
        phone.start()
        say(f"listening on {settings.sip.transport} port {phone.port} as {settings.sip.uri}")
        placed = ""
        if args.action == "call":
            try:
                placed = phone.dial(args.uri)
            except ControlError as exc:
                raise ServiceError(str(exc)) from None
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stop.wait(0.1):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if placed:
                with lock:
                    if placed in ended:
                        break
    except KeyboardInterrupt:
        code = 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        phone.stop()
        for t in closers:
            t.join(ASR_CLOSE_S + FINISH_TIMEOUT_S)
        for s in shared:
            s.close_now()  # type: ignore[attr-defined]
        finish_store(store, None)
        stop_fleet(fleet)
        if server is not None:
            server.stop()
    return code


class _Shared:
    """One JSONL file for every call: closing a call's runner must not close the file."""

    def __init__(self, sink: JsonlSink) -> None:
        self.sink = sink

    def send(self, event: Any) -> None:
        self.sink.send(event)

    def close(self) -> None:
        pass

    def close_now(self) -> None:
        self.sink.close()
