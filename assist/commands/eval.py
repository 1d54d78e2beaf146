"""`assist eval DIR`: run labelled calls through the product (`--fast`) and score the prompts.

For the people who tune rule packs: per rule, recall, false alarms and latency from the cue's
moment, plus totals; `--json` for scripts; exit 1 when a threshold given is not met. The label
format is in docs/rules.md ("Measuring a pack") and assist/runtime/evaluation.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assist.core.audio import FRAME_SAMPLES
from assist.core.errors import InputError
from assist.core.events import Event, Prompt
from assist.core.pack import RulePack
from assist.core.session import CallSession
from assist.runtime.asr_worker import CallAsr
from assist.runtime.demo import play
from assist.runtime.evaluation import Label, RuleScore, load_dir, score, totals
from assist.runtime.models import ASR_CHOICES, Choice, select_engine
from assist.runtime.packs import default_pack, load_pack
from assist.runtime.runner import CallRunner, JsonlSink, Sink
from assist.runtime.wavio import load_call


def register(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="score a rule pack on labelled calls (recall, false alarms, latency per rule)",
        description="Run every labelled call of DIR (NAME.wav + NAME.toml) through the "
        "assistant as `assist demo --fast` does and score its prompts against the labels.",
    )
    p.add_argument("dir", metavar="DIR", help="folder of labelled calls")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language (default en)")
    p.add_argument("--rules", metavar="FILE", help="rule pack TOML to score (default: built-in)")
    p.add_argument(
        "--asr", choices=ASR_CHOICES, default="auto", help="speech engines (as for demo)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument(
        "--min-recall",
        type=float,
        metavar="R",
        help="exit 1 if any rule with expected cues has recall under R (0-1)",
    )
    p.add_argument(
        "--max-false-alarms",
        type=int,
        metavar="N",
        help="exit 1 if there are more than N false alarms in all",
    )
    p.add_argument("--events", metavar="DIR", help="write each call's events as DIR/NAME.jsonl")
    p.set_defaults(run=run)


class _Prompts:
    """Sink keeping (time, rule) of every prompt."""

    def __init__(self) -> None:
        self.prompts: list[tuple[float, str]] = []

    def send(self, event: Event) -> None:
        if isinstance(event.data, Prompt):
            self.prompts.append((event.t, event.data.rule))

    def close(self) -> None:
        pass


def run_call(label: Label, pack: RulePack, speech: Choice, events: Path | None) -> _Prompts:
    """One call through session, runner and recognisers, as fast as they go (`demo --fast`)."""
    agent, customer, _ = load_call(label.wav)
    kept = _Prompts()
    sinks: list[Sink] = [kept]
    if events is not None:
        sinks.append(JsonlSink(events / f"{label.name}.jsonl"))
    session = CallSession(f"eval-{label.name}", pack=pack, source="demo", asr=speech.label)
    runner = CallRunner(session, sinks, block=True)
    asr = None if not speech.label else CallAsr(runner, speech.engine, second=speech.second)
    runner.start()
    pushed = None
    try:
        pushed = play(agent, customer, runner, speed=None)
    finally:
        if asr is not None:
            asr.close(until=None if pushed is None else pushed * FRAME_SAMPLES, timeout=60)
        runner.finish("completed")
    if runner.error is not None:
        raise RuntimeError(f"{label.name}: analysis failed: {runner.error!r}")
    return kept


def _check(args: argparse.Namespace) -> None:
    if args.min_recall is not None and not 0 <= args.min_recall <= 1:
        raise InputError("--min-recall must be between 0 and 1")
    if args.max_false_alarms is not None and args.max_false_alarms < 0:
        raise InputError("--max-false-alarms must be >= 0")


def run(args: argparse.Namespace) -> int:
    _check(args)
    labels = load_dir(Path(args.dir))
    for label in labels:
        if label.lang and label.lang != args.lang:
            raise InputError(f"{label.wav.with_suffix('.toml')}: lang {label.lang!r}, not --lang")
    pack = load_pack(args.rules) if args.rules else default_pack(args.lang)
    known = {r.id for r in pack.rules}
    for label in labels:
        for name in {e.rule for e in label.expect} | (set(label.forbid) - {"*"}):
            if name not in known:
                raise InputError(f"{label.name}.toml: no rule {name!r} in pack {pack.name!r}")
    events = Path(args.events) if args.events else None
    if events is not None:
        events.mkdir(parents=True, exist_ok=True)
    speech = select_engine(pack.lang, args.asr)
    print(speech.message, file=sys.stderr)
    results = []
    for i, label in enumerate(labels, 1):
        kept = run_call(label, pack, speech, events)
        results.append((label, kept.prompts))
        print(f"[{i}/{len(labels)}] {label.name}: {len(kept.prompts)} prompts", file=sys.stderr)
    word_rules = sorted({e.rule for lb in labels for e in lb.expect})
    scores = score(results, word_rules)
    total = totals(scores)
    if args.json:
        print(json.dumps(_as_json(scores, total, len(labels), pack), ensure_ascii=False))
    else:
        _print_table(scores, total, len(labels), pack)
    return _verdict(args, scores, total)


def _as_json(scores: dict[str, RuleScore], total: RuleScore, calls: int, pack: RulePack) -> Any:
    return {
        "pack": pack.name,
        "lang": pack.lang,
        "calls": calls,
        "rules": {r: s.to_dict() for r, s in scores.items()},
        "total": total.to_dict(),
    }


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:.0%}" if pct else f"{x:.1f}"


def _print_table(
    scores: dict[str, RuleScore], total: RuleScore, calls: int, pack: RulePack
) -> None:
    print(f"{pack.name} ({pack.lang}), {calls} calls")
    print(
        f"{'rule':<22} {'expected':>8} {'hits':>5} {'recall':>7} {'false':>6} {'late':>5} "
        f"{'lat med':>8} {'lat max':>8}"
    )
    for name, s in [*scores.items(), ("total", total)]:
        d = s.to_dict()
        print(
            f"{name:<22} {s.expected:>8} {s.hits:>5} {_fmt(s.recall, True):>7} "
            f"{s.false_alarms:>6} {s.late:>5} {_fmt(d['latency_median_s']):>8} "
            f"{_fmt(d['latency_max_s']):>8}"
        )
    for name, s in scores.items():
        if s.missed:
            print(f"  {name} missed: {', '.join(s.missed)}")
        if s.alarms:
            print(f"  {name} false alarms: {', '.join(s.alarms)}")


def _verdict(args: argparse.Namespace, scores: dict[str, RuleScore], total: RuleScore) -> int:
    failed = []
    if args.min_recall is not None:
        for name, s in scores.items():
            if s.recall is not None and s.recall < args.min_recall:
                failed.append(f"{name} recall {s.recall:.0%} < {args.min_recall:.0%}")
    if args.max_false_alarms is not None and total.false_alarms > args.max_false_alarms:
        failed.append(f"{total.false_alarms} false alarms > {args.max_false_alarms}")
    for line in failed:
        print(f"assist eval: below threshold: {line}", file=sys.stderr)
    return 1 if failed else 0
