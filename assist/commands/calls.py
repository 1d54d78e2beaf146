"""`assist calls`: list the stored calls; `assist calls export ID` writes one call as JSON.

Also the `--store` / `--no-store` options and the store wiring other commands share.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assist.core.checklist import score
from assist.core.errors import InputError
from assist.runtime.report import judged
from assist.runtime.store import CallRow, CallStore, StoreSink, default_path

if TYPE_CHECKING:
    from assist.commands.failures import Failures

FAST_WAIT_S = 5.0  # a file played --fast has no real time to keep: wait rather than drop
LIST_LIMIT = 50


def add_store_options(
    p: argparse.ArgumentParser, *, recording: bool = False, nested: bool = False
) -> None:
    """`--store PATH` (and `--no-store` on commands that record). `nested`: on a
    sub-subcommand, where it must not overwrite the value given before the action."""
    p.add_argument(
        "--store",
        metavar="PATH",
        default=argparse.SUPPRESS if nested else None,
        help="call store file (default: $ASSIST_DB, else "
        "$XDG_DATA_HOME/softphone-assist/calls.sqlite3, ~/.local/share/... without it)",
    )
    if recording:
        p.add_argument("--no-store", action="store_true", help="do not record the call")


def store_path(args: argparse.Namespace) -> Path:
    return Path(args.store).expanduser() if getattr(args, "store", None) else default_path()


def open_store(args: argparse.Namespace, failures: Failures) -> CallStore | None:
    """The store a recording command writes to, or None with --no-store. If its writer dies,
    `failures` hears of it at once (a line, an `error` event in each live call)."""
    if getattr(args, "no_store", False):
        return None
    path = store_path(args)

    def failed(exc: BaseException) -> None:
        why = exc if isinstance(exc, sqlite3.Error | OSError) else repr(exc)
        failures.part("store", f"{path}: call store failed: {why}", then="calls go on unrecorded")

    return CallStore(path, failed=failed)


def store_sink_for(store: CallStore | None, call_id: str, *, fast: bool) -> StoreSink | None:
    """The call's sink, or None (with a warning) if that call id is already stored: a replay
    with a fixed --call-id plays as usual but never overwrites the recorded call."""
    if store is None or store.error is not None:  # a failed store was reported when it failed
        return None
    if store.has_call(call_id):
        print(
            f"assist: warning: {store.path}: call {call_id} is already stored; "
            "not recording this run (pass another --call-id)",
            file=sys.stderr,
        )
        return None
    return store.sink(call_id, wait_s=FAST_WAIT_S if fast else 0.0)


def finish_store(store: CallStore | None, sink: StoreSink | None) -> None:
    """Close the store and say where the call went, or what it could not keep."""
    if store is None:
        return
    store.close()
    if sink is None:
        return
    if store.error is not None:  # said when it happened (open_store's `failures`)
        print(f"Stored call {sink.call_id} in {store.path} until the store failed", file=sys.stderr)
        return
    if sink.dropped:
        print(
            f"assist: warning: {store.path}: {sink.dropped} events were not stored "
            "(the disk was too slow)",
            file=sys.stderr,
        )
    print(f"Stored call {sink.call_id} in {store.path}", file=sys.stderr)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "calls",
        help="list stored calls; `calls export ID` writes one as JSON",
        description="List the calls in the call store, newest first.",
    )
    add_store_options(p)
    p.add_argument("-n", "--limit", type=int, default=LIST_LIMIT, help="calls to list (0: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per call")
    p.set_defaults(run=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    e = actions.add_parser(
        "export",
        help="write one call (metadata and every event) as JSON",
        description='Write a stored call as one JSON object: {"call": {...}, "events": [...]}. '
        "ID may be a unique prefix.",
    )
    e.add_argument("call_id", metavar="ID", help="call id (or a unique prefix)")
    e.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    add_store_options(e, nested=True)
    e.set_defaults(run=run_export)


def run_list(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise InputError("--limit must be 0 or more")
    store = CallStore.open_existing(store_path(args))
    try:
        rows = store.calls(limit=args.limit or None)
        scores = {r.call_id: score(judged(store.events(r.call_id), r.lang)) for r in rows}
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps({**row.to_dict(), "score": scores[row.call_id]}, ensure_ascii=False))
        return 0
    print(format_table(rows, scores))
    return 0


def format_table(rows: list[CallRow], scores: dict[str, str] | None = None) -> str:
    """The call list: who (source, language, agent, remote party) next to what happened;
    SCORE is the call-shape checklist (items done / items that applied, `assist report`)."""
    scores = scores or {}
    head = (
        "CALL ID", "STARTED (UTC)", "DURATION", "STATUS", "PROMPTS", "SCORE", "SOURCE", "LANG",
        "AGENT", "REMOTE",
    )  # fmt: skip
    lines = [head]
    for r in rows:
        status = r.status + (" (recovered)" if r.recovered else "")
        if r.events_not_stored:
            status += f" ({r.events_not_stored} events not stored)"
        if r.audio_frames_dropped:
            status += f" ({r.audio_frames_dropped * 0.02:.1f} s audio dropped)"
        duration = r.duration_s if r.duration_s is not None else r.last_t
        lines.append(
            (
                r.call_id,
                r.started_at[:19].replace("T", " "),
                f"{duration:.1f} s",
                status,
                str(r.prompts if r.prompts is not None else "-"),
                scores.get(r.call_id, "-"),
                r.source or "-",
                r.lang or "-",
                r.agent or "-",
                r.remote or "-",
            )
        )
    widths = [max(_width(line[i]) for line in lines) for i in range(len(head))]
    right = {2, 4, 5}
    out = [
        "  ".join(
            _pad(c, w, right=i in right) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    ]
    if not rows:
        out.append("(no calls stored yet)")
    return "\n".join(out)


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: CJK characters (a Chinese agent name) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def export(store: CallStore, ref: str) -> dict[str, Any]:
    row = store.find(ref)
    return {"call": row.to_dict(), "events": store.events(row.call_id)}


def run_export(args: argparse.Namespace) -> int:
    store = CallStore.open_existing(store_path(args))
    try:
        doc = export(store, args.call_id)
    finally:
        store.close()
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write ({exc.strerror})") from None
    print(f"Wrote {args.output}: {len(doc['events'])} events", file=sys.stderr)
    return 0
