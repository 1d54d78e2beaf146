"""sip/refusals.py: refused INVITEs said once per kind and window, the rest counted exactly."""

from __future__ import annotations

import re

import pytest

from sip.refusals import RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _total(lines: list[str], kind: str) -> int:
    """Refusals of `kind` the lines account for: each said one, plus each count."""
    said = sum(1 for line in lines if line.startswith("refused") and kind in line)
    counted = sum(
        int(m.group(1))
        for line in lines
        if (m := re.match(r"… and (\d+) more refused INVITEs \((.+)\) in the last", line))
        and m.group(2) == kind
    )
    return said + counted


def test_a_flood_of_one_kind_is_one_line_and_one_count_per_window() -> None:
    lines: list[str] = []
    clock = Clock()
    log = RefusalLog(lines.append, window_s=10.0, clock=clock)
    for _ in range(58):
        log.refused("503 full", "refused a recording from sip:a@h: 503 busy (503 full)")
        clock.now += 0.1
    assert lines == ["refused a recording from sip:a@h: 503 busy (503 full)"]
    clock.now = 110.0
    log.flush()
    assert lines[1:] == ["… and 57 more refused INVITEs (503 full) in the last 10 s"]
    log.flush()
    assert len(lines) == 2 and log.total == 58


def test_a_sustained_flood_says_at_most_two_lines_per_kind_per_window() -> None:
    lines: list[str] = []
    clock = Clock()
    log = RefusalLog(lines.append, window_s=10.0, clock=clock)
    for _ in range(1000):  # 100 s at 10 per second, flushed as the server's watch does
        log.refused("503 full", "refused a recording: 503 full (503 full)")
        clock.now += 0.1
        log.flush()
    log.flush(everything=True)
    assert len(lines) <= 2 * 10 + 2, lines
    assert _total(lines, "503 full") == 1000


def test_each_kind_says_itself_and_counts_separately() -> None:
    lines: list[str] = []
    log = RefusalLog(lines.append, clock=Clock())
    for _ in range(3):
        log.refused("503 full", "refused a recording from a: 503 busy (503 full)")
        log.refused("488 3 audio streams", "refused a recording from b: 488 3 audio streams")
    log.flush(everything=True)
    assert lines[:2] == [
        "refused a recording from a: 503 busy (503 full)",
        "refused a recording from b: 488 3 audio streams",
    ]
    assert sorted(lines[2:]) == [
        "… and 2 more refused INVITEs (488 3 audio streams) in the last 1 s",
        "… and 2 more refused INVITEs (503 full) in the last 1 s",
    ]


def test_many_kinds_at_once_are_bounded_and_counted_as_other() -> None:
    lines: list[str] = []
    log = RefusalLog(lines.append, max_kinds=3, clock=Clock())
    for i in range(50):  # an XML error's position differs each time: 50 kinds
        log.refused(f"400 line {i}", f"refused a recording: 400 not well-formed (400 line {i})")
    log.flush(everything=True)
    assert len(lines) == 4, lines
    assert lines[-1] == "… and 47 more refused INVITEs (other) in the last 1 s"
    assert log.total == 50


def test_nothing_more_is_said_when_a_kind_came_once() -> None:
    lines: list[str] = []
    clock = Clock()
    log = RefusalLog(lines.append, clock=clock)
    log.refused("503 full", "refused: 503 full")
    clock.now += 60
    log.flush()
    log.refused("503 full", "refused: 503 full")  # a new window: said again
    assert lines == ["refused: 503 full", "refused: 503 full"]


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError):
        RefusalLog(print, window_s=0)
