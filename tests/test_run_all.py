"""benchmarks/run_all.py: runs every benchmark, keeps going past failures, writes the page."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_figures_and_failures_end_up_in_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all = load_run_all()
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "run_all.py").write_text("raise SystemExit('must not run itself')\n")
    (bench / "fine.py").write_text(
        '"""Speed of something."""\nimport json\nprint("median 3 ms")\n'
        'print(json.dumps({"median_ms": 3.0, "per": {"a": 1}, "xs": [4]}))\n'
    )
    (bench / "broken.py").write_text('"""Breaks."""\nraise RuntimeError("no model here")\n')
    (bench / "silent.py").write_text('"""Prints no JSON."""\nprint("hello")\n')
    monkeypatch.setattr(run_all, "HERE", bench)
    monkeypatch.setattr(run_all, "__file__", str(bench / "run_all.py"))
    out = tmp_path / "performance.md"
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--output", str(out)])
    assert run_all.main() == 1  # some failed, and it says so
    page = out.read_text()
    assert "| cores |" in page and "| Python | CPython" in page and "| CPU |" in page
    assert "## fine" in page and "Speed of something." in page
    assert "| `median_ms` | 3.0 |" in page and "| `per.a` | 1 |" in page
    assert "| `xs.0` | 4 |" in page and "median 3 ms" in page
    assert "## broken" in page and "RuntimeError: no model here" in page
    assert "## silent" in page and "no JSON figures" in page
    assert "must not run itself" not in page and "## run_all" not in page


def test_only_replaces_its_own_section_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all = load_run_all()
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "alpha.py").write_text('"""Alpha."""\nimport json\nprint(json.dumps({"x": 1}))\n')
    (bench / "beta.py").write_text('"""Beta."""\nimport json\nprint(json.dumps({"y": 2}))\n')
    monkeypatch.setattr(run_all, "HERE", bench)
    monkeypatch.setattr(run_all, "__file__", str(bench / "run_all.py"))
    out = tmp_path / "performance.md"
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--output", str(out)])
    assert run_all.main() == 0
    page = out.read_text()
    assert page.count("Load average before:") == 2  # each benchmark says under what load
    (bench / "alpha.py").write_text('"""Alpha."""\nimport json\nprint(json.dumps({"x": 7}))\n')
    (bench / "beta.py").write_text('"""Beta."""\nimport json\nprint(json.dumps({"y": 9}))\n')
    (bench / "gamma.py").write_text('"""Gamma."""\nimport json\nprint(json.dumps({"z": 3}))\n')
    monkeypatch.setattr(
        sys, "argv", ["run_all.py", "--output", str(out), "--only", "alpha", "gamma"]
    )
    assert run_all.main() == 0
    page = out.read_text()
    assert "| `x` | 7 |" in page and "| `x` | 1 |" not in page  # rerun: replaced
    assert "| `y` | 2 |" in page  # not rerun: kept as it was
    assert "| `z` | 3 |" in page and page.count("## alpha") == 1  # new: added once
    assert page.index("## alpha") < page.index("## beta") < page.index("## gamma")
