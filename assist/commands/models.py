"""`assist models`: list the speech models found; `assist models fetch NAME`: download one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assist.runtime import models


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="list speech models, or fetch an official Vosk model",
        description="With no action: list the Vosk models found (ASSIST_MODELS, models/, "
        "installed model packages) and the engine each language would use. "
        "`fetch NAME` downloads and unpacks an official Vosk model.",
    )
    p.set_defaults(run=run_list)
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    f = acts.add_parser(
        "fetch",
        help="download and unpack an official Vosk model",
        description="Download NAME.zip from the Vosk model site (base URL: ASSIST_MODELS_URL), "
        "check its size (and --sha256), unpack it into --dest (default: the first ASSIST_MODELS "
        "folder, else models/).",
    )
    f.add_argument("name", metavar="NAME", help=f"one of: {', '.join(models.OFFICIAL)}")
    f.add_argument("--dest", metavar="DIR", help="folder to unpack into")
    f.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the zip")
    f.add_argument("--force", action="store_true", help="replace an existing copy")
    f.set_defaults(run=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    found = models.discover()
    if found:
        width = max(len(m.name) for m in found)
        print(f"{'MODEL':<{width}}  LANG  SOURCE / PATH")
        for m in found:
            print(f"{m.name:<{width}}  {m.lang or '?':<4}  {m.source}: {m.path}")
    else:
        print("no Vosk models found (ASSIST_MODELS, models/, vosk-model-* packages)")
    print()
    for lang in ("en", "zh"):
        info = models.find(lang)
        if info is not None:
            print(f"{lang}: vosk:{info.name}")
        elif lang == "en":
            print(
                "en: pocketsphinx:en-us (fallback; `assist models fetch "
                "vosk-model-small-en-us-0.15` for better accuracy)"
            )
        else:
            print(
                f"{lang}: none: word cues off, voice cues on "
                "(`assist models fetch vosk-model-small-cn-0.22`)"
            )
    print(f"\nfetchable: {', '.join(models.OFFICIAL)}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    dest = Path(args.dest) if args.dest else None
    path = models.fetch(args.name, dest=dest, sha256=args.sha256, force=args.force)
    print(f"{args.name}: unpacked into {path}", file=sys.stderr)
    return 0
