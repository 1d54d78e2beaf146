"""Labelled calls and the scoring of a run against them (`assist eval`).

A labelled call is `NAME.wav` (stereo: channel 0 agent, 1 customer) and `NAME.toml` beside it:

    lang = "en"                    # optional: the call's language (must match --lang)
    forbid = ["anything_else"]     # rules that must not fire in this call ("*": none may)
    [[expect]]
    rule = "confirm_numbers"
    at = 21.3                      # the cue's moment in the audio (latency is counted from it)
    by = 26.0                      # the prompt must come no later than this (window [at, by])

Scoring (`score`) is pure: a prompt of an expected rule inside one of its windows is a hit (the
first one per window; latency = prompt time - `at`); one that comes within `LATE_S` after a
missed window is late (a miss, but the cue was real: not a false alarm); a prompt of a
forbidden rule, or of an expected rule outside all its windows, is a false alarm; any other
prompt is not judged.
"""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assist.core.errors import ConfigError, InputError
from assist.core.tables import key, rows_of, values

EARLY_S = 0.5  # a prompt this much before `at` still counts (label times are read by ear)
LATE_S = 10.0  # a prompt this long after a missed window is late, not a false alarm


def _rule_id(value: str) -> str | None:
    return None if value else ""


@dataclass(frozen=True, slots=True)
class Expect:
    """One `[[expect]]` of a label file (its keys declared once, `assist.core.tables`)."""

    rule: str = key(what="a rule id", check=_rule_id)
    at: float = key(lo=0, unit="seconds")
    by: float = key(lo=0, unit="seconds")


@dataclass(frozen=True, slots=True)
class Label:
    """What one call must raise (`expect`) and must not (`forbid`; "*" = every rule)."""

    name: str
    wav: Path
    expect: tuple[Expect, ...] = ()  # [[expect]]
    forbid: tuple[str, ...] = key((), what="a list of rule ids", check=_rule_id)
    lang: str = key("")

    def forbids(self, rule: str) -> bool:
        return "*" in self.forbid or rule in self.forbid


@dataclass(slots=True)
class RuleScore:
    expected: int = 0
    hits: int = 0
    false_alarms: int = 0
    late: int = 0
    latencies: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # "call@at"
    alarms: list[str] = field(default_factory=list)  # "call@t"

    @property
    def recall(self) -> float | None:
        return self.hits / self.expected if self.expected else None

    def to_dict(self) -> dict[str, Any]:
        lat = self.latencies
        return {
            "expected": self.expected,
            "hits": self.hits,
            "recall": None if self.recall is None else round(self.recall, 3),
            "false_alarms": self.false_alarms,
            "late": self.late,
            "latency_median_s": round(statistics.median(lat), 2) if lat else None,
            "latency_max_s": round(max(lat), 2) if lat else None,
            "missed": self.missed,
            "alarms": self.alarms,
        }


def _bad(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}")


def load_label(path: Path) -> Label:
    """One label file; every mistake is an InputError naming the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _bad(path, f"not valid TOML ({exc})") from None
    try:
        top = values(Label, data, where="", extra=("expect",))
        forbid = top.get("forbid", ())
        out = []
        for i, row in enumerate(rows_of(data, "expect", where="")):
            e = Expect(**values(Expect, row, where=f"expect[{i}]"))
            if e.by < e.at:
                raise ConfigError(f"by ({e.by}) is before at ({e.at})", key=f"expect[{i}].by")
            if "*" in forbid or e.rule in forbid:
                raise ConfigError(
                    f"rule {e.rule!r} is both expected and forbidden", key=f"expect[{i}].rule"
                )
            out.append(e)
    except ConfigError as exc:
        raise exc.in_file(path) from None
    wav = path.with_suffix(".wav")
    if not wav.is_file():
        raise _bad(path, f"no call audio {wav.name} beside it")
    return Label(path.stem, wav, tuple(out), **top)


def load_dir(folder: Path) -> list[Label]:
    """Every labelled call of `folder` (its *.toml files), by name."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of labelled calls")
    labels = [load_label(p) for p in sorted(folder.glob("*.toml"))]
    if not labels:
        raise InputError(f"{folder}: no label files (NAME.toml beside NAME.wav)")
    return labels


def score(
    labels: Sequence[tuple[Label, Iterable[tuple[float, str]]]], rules: Iterable[str] = ()
) -> dict[str, RuleScore]:
    """Per rule: hits, recall, false alarms and latencies of the prompts (time, rule) each
    call raised. `rules` are listed even when no label names them."""
    out: dict[str, RuleScore] = {r: RuleScore() for r in rules}
    for label, prompts in labels:
        fired = sorted(prompts)
        used: set[int] = set()
        for e in label.expect:
            s = out.setdefault(e.rule, RuleScore())
            s.expected += 1
            for i, (t, rule) in enumerate(fired):
                if rule == e.rule and i not in used and e.at - EARLY_S <= t <= e.by:
                    used.add(i)
                    s.hits += 1
                    s.latencies.append(max(0.0, t - e.at))
                    break
            else:
                s.missed.append(f"{label.name}@{e.at:g}")
        windows = {e.rule for e in label.expect}
        late_for: set[Expect] = set()
        for i, (t, rule) in enumerate(fired):
            if i in used:
                continue
            # a repeat inside a window already hit is the same cue, not a false alarm
            inside = any(e.rule == rule and e.at - EARLY_S <= t <= e.by for e in label.expect)
            missed = [
                e
                for e in label.expect
                if e.rule == rule
                and f"{label.name}@{e.at:g}" in out[rule].missed
                and e.by < t <= e.by + LATE_S
                and e not in late_for
            ]
            if missed:
                late_for.add(missed[0])
                out[rule].late += 1
                continue
            if label.forbids(rule) or (rule in windows and not inside):
                s = out.setdefault(rule, RuleScore())
                s.false_alarms += 1
                s.alarms.append(f"{label.name}@{t:.1f}")
    return dict(sorted(out.items()))


def totals(scores: dict[str, RuleScore]) -> RuleScore:
    t = RuleScore()
    for s in scores.values():
        t.expected += s.expected
        t.hits += s.hits
        t.false_alarms += s.false_alarms
        t.late += s.late
        t.latencies += s.latencies
    return t
