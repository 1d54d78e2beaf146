"""`assist srs --config FILE`: the SIPREC recording server; each session a coached call.

An SBC or PBX (the recording client) sends every call it records here (RFC 7866); each
session becomes a call with the same events, rules, store, overlay and floor as `assist sip`.
The agent's stream and AoR come from the session's metadata (sip/siprec.py); the overlay
agent whose `aors` match a participant's AoR is the call's agent (their page shows it, no
other agent's does). docs/siprec.md says how to point a client at it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

from assist.commands.sip import (
    ASR_CLOSE_S,
    FINISH_TIMEOUT_S,
    CallBook,
    PhoneCalls,
    add_service_options,
    check_pump,
)
from assist.commands.stopping import StopSignals
from assist.commands.wiring import CallWiring, with_tls_options
from assist.core.errors import ConfigError, InputError
from assist.core.events import Recording
from assist.core.session import CallSession
from assist.core.tables import table_of
from assist.runtime.config import read_config
from assist.runtime.control import ControlError, SuperviseMode
from assist.runtime.models import select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner
from sip.srs_config import srs_table

if TYPE_CHECKING:
    from overlay.auth import OverlayConfig
    from sip.recorder import SessionInfo

UNASSIGNED = "(no agent)"  # a recorded call no agent token is bound to: supervisors only


def register(sub: Any) -> None:
    p = sub.add_parser(
        "srs",
        help="run the SIPREC recording server: coach the calls an SBC or PBX records",
        description="Accept SIPREC recording sessions (RFC 7866) from an SBC or PBX, analyse "
        "both streams of every session and serve the overlay. See docs/siprec.md.",
    )
    p.add_argument("--config", metavar="FILE", required=True, help="TOML config ([srs], ...)")
    add_service_options(p)
    p.set_defaults(run=run)


class Supervising(Protocol):
    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str: ...


class SrsControl:
    """Call control on recorded calls: SIPREC gives a copy of the audio, no leg into the call.
    Listen works (the recording server calls the supervisor's phone and plays both recorded
    streams to it); whisper, barge, answer, dial and hang-up cannot, and say so."""

    telephony = False

    def __init__(self, server: Supervising | None = None) -> None:
        self.server = server

    def supervise(self, call_id: str, mode: SuperviseMode, supervisor: str, name: str) -> str:
        if mode in ("whisper", "barge") or self.server is None:
            if mode == "off":
                return f"{call_id}: no supervisor connected"
            raise ControlError(
                f"{mode} is not available on a recorded (SIPREC) call: the recording server "
                "gets a copy of the audio and has no leg into the call"
                + (" (listen works)" if self.server is not None else "")
            )
        return self.server.supervise(call_id, mode, supervisor, name)

    def _no(self) -> str:
        raise ControlError("not available on recorded (SIPREC) calls")

    def answer(self, call_id: str) -> str:
        return self._no()

    def dial(self, uri: str) -> str:
        return self._no()

    def hangup(self, call_id: str) -> str:
        return self._no()


def agent_for(overlay: OverlayConfig, aors: list[str]) -> str:
    """The overlay agent whose `aors` patterns match the first AoR that any matches (the
    agent's own AoR is tried first), else UNASSIGNED."""
    from sip.siprec import aor_matches

    for aor in aors:
        for p in overlay.agents:
            if p.aors and aor and aor_matches(aor, p.aors):
                return p.name
    return UNASSIGNED


def recording_event(
    info: SessionInfo, *, update: bool = False, agent: str = "", paused: bool = False
) -> Recording:
    choice = info.choice
    return Recording(
        agent_aor=choice.agent_aor,
        customer_aor=choice.customer_aor,
        by="stream_order" if choice.fallback else "metadata",
        note=choice.fallback,
        session_id=info.session_id,
        participants=info.participants,
        update=update,
        agent=agent,
        paused=paused,
    )


def floor_name(port: int, host: str | None = None, pid: int | None = None) -> str:
    """This recording server's name on the floor when `[fleet] agent` is not set: one per
    server (host and SIP port; the pid when the port is chosen by the OS), so several servers
    with one config never share a heartbeat or a command stream."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", host or socket.gethostname())[:40]
    which = str(port) if port else f"pid{os.getpid() if pid is None else pid}"
    return f"srs-{host}-{which}"


def session_agent(overlay: OverlayConfig, info: SessionInfo) -> str:
    """The overlay agent a recorded call is bound to: the agent's AoR first, then any
    other participant's."""
    return agent_for(overlay, [info.choice.agent_aor, *info.participants])


def run(args: argparse.Namespace) -> int:
    from overlay.auth import OverlayConfig
    from sip.recorder import RecordingServer

    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    doc = read_config(args.config)
    cfg = srs_table(doc, args.config)
    try:
        overlay_cfg = with_tls_options(OverlayConfig.from_table(table_of(doc, "overlay")), args)
    except ConfigError as exc:
        raise exc.in_file(args.config) from None
    if args.port is not None:
        overlay_cfg = dataclasses.replace(overlay_cfg, port=args.port)
    pack = load_pack(args.rules) if args.rules else default_pack(args.lang)
    speech = select_engine(pack.lang, args.asr, args.model)
    print(speech.message, file=sys.stderr)

    def say(line: str) -> None:
        print(f"assist: srs: {line}", file=sys.stderr, flush=True)

    book = CallBook(outcomes=False)
    wiring = CallWiring()
    calls = PhoneCalls(wiring, book, pack=pack, speech=speech, source="srs", agent=UNASSIGNED)

    def new_runner(info: SessionInfo) -> CallRunner:
        """Off the SIP thread: the call's analysis, its agent named by the metadata."""
        choice = info.choice
        agent = session_agent(overlay_cfg, info)
        session = CallSession(
            info.call_id,
            pack=pack,
            source="srs",
            agent=agent,
            remote=choice.customer_aor or info.remote,
            asr=speech.label,
        )
        runner = calls.start(session)
        event = recording_event(info, agent=agent)
        runner.submit(lambda s: s.note(event))
        if choice.fallback:
            say(f"{info.call_id}: agent stream by order ({choice.fallback})")
        return runner

    def updated(runner: CallRunner, info: SessionInfo, paused: bool) -> None:
        """New metadata or a pause/resume mid-call (SIP thread): a `recording` event with
        `update`; its `agent` moves the call to the agent now in it (their page sees it)."""
        agent = session_agent(overlay_cfg, info)
        event = recording_event(info, update=True, agent=agent, paused=paused)
        runner.submit(lambda s: s.note(event))

    def refused(line: str) -> None:
        """Sessions we could not take (the first of a kind, or a count of them: sip/refusals.py):
        an `error` event with no call (call_id "")."""
        calls.trouble(line, source="srs")

    server = RecordingServer(
        cfg,
        new_runner=new_runner,
        end_runner=calls.end_runner,
        notify=say,
        refused=refused,
        updated=updated,
        log_level=cfg.log_level,
        log_file=cfg.log_file,
    )
    signals = StopSignals().install()
    stop = signals.event
    code = 0
    try:
        with wiring:
            wiring.open_events(args.events, reserve_stdout=True)
            wiring.open_store(args)
            control = SrsControl(server)
            wiring.start_fleet(
                args.config, agent=floor_name(cfg.port), control=control, server=True
            )
            if not args.no_server:
                first = overlay_cfg.agents[0].name if overlay_cfg.agents else "agent"
                wiring.start_overlay(overlay_cfg, control=control, agent=first)
            try:
                server.start()
                say(
                    f"recording server listening on {cfg.transport} port {server.port}"
                    f" (at most {server.max_sessions}"
                    f" session{'' if server.max_sessions == 1 else 's'})"
                )
                deadline = None if args.duration is None else time.monotonic() + args.duration
                while not stop.wait(0.1):
                    check_pump(server.pump)
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                if signals.interrupted:
                    code = 130
            finally:
                server.stop()
                book.join(ASR_CLOSE_S + FINISH_TIMEOUT_S)
    except KeyboardInterrupt:
        code = 130
    finally:
        signals.restore()
    return code
