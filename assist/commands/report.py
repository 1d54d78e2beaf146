"""`assist report ID`: the post-call report of a stored call, as HTML (PNG inline) and a PNG."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from assist.commands.calls import add_store_options, store_path
from assist.core.errors import InputError
from assist.runtime.report import render_html, render_png, render_svg, summarise
from assist.runtime.store import CallStore


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write the post-call report of a stored call (HTML + PNG timeline)",
        description="Write a self-contained HTML report of a stored call, in the call's "
        "language (timeline inline as SVG), and a PNG of its timeline beside it (same name, "
        ".png). ID may be a unique prefix.",
    )
    p.add_argument("call_id", metavar="ID", help="call id (or a unique prefix); see `assist calls`")
    p.add_argument(
        "-o", "--output", metavar="FILE.html", help="report file (default: report-ID.html)"
    )
    add_store_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = CallStore.open_existing(store_path(args))
    try:
        row = store.find(args.call_id)
        events = store.events(row.call_id)
    finally:
        store.close()
    out = Path(args.output or f"report-{_safe(row.call_id)}.html")
    if out.suffix.lower() == ".png":
        raise InputError(f"{out}: give the .html name; the PNG is written beside it")
    png_path = out.with_suffix(".png")
    if not out.parent.is_dir():  # name the folder the user gave, not the PNG we derived
        raise InputError(f"{out}: cannot write: no such folder {out.parent}")
    rep = summarise(events)
    png = render_png(rep)
    try:
        png_path.write_bytes(png)
        out.write_text(render_html(rep, render_svg(rep)), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    print(f"Wrote {out} and {png_path}", file=sys.stderr)
    return 0


def _safe(call_id: str) -> str:
    """A file name part from a call id (SIP Call-IDs may hold '/', ':', quotes, ...)."""
    return re.sub(r"[^A-Za-z0-9._@-]", "_", call_id)[:100] or "call"
