"""`assist models`: list the speech models found; `assist models fetch NAME`: download one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assist.runtime import models, whisper_models


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="list speech models, or fetch an official Vosk or Whisper model",
        description="With no action: list the Vosk and Whisper models found (ASSIST_MODELS, "
        "a source checkout's models/, the user's models folder, installed model packages), "
        "where it looked, and the engines each language would use. "
        "`fetch NAME` downloads an official Vosk model or a public CTranslate2 Whisper "
        "conversion (faster-whisper-*).",
    )
    p.set_defaults(run=run_list)
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    f = acts.add_parser(
        "fetch",
        help="download an official Vosk model or a CTranslate2 Whisper conversion",
        description="Vosk: download NAME.zip from the Vosk model site (base URL: "
        "ASSIST_MODELS_URL), check its size (and --sha256), unpack it. Whisper "
        "(faster-whisper-*): download its four files (base URL: ASSIST_WHISPER_URL), check "
        "their sizes (and model.bin's --sha256). Into --dest (default: the user's models "
        "folder, $XDG_DATA_HOME/softphone-assist/models, which is always searched).",
    )
    names = [*models.OFFICIAL, *whisper_models.OFFICIAL]
    f.add_argument("name", metavar="NAME", help=f"one of: {', '.join(names)}")
    f.add_argument("--dest", metavar="DIR", help="folder to unpack into")
    f.add_argument(
        "--sha256", metavar="HEX", help="expected SHA-256 of the zip (Whisper: of model.bin)"
    )
    f.add_argument("--force", action="store_true", help="replace an existing copy")
    f.set_defaults(run=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    found = models.discover() + models.discover_whisper()
    if found:
        width = max(len(m.name) for m in found)
        print(f"{'MODEL':<{width}}  KIND     LANG   SOURCE / PATH")
        for m in found:
            print(f"{m.name:<{width}}  {m.kind:<7}  {m.lang or '?':<5}  {m.source}: {m.path}")
    else:
        print("no models found")
    print("\nlooked in, in this order (the first model per language wins):")
    for folder, source in models.search_dirs():
        state = "" if folder.is_dir() else "  (no such folder)"
        here = "  (fetch puts models here)" if folder == models.default_dest() else ""
        print(f"  {source:<13}  {folder}{state}{here}")
    print(f"  {'packages':<13}  vosk-model-*, {', '.join(whisper_models.PACKAGES)}, the zh extra")
    print()
    for lang in ("en", "zh"):
        vosk = models.find(lang)
        whisper = models.find_whisper(lang)
        sphinx = models.sphinx_fallback(lang, whisper is not None)  # as select_engine's auto
        first = f"vosk:{vosk.name}" if vosk else "pocketsphinx:en-us (fallback)" if sphinx else ""
        second = f"whisper:{whisper.name}" if whisper else ""
        if first and second:
            print(f"{lang}: {first} live, finals by {second}")
        elif first:
            print(f"{lang}: {first}")
        elif second:
            print(f"{lang}: {second}: a final per utterance (no live words: no streaming model)")
        else:
            print(f"{lang}: none: word cues off, voice cues on")
    print(f"\nfetchable: {', '.join([*models.OFFICIAL, *whisper_models.OFFICIAL])}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    dest = Path(args.dest) if args.dest else None
    path = models.fetch(args.name, dest=dest, sha256=args.sha256, force=args.force)
    print(f"{args.name}: unpacked into {path}", file=sys.stderr)
    return 0
