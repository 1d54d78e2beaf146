"""Rule packs (data) and the rule engine (mechanism).

A rule pack is a TOML file per language. Each `[[rule]]` names a *detector* (a mechanism in
`assist.core.detectors`) and holds everything a person tuning the coaching may change: thresholds
(`[rule.params]`), whisper text, severity, priority, cooldown, whether the prompt clears itself
when its condition ends, and how long a momentary prompt stays up (`ttl_s`). Phrase lists for
word cues live in the pack's `[phrases]` table.

The engine is pure: `evaluate(ctx)` is called once per frame (and after each transcript) with
the current audio time in `ctx.now`, and returns prompt / prompt_cleared payloads.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from typing import Any

import assist.core.detectors  # noqa: F401  (registers the detector families)
from assist.core.context import Context
from assist.core.detector import Condition, Detector
from assist.core.errors import ConfigError, RulePackError
from assist.core.events import EventData, Prompt, PromptCleared
from assist.core.pack import ChecklistConfig, Rule, RulePack
from assist.core.tables import build, table_of, type_words, values

# --- loading --------------------------------------------------------------------------------


def _line_of(text: str, rule_id: str | None, key: str | None = None) -> int | None:
    """Best-effort line number of a rule (or a key inside it) in the pack's text."""
    lines = text.splitlines()
    start = 0
    if rule_id is not None:
        pat = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(rule_id)}[\"']")
        for i, line in enumerate(lines):
            if pat.match(line):
                start = i
                break
        else:
            return None
    if key is None:
        return start + 1
    kpat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start, len(lines)):
        if i > start and lines[i].lstrip().startswith("[[rule]]"):
            break
        if kpat.match(lines[i]):
            return i + 1
    return start + 1


def parse_pack(text: str, source: str = "<rules>") -> RulePack:
    """Parse and validate a rule pack; every problem raises RulePackError naming the line and
    the key as config files do (`pack.toml:12: rule[talk_over].cooldown_s: expected ...`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RulePackError(
            source, f"invalid TOML: {exc}", int(m.group(1)) if m else None
        ) from None
    try:
        meta = values(RulePack, table_of(doc, "pack"), where="pack", unknown="ignore")
    except ConfigError as exc:
        raise _located(exc, source, text) from None
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulePackError(source, "rule: no [[rule]] entries (a pack needs one at least)")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rules.append(_parse_rule(raw, i, text, source, seen))
    phrases_raw = doc.get("phrases", {})
    phrases: dict[str, tuple[str, ...]] = {}
    if not isinstance(phrases_raw, dict):
        raise RulePackError(source, f"phrases: expected a table ([phrases]), got {phrases_raw!r}")
    for name, words in phrases_raw.items():
        if not isinstance(words, list) or not all(isinstance(v, str) for v in words):
            raise RulePackError(
                source,
                f"phrases.{name}: expected a list of strings, got {words!r}",
                _line_of(text, None, name),
            )
        phrases[name] = tuple(words)
    meta.setdefault("name", _stem(source))
    checklist = _checklist(doc, text, source, seen)
    pack = RulePack(**meta, rules=tuple(rules), phrases=phrases, source=source, checklist=checklist)
    for rule in pack.rules:  # detectors may check phrase lists against the pack
        try:
            Detector.registry[rule.detector](rule, pack)
        except (ValueError, TypeError, KeyError) as exc:
            raise RulePackError(
                source, f"rule[{rule.id}]: {exc}", _line_of(text, rule.id)
            ) from None
    return pack


def _checklist(doc: dict[str, Any], text: str, source: str, rule_ids: set[str]) -> ChecklistConfig:
    """The `[checklist]` table: the call-shape checklist's thresholds (docs/rules.md)."""
    try:
        table = table_of(doc, "checklist")
        got = build(ChecklistConfig, table, where="checklist")
    except ConfigError as exc:
        raise _located(exc, source, text) from None
    strange = [r for r in got.upset_rules if r not in rule_ids]
    if strange and "upset_rules" in table:
        raise RulePackError(
            source,
            f"checklist.upset_rules: no rule {strange[0]!r} in the pack",
            _line_of(text, None, "upset_rules"),
        )
    return got


def _located(exc: ConfigError, source: str, text: str, rule_id: str | None = None) -> RulePackError:
    """A table's ConfigError as a RulePackError on the line of its key."""
    return RulePackError(source, str(exc), _line_of(text, rule_id, exc.key.rpartition(".")[2]))


def _parse_rule(raw: Any, index: int, text: str, source: str, seen: set[str]) -> Rule:
    """One `[[rule]]`, named `rule[ID]` in errors (`rule[INDEX]` while its id is not valid)."""
    where = f"rule[{index}]"
    if not isinstance(raw, dict):
        raise RulePackError(source, f"{where}: expected a table ([[rule]]), got {raw!r}")
    rid = raw.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", rid):
        raise RulePackError(
            source,
            f"{where}.id: expected snake_case text, got {rid!r}",
            _line_of(text, rid if isinstance(rid, str) else None),
        )
    line = _line_of(text, rid)
    if rid in seen:
        raise RulePackError(source, f"{where}.id: duplicate rule id {rid!r}", line)
    seen.add(rid)
    where = f"rule[{rid}]"
    try:
        kw = values(Rule, raw, where=where, extra=("id", "detector", "params"))
    except ConfigError as exc:
        raise _located(exc, source, text, rid) from None
    detector = raw.get("detector", rid)
    cls = Detector.registry.get(detector) if isinstance(detector, str) else None
    if cls is None:
        raise RulePackError(
            source,
            f"{where}.detector: unknown detector {detector!r} "
            f"(known: {', '.join(sorted(Detector.registry))})",
            _line_of(text, rid, "detector"),
        )
    problem = _placeholder_problem(kw["text"])
    if problem:
        raise RulePackError(source, f"{where}.text: {problem}", _line_of(text, rid, "text"))
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise RulePackError(
            source, f"{where}.params: expected a table ([rule.params]), got {params!r}", line
        )
    for name, value in params.items():
        if name not in cls.params:
            raise RulePackError(
                source,
                f"{where}.params.{name}: unknown param for detector {detector!r} "
                f"(known: {', '.join(sorted(cls.params))})",
                _line_of(text, rid, name),
            )
        types = cls.params[name][0]
        ok = isinstance(value, types) and not (
            isinstance(value, bool)
            and bool not in (types if isinstance(types, tuple) else (types,))
        )
        if not ok:
            raise RulePackError(
                source,
                f"{where}.params.{name}: expected {type_words(types)}, got {value!r}",
                _line_of(text, rid, name),
            )
    missing = [k for k, (_, d) in cls.params.items() if d is None and k not in params]
    if missing:
        raise RulePackError(
            source, f"{where}.params.{missing[0]}: missing (detector {detector!r} needs it)", line
        )
    return Rule(id=rid, detector=detector, params=dict(params), **kw)


def _stem(source: str) -> str:
    """`assist/rules/en.toml` -> `en`: the pack's default name (no pathlib: the core has no I/O)."""
    return source.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")


def _placeholder_problem(text: str) -> str | None:
    """Why `text` cannot be filled at run time, or None: a broken `{name}` must fail the pack
    load with its line, not the call when the rule first fires."""
    try:
        fields = [(f, c, spec) for _, f, spec, c in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        return f"has a broken placeholder ({exc})"
    for name, conversion, spec in fields:
        if not name.isidentifier():
            return f"placeholder {{{name}}} must be a plain name such as {{min_s}}"
        if conversion not in (None, "s", "r", "a"):
            return f"placeholder {{{name}!{conversion}}} has an unknown conversion"
        if spec and "{" in spec:
            return f"placeholder {{{name}:{spec}}} nests another placeholder"
    return None


# --- engine ---------------------------------------------------------------------------------


class _Formatter(string.Formatter):
    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key, "{" + str(key) + "}")

    def format_field(self, value: Any, format_spec: str) -> Any:
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FMT = _Formatter()


@dataclass(slots=True)
class _RuleState:
    detector: Detector
    holding: bool = False  # condition held at the last evaluation
    prompt_id: str | None = None
    raised_at: float | None = None
    last_fired: float | None = None


class RuleEngine:
    """Turns detector verdicts into prompts: edge-triggered, one active prompt per rule,
    cooldowns, TTLs for momentary cues, priority order, and at most `max_active` on screen.

    A momentary cue (a word cue: `clears = false` with a `ttl_s`) that finds every slot held
    by higher priorities waits for a free slot, for at most its `ttl_s`, instead of being
    lost: it fired once and will not fire again (a closing with no thanks happens once), and
    the call's checklist is judged from the prompts raised."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self._states = {
            r.id: _RuleState(Detector.registry[r.detector](r, pack))
            for r in sorted(pack.rules, key=lambda r: -r.priority)
            if r.enabled
        }
        self._count = 0
        self._waiting: list[tuple[Rule, Condition, float]] = []  # momentary cues, no slot yet
        self.fired: dict[str, int] = {}
        self._rule_of: dict[str, str] = {}  # every prompt id raised in this call -> rule id

    @property
    def active(self) -> dict[str, str]:
        """rule id -> active prompt id."""
        return {rid: st.prompt_id for rid, st in self._states.items() if st.prompt_id}

    def evaluate(self, ctx: Context) -> list[EventData]:
        now = ctx.now
        out: list[EventData] = []
        raised: list[tuple[Rule, Condition]] = []
        for st in self._states.values():
            rule = st.detector.rule
            cond = st.detector.check(ctx)
            if cond is None:
                if st.holding and st.prompt_id and rule.clears:
                    out.append(self._clear(st, "condition_ended"))
                st.holding = False
            elif not st.holding:
                st.holding = True
                if st.prompt_id is None and (
                    st.last_fired is None or now - st.last_fired >= rule.cooldown_s
                ):
                    raised.append((rule, cond))
            if st.prompt_id and rule.ttl_s is not None and st.raised_at is not None:
                if now - st.raised_at >= rule.ttl_s:
                    out.append(self._clear(st, "expired"))
        waiting = [
            (r, c, since)
            for r, c, since in self._waiting
            if r.ttl_s is not None and now - since < r.ttl_s and r.id not in self.active
        ]
        self._waiting = []
        pending = [(r, c, now) for r, c in raised] + waiting
        for rule, cond, since in sorted(pending, key=lambda x: -x[0].priority):
            if rule.id in self.active:
                continue
            if len(self.active) >= self.pack.max_active:
                self._evict_below(rule.priority, out)
            if len(self.active) >= self.pack.max_active:
                if not rule.clears and rule.ttl_s is not None:
                    self._waiting.append((rule, cond, since))
                continue
            out.append(self._raise(rule, cond, now))
        return out

    def _evict_below(self, priority: int, out: list[EventData]) -> None:
        lowest = min(
            (st for st in self._states.values() if st.prompt_id),
            key=lambda st: st.detector.rule.priority,
            default=None,
        )
        if lowest is not None and lowest.detector.rule.priority < priority:
            out.append(self._clear(lowest, "superseded"))

    def _raise(self, rule: Rule, cond: Condition, now: float) -> Prompt:
        st = self._states[rule.id]
        self._count += 1
        st.prompt_id = f"{rule.id}-{self._count}"
        self._rule_of[st.prompt_id] = rule.id
        st.raised_at = now
        st.last_fired = now
        self.fired[rule.id] = self.fired.get(rule.id, 0) + 1
        values = {**rule.params, **cond.values}
        return Prompt(
            prompt_id=st.prompt_id,
            rule=rule.id,
            text=_FMT.format(rule.text, **values),
            severity=rule.severity,
            priority=rule.priority,
            evidence=dict(cond.values),
            title=rule.title or rule.id.replace("_", " ").capitalize(),
            min_show_s=self.pack.min_show_s if rule.min_show_s is None else rule.min_show_s,
        )

    def _clear(self, st: _RuleState, reason: str) -> PromptCleared:
        assert st.prompt_id is not None
        ev = PromptCleared(prompt_id=st.prompt_id, rule=st.detector.rule.id, reason=reason)
        st.prompt_id = None
        st.raised_at = None
        return ev

    def rule_of(self, prompt_id: str) -> str | None:
        """The rule that raised `prompt_id` in this call, or None if it never was raised."""
        return self._rule_of.get(prompt_id)

    def acknowledge(self, prompt_id: str, reason: str = "acknowledged") -> PromptCleared | None:
        for st in self._states.values():
            if st.prompt_id == prompt_id:
                return self._clear(st, reason)
        return None

    def close(self) -> list[EventData]:
        return [self._clear(st, "call_ended") for st in self._states.values() if st.prompt_id]
