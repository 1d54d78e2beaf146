"""`assist demo`: play a recorded call (or the bundled one) through the whole pipeline."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any

from assist.commands.calls import add_store_options
from assist.commands.stopping import StopSignals
from assist.commands.wiring import (
    CallWiring,
    add_live_words_option,
    add_tls_options,
    overlay_config,
    with_tls_options,
)
from assist.core.audio import FRAME_SAMPLES
from assist.core.errors import AudioFileError, InputError
from assist.core.pack import RulePack
from assist.core.session import CallSession
from assist.runtime.asr_worker import CallAsr
from assist.runtime.control import DemoControl
from assist.runtime.demo import bundled_call, play
from assist.runtime.models import ASR_CHOICES, select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner
from assist.runtime.terminal import TerminalSink, next_step
from assist.runtime.wavio import load_call


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="play a recorded call (stereo WAV: agent, customer) through the assistant",
        description="Play a call from WAV files as if it were live. With no file, plays the "
        "bundled demo call. Serves the overlay unless --no-server.",
    )
    p.add_argument("call", nargs="?", help="stereo WAV: channel 0 agent, channel 1 customer")
    p.add_argument("--agent", metavar="A.wav", help="agent's audio as its own file")
    p.add_argument("--customer", metavar="B.wav", help="customer's audio as its own file")
    p.add_argument(
        "--agent-channel",
        type=int,
        default=0,
        choices=(0, 1),
        help="which channel of CALL is the agent (default 0)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--fast", action="store_true", help="as fast as possible (progress bar)")
    pace.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="playback speed as a multiple of real time (default 1)",
    )
    p.add_argument("--events", metavar="FILE|-", help="write every event as JSON lines")
    p.add_argument("--no-server", action="store_true", help="do not serve the overlay")
    after = p.add_mutually_exclusive_group()
    after.add_argument(
        "--linger",
        action="store_true",
        help="keep serving the pages after the call ends, until Ctrl-C (the default on a terminal)",
    )
    after.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop the server as soon as the call ends (the default when stderr is not a "
        "terminal; for scripts)",
    )
    p.add_argument("--host", default="127.0.0.1", help="overlay bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="overlay port (0 = any free port)")
    p.add_argument(
        "--lang",
        choices=("en", "zh"),
        default="en",
        help="the call's language: rule pack, speech model and the pages' language (default en)",
    )
    add_tls_options(p)
    p.add_argument("--rules", metavar="FILE", help="rule pack TOML overriding the built-in one")
    p.add_argument("--call-id", help="call id for the events (default: generated)")
    p.add_argument(
        "--asr",
        choices=ASR_CHOICES,
        default="auto",
        help="speech engines for word cues: auto = a streaming first pass (a Vosk model for "
        "the language, else PocketSphinx for English) with Whisper finals when a Whisper model "
        "serves the language; whisper = Whisper alone; vosk / sphinx = that engine alone "
        "(default auto)",
    )
    p.add_argument("--model", metavar="DIR", help="Vosk model folder for the first pass")
    add_live_words_option(p)
    add_store_options(p, recording=True)
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config; its [overlay] table sets host, port, origins and tokens",
    )
    p.set_defaults(run=run)


def load_rules(args: argparse.Namespace) -> RulePack:
    return load_pack(args.rules) if args.rules else default_pack(args.lang)


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        raise InputError("--speed must be greater than 0")
    if not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    if args.call and (args.agent or args.customer):
        raise InputError("give either CALL.wav or --agent/--customer, not both")
    pack = load_rules(args)
    if args.call or args.agent or args.customer:
        agent, customer, infos = load_call(
            args.call, agent=args.agent, customer=args.customer, agent_channel=args.agent_channel
        )
    else:
        try:
            path = bundled_call(args.lang)
        except FileNotFoundError as exc:
            raise AudioFileError("<bundled demo call>", str(exc)) from None
        agent, customer, infos = load_call(path)
    for info in infos:
        if info.truncated:
            print(
                f"assist: warning: {info.path}: file is truncated; playing the "
                f"{info.frames / info.sample_rate:.1f} s that are there",
                file=sys.stderr,
            )

    speech = select_engine(pack.lang, args.asr, args.model)
    call_id = args.call_id or f"demo-{uuid.uuid4().hex[:8]}"
    # Ctrl-C / SIGTERM only set `stop`: the call then ends in order wherever the main thread
    # was, instead of a KeyboardInterrupt landing in the middle of the shutdown below.
    signals = StopSignals().install()
    try:
        with CallWiring() as wiring:
            return _play(args, wiring, signals, pack, speech, call_id, agent, customer)
    finally:
        signals.restore()


def _play(
    args: argparse.Namespace,
    wiring: CallWiring,
    signals: StopSignals,
    pack: RulePack,
    speech: Any,
    call_id: str,
    agent: Any,
    customer: Any,
) -> int:
    """Open the outputs in order, play the call, close them (the caller's `with` closes what
    was opened if anything here fails)."""
    wiring.open_events(args.events)
    wiring.open_store(args)
    agent_name = wiring.start_fleet(args.config, agent="demo-agent", control=DemoControl())
    config = with_tls_options(overlay_config(args.config), args)  # checked even --no-server
    if not args.no_server:
        agent_name = config.agents[0].name if config.agents else agent_name
        host = args.host if args.host != "127.0.0.1" or args.config is None else None
        port = args.port if args.port != 8765 or args.config is None else None
        wiring.start_overlay(config, control=DemoControl(), agent=agent_name, host=host, port=port)
    print(speech.message, file=sys.stderr)
    engine = speech.engine
    asr_label = speech.label
    session = CallSession(call_id, pack=pack, source="demo", agent=agent_name, asr=asr_label)
    sinks, store_sink = wiring.sinks(call_id, fast=args.fast)
    on_terminal = sys.stderr.isatty()  # a person is watching: say what happens, keep pages up
    if on_terminal:
        sinks.append(TerminalSink(sys.stderr))
    runner = CallRunner(session, sinks, block=args.fast)
    asr = (
        None
        if not asr_label
        else CallAsr(runner, engine, second=speech.second, live_words=args.live_words)
    )
    runner.start()
    wiring.registry.add(runner)
    progress = _progress(args.fast, len(agent))
    pushed = None
    stop = signals.event
    try:
        pushed = play(
            agent,
            customer,
            runner,
            speed=None if args.fast else args.speed,
            on_frame=progress,
            stop=stop,
        )
    finally:
        reason = "interrupted" if stop.is_set() else "completed"
        try:
            if asr is not None:  # the last words, then the call ends
                asr.close(until=None if pushed is None else pushed * FRAME_SAMPLES, timeout=30)
        finally:
            runner.finish(reason)
            wiring.registry.remove(call_id)
            if progress is not None:
                progress.close()
    wiring.finish(store_sink)
    if store_sink is not None and wiring.store is not None and wiring.store.error is None:
        print(next_step(call_id, args.store), file=sys.stderr)
    if wiring.outcome(runner):  # sinks detached mid-call said so then
        return 1
    if wiring.server is not None:
        linger = args.linger or (on_terminal and not args.exit_when_done)
        if linger and reason == "completed":
            signals.restore()
            with StopSignals() as lingering:  # in place before the line that invites Ctrl-C
                print("Call ended. The pages stay up; Ctrl-C to quit.", file=sys.stderr)
                lingering.wait()
        time.sleep(0.2)  # let the last events reach connected clients
        wiring.close()
        if not linger:
            print("Call ended; pages closed (pass --linger to keep them up).", file=sys.stderr)
    if reason == "interrupted":
        return 130
    return 1 if wiring.failures.parts else 0  # a part that died said so when it did


class _Bar:
    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="s",
            unit_scale=0.02,
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{rate_fmt}]",
        )
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if done - self.done >= 50 or done == total:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        self.bar.close()


def _progress(fast: bool, samples: int) -> _Bar | None:
    if not fast or not sys.stderr.isatty():
        return None
    return _Bar(-(-samples // 320))
