"""The folders are the architecture: core → asr → runtime → adapters (overlay, sip) → commands.

Every import of every module is resolved (relative ones included) and checked against the
layer it lives in. The core stays sans-I/O: only pure standard-library modules, numpy and a
few pure computation libraries, and nothing above it.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assist", "overlay", "sip", "fleet")

# Standard-library modules the core may use: computation and data only, no I/O or clock.
CORE_STDLIB = {
    "__future__", "abc", "bisect", "collections", "dataclasses", "enum", "functools", "heapq",
    "ipaddress", "itertools", "json", "math", "operator", "re", "statistics", "string",
    "tomllib", "types", "typing", "unicodedata", "warnings",
}  # fmt: skip
# Third-party libraries the core may use: pure computation, no threads or I/O of their own.
CORE_THIRD_PARTY = {"numpy", "cn2an", "text_to_num", "rapidfuzz", "pypinyin"}

# What each layer may import of this project (a module may always import its own layer).
ALLOWED = {
    "assist.core": {"assist.core"},
    "assist.asr": {"assist.core", "assist.asr"},
    "assist.runtime": {"assist.core", "assist.asr", "assist.runtime", "assist.__init__"},
    "overlay": {"assist.core", "assist.runtime", "assist.__init__", "overlay"},
    "sip": {"assist.core", "assist.runtime", "sip"},
    "fleet": {"assist.core", "assist.runtime", "assist.__init__", "overlay", "fleet"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Absolute names of everything `path` imports, relative imports resolved."""
    mod = module_name(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for a in node.names:  # `from pkg import module` names the module itself
                sub = root.joinpath(*prefix.split("."), a.name)
                is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                out.add(f"{prefix}.{a.name}" if is_module else prefix)
    return out


def layer_of(name: str) -> str | None:
    for layer in ("assist.core", "assist.asr", "assist.runtime", "assist.commands"):
        if name == layer or name.startswith(layer + "."):
            return layer
    if name == "assist" or name.startswith("assist.__"):  # the package root: __version__
        return "assist.__init__"
    top = name.split(".")[0]
    return top if top in PACKAGES else None


def violations(root: Path) -> list[str]:
    found = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            mod = module_name(path, root)
            layer = layer_of(mod)
            if layer not in ALLOWED:
                continue  # assist.commands, assist/__main__, cli: composition, anything goes
            for name in sorted(imports_of(path, root)):
                target = layer_of(name)
                top = name.split(".")[0]
                if target is not None:
                    if target not in ALLOWED[layer]:
                        found.append(f"{mod} imports {name}")
                elif layer == "assist.core" and top not in CORE_STDLIB | CORE_THIRD_PARTY:
                    found.append(f"{mod} imports {name}")
    return found


def test_every_layer_imports_only_what_is_below_it() -> None:
    assert violations(ROOT) == []


def test_the_core_is_there_to_check() -> None:
    core = {p.stem for p in (ROOT / "assist" / "core").rglob("*.py")}
    assert {"session", "events", "rules", "vad", "conversation", "prosody", "audio"} <= core
    assert not (ROOT / "assist" / "session.py").exists()  # no shim left behind


def test_the_check_fails_on_a_bad_import(tmp_path: Path) -> None:
    """A scratch copy with bad imports added: each one is caught, relative ones included."""
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(tmp_path) == []
    bad = {
        "assist/core/session.py": "from ..runtime import runner\n",
        "assist/core/vad.py": "import threading\n",
        "assist/core/detectors/timing.py": "from ...runtime.store import CallStore\n",
        "assist/core/events.py": "from time import monotonic\n",
        "assist/runtime/runner.py": "from overlay.hub import Hub\n",
        "assist/runtime/store.py": "import sip.phone\n",
        "sip/tap.py": "from overlay import server\n",
        "assist/asr/engine.py": "from assist.runtime import runner\n",
    }
    for rel, line in bad.items():
        p = tmp_path / rel
        p.write_text(p.read_text(encoding="utf-8") + line, encoding="utf-8")
    found = violations(tmp_path)
    assert set(found) == {
        "assist.core.session imports assist.runtime.runner",
        "assist.core.vad imports threading",
        "assist.core.detectors.timing imports assist.runtime.store",
        "assist.core.events imports time",
        "assist.runtime.runner imports overlay.hub",
        "assist.runtime.store imports sip.phone",
        "sip.tap imports overlay.server",
        "assist.asr.engine imports assist.runtime.runner",
    }
