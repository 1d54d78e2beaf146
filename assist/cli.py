"""The `assist` command line. Each subcommand lives in its own module under assist/commands/.

Every AssistError becomes one line on stderr and its exit code (2 for bad input); nothing
below the CLI prints tracebacks for user mistakes. A library's Python warning is one line that
names the library, never the multi-line source dump Python prints by default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from assist import __version__
from assist.core.errors import AssistError

COMMANDS = ("demo", "eval", "schema", "calls", "report", "models", "sip", "srs", "console")


class Parser(argparse.ArgumentParser):
    """Usage errors are one line too (`assist: error: ...`, exit 2); `-h` shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"assist: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="assist", description="Real-time coaching for call-centre agents.")
    parser.add_argument("--version", action="version", version=f"softphone-assist {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for name in COMMANDS:
        importlib.import_module(f"assist.commands.{name}").register(sub)
    return parser


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` for the CLI: `assist: warning: LIBRARY: message`, one line."""
    parts = Path(filename).parts
    origin = (
        parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(filename).stem
    )
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    print(f"assist: warning: {origin} ({category.__name__}): {text}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except AssistError as exc:
        print(f"assist: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("assist: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
