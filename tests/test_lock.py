"""The committed lock (requirements.lock, made by scripts/lock.sh) covers every dependency that
pyproject.toml declares, each pin inside its declared range: a dependency added or re-ranged
without regenerating the lock fails here, not on a user's new machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def lock_pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
            assert match, f"requirements.lock: not a pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    rows = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        rows += extra
    return [Requirement(r) for r in rows]


def unpinned(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    problems = []
    for req in requirements:
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in requirements.lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version}, pyproject wants {req.specifier}")
    return problems


def test_every_declared_dependency_is_locked_inside_its_range() -> None:
    pins = lock_pins((ROOT / "requirements.lock").read_text())
    assert unpinned(declared(), pins) == []


def test_the_check_names_a_missing_and_an_out_of_range_pin() -> None:
    pins = lock_pins("# header\nredis==4.6.0\n")
    problems = unpinned([Requirement("redis>=5"), Requirement("numpy>=1.26")], pins)
    assert problems == [
        "redis: locked 4.6.0, pyproject wants >=5",
        "numpy: not in requirements.lock",
    ]


def test_the_test_command_and_the_quick_start_install_with_the_lock() -> None:
    install = (ROOT / "scripts" / "install-test-deps.sh").read_text()
    assert "-c requirements.lock" in install
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c requirements.lock -e . && assist demo" in readme
