"""`assist console --config FILE`: the supervisor console for a whole floor, read from Redis."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from assist.commands.stopping import StopSignals
from assist.core.errors import ConfigError, InputError
from assist.core.tables import check_tables, table_of
from assist.runtime.config import read_config


def register(sub: Any) -> None:
    p = sub.add_parser(
        "console",
        help="serve the supervisor console for every plugin on the floor (from Redis)",
        description="Read every agent's calls from the [fleet] Redis and serve the supervisor "
        "console ([overlay] host, port and supervisor tokens). No audio is handled here.",
    )
    p.add_argument(
        "--config", metavar="FILE", required=True, help="TOML config ([fleet], [overlay])"
    )
    p.add_argument("--host", help="bind address (default: [overlay] host, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: [overlay] port; 0 = any free port)")
    p.add_argument(
        "--duration", type=float, metavar="S", help="quit after S seconds (scripts, tests)"
    )
    p.set_defaults(run=run)


TABLES = ("fleet", "overlay", "sip")  # what `assist console --config` reads


def run(args: argparse.Namespace) -> int:
    from fleet.config import fleet_table
    from fleet.connect import first_contact
    from fleet.console import FloorConsole
    from overlay.auth import OverlayConfig

    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    doc = read_config(args.config)
    try:
        check_tables(doc, TABLES)
        fleet = fleet_table(doc, args.config)
        if fleet is None:
            raise ConfigError("missing [fleet] table (the floor's Redis url)", key="fleet")
        overlay = OverlayConfig.from_table(table_of(doc, "overlay"))
        # a mistake (TLS mismatch, bad password) stops here; Redis away is retried
        first_contact(fleet, name="assist-console")
    except ConfigError as exc:
        raise exc.in_file(args.config) from None

    def say(line: str) -> None:
        print(f"assist: {line}", file=sys.stderr, flush=True)

    console = FloorConsole(fleet, overlay, host=args.host, port=args.port, notify=say)

    def failed(line: str) -> None:  # the loop below then stops the console: exit 1
        print(f"assist: error: {line}; the console stops", file=sys.stderr, flush=True)

    console.failed = failed
    console.start()
    # in place before the line that invites Ctrl-C (a SIGINT that came ignored is lost before)
    signals = StopSignals().install()  # Ctrl-C too, even if it came ignored (stopping.py)
    print(f"Supervisor: {console.server.supervisor_url()}", file=sys.stderr, flush=True)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while not signals.event.wait(0.2):
            if console.died is not None:
                return 1  # said when it happened
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:  # only if something put back Python's own SIGINT handler
        return 130
    finally:
        signals.restore()
        console.stop()
    return 130 if signals.interrupted else 0
