"""The analysis core stays sans-I/O: no event loops, sockets, SIP, threads or wall clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "assist"
# Adapter modules inside assist/: they own threads, files and the CLI. Everything else is core.
ADAPTERS = {
    "runtime.py",
    "demo.py",
    "cli.py",
    "__main__.py",
    "wavio.py",
    "asr_worker.py",
    "store.py",
    "report.py",
    "models.py",
    "whisper_models.py",  # runtime: discovery, fetch, the process-wide model cache
    "second_pass.py",  # runtime: the shared decode pool (threads)
    "control.py",
}
ADAPTER_DIRS = {"commands", "data"}
FORBIDDEN = {
    "asyncio",
    "pjsua2",
    "websockets",
    "threading",
    "socket",
    "time",
    "sqlite3",
    "subprocess",
    "concurrent",
    "sip",
    "overlay",
    "selectors",
}


def core_modules() -> list[Path]:
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ADAPTER_DIRS or (len(rel.parts) == 1 and rel.name in ADAPTERS):
            continue
        out.append(path)
    return out


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_has_modules_to_check() -> None:
    names = {p.name for p in core_modules()}
    assert {"session.py", "events.py", "rules.py", "vad.py", "conversation.py"} <= names


def test_core_imports_no_io() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_roots(p) & FORBIDDEN) for p in core_modules()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_scan_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom time import monotonic\n")
    assert imported_roots(bad) & FORBIDDEN == {"asyncio", "time"}
