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

import math
import re
import string
import tomllib
from dataclasses import dataclass
from typing import Any, get_args

import assist.core.detectors  # noqa: F401  (registers the detector families)
from assist.core.context import Context
from assist.core.detector import Condition, Detector
from assist.core.errors import RulePackError
from assist.core.events import EventData, Prompt, PromptCleared, Severity
from assist.core.pack import (
    DEFAULT_MAX_ACTIVE,
    DEFAULT_MIN_SHOW_S,
    DEFAULT_PRIORITY,
    ChecklistConfig,
    Rule,
    RulePack,
)

# --- loading --------------------------------------------------------------------------------

_RULE_KEYS = {f for f in Rule.__dataclass_fields__}
_SEVERITIES = get_args(Severity)


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
    """Parse and validate a rule pack; every problem raises RulePackError naming the line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RulePackError(
            source, f"invalid TOML: {exc}", int(m.group(1)) if m else None
        ) from None
    meta = doc.get("pack", {})
    if not isinstance(meta, dict):
        raise RulePackError(source, "[pack] must be a table", _line_of(text, None, "pack"))
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulePackError(source, "no [[rule]] entries")
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in raw_rules:
        rules.append(_parse_rule(raw, text, source, seen))
    phrases_raw = doc.get("phrases", {})
    phrases: dict[str, tuple[str, ...]] = {}
    if not isinstance(phrases_raw, dict):
        raise RulePackError(source, "[phrases] must be a table")
    for key, values in phrases_raw.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RulePackError(
                source, f"phrases.{key} must be a list of strings", _line_of(text, None, key)
            )
        phrases[key] = tuple(values)

    def positive_int(key: str, default: int) -> int:
        value = meta.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RulePackError(
                source, f"pack.{key} must be an integer >= 1", _line_of(text, None, key)
            )
        return value

    max_active = positive_int("max_active", DEFAULT_MAX_ACTIVE)
    version = positive_int("version", 1)
    min_show = meta.get("min_show_s", DEFAULT_MIN_SHOW_S)
    if not _is_seconds(min_show):
        raise RulePackError(
            source,
            "pack.min_show_s must be a number of seconds >= 0",
            _line_of(text, None, "min_show_s"),
        )
    for key in ("name", "lang"):
        if not isinstance(meta.get(key, ""), str):
            raise RulePackError(source, f"pack.{key} must be text", _line_of(text, None, key))
    pack = RulePack(
        name=str(meta.get("name", _stem(source))),
        lang=str(meta.get("lang", "en")),
        version=version,
        rules=tuple(rules),
        phrases=phrases,
        max_active=max_active,
        min_show_s=float(min_show),
        source=source,
        checklist=_parse_checklist(doc.get("checklist", {}), text, source, seen),
    )
    for rule in pack.rules:  # detectors may validate phrase lists etc. against the whole pack
        try:
            Detector.registry[rule.detector](rule, pack)
        except (ValueError, TypeError, KeyError) as exc:
            raise RulePackError(
                source, f"rule {rule.id!r}: {exc}", _line_of(text, rule.id)
            ) from None
    return pack


def _parse_checklist(raw: Any, text: str, source: str, rule_ids: set[str]) -> ChecklistConfig:
    """The `[checklist]` table: the call-shape checklist's thresholds (docs/rules.md)."""
    if not isinstance(raw, dict):
        line = _line_of(text, None, "checklist")
        raise RulePackError(source, "[checklist] must be a table", line)
    default = ChecklistConfig()
    unknown = set(raw) - set(ChecklistConfig.__dataclass_fields__)
    if unknown:
        key = sorted(unknown)[0]
        raise RulePackError(source, f"checklist: unknown key {key!r}", _line_of(text, None, key))
    seconds: dict[str, float] = {}
    for key in ("answer_s", "upset_s"):
        value = raw.get(key, getattr(default, key))
        if not _is_seconds(value):
            raise RulePackError(
                source,
                f"checklist.{key} must be a number of seconds >= 0",
                _line_of(text, None, key),
            )
        seconds[key] = float(value)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("upset_rules", "upset_moods"):
        value = raw.get(key, list(getattr(default, key)))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RulePackError(
                source, f"checklist.{key} must be a list of strings", _line_of(text, None, key)
            )
        lists[key] = tuple(value)
    strange = [r for r in lists["upset_rules"] if r not in rule_ids]
    if strange and "upset_rules" in raw:
        raise RulePackError(
            source,
            f"checklist.upset_rules: no rule {strange[0]!r} in the pack",
            _line_of(text, None, "upset_rules"),
        )
    return ChecklistConfig(
        answer_s=seconds["answer_s"],
        upset_s=seconds["upset_s"],
        upset_rules=lists["upset_rules"],
        upset_moods=lists["upset_moods"],
    )


def _parse_rule(raw: Any, text: str, source: str, seen: set[str]) -> Rule:
    if not isinstance(raw, dict):
        raise RulePackError(source, "each [[rule]] must be a table")
    rid = raw.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", rid):
        raise RulePackError(
            source,
            f"rule id must be snake_case text, got {rid!r}",
            _line_of(text, rid if isinstance(rid, str) else None),
        )
    line = _line_of(text, rid)
    if rid in seen:
        raise RulePackError(source, f"duplicate rule id {rid!r}", line)
    seen.add(rid)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise RulePackError(source, f"rule {rid!r}: unknown key {key!r}", _line_of(text, rid, key))
    detector = raw.get("detector", rid)
    cls = Detector.registry.get(detector) if isinstance(detector, str) else None
    if cls is None:
        raise RulePackError(
            source, f"rule {rid!r}: unknown detector {detector!r}", _line_of(text, rid, "detector")
        )

    def want(key: str, types: type | tuple[type, ...], default: Any) -> Any:
        value = raw.get(key, default)
        if value is not None and (
            not isinstance(value, types)
            or isinstance(value, bool)
            and types in (int, float, (int, float))
        ):
            raise RulePackError(
                source, f"rule {rid!r}: {key} has the wrong type", _line_of(text, rid, key)
            )
        return value

    text_ = want("text", str, None)
    if not text_:
        raise RulePackError(source, f"rule {rid!r}: missing text", line)
    problem = _placeholder_problem(text_)
    if problem:
        raise RulePackError(source, f"rule {rid!r}: text {problem}", _line_of(text, rid, "text"))
    severity = want("severity", str, "warn")
    if severity not in _SEVERITIES:
        raise RulePackError(
            source,
            f"rule {rid!r}: severity must be one of {_SEVERITIES}",
            _line_of(text, rid, "severity"),
        )
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise RulePackError(source, f"rule {rid!r}: params must be a table", line)
    for key, value in params.items():
        if key not in cls.params:
            raise RulePackError(
                source,
                f"rule {rid!r}: unknown param {key!r} for detector {detector!r}",
                _line_of(text, rid, key),
            )
        types = cls.params[key][0]
        ok = isinstance(value, types) and not (
            isinstance(value, bool)
            and bool not in (types if isinstance(types, tuple) else (types,))
        )
        if not ok:
            raise RulePackError(
                source, f"rule {rid!r}: param {key} has the wrong type", _line_of(text, rid, key)
            )
    missing = [k for k, (_, d) in cls.params.items() if d is None and k not in params]
    if missing:
        raise RulePackError(source, f"rule {rid!r}: missing param {missing[0]!r}", line)
    cooldown = want("cooldown_s", (int, float), 0.0)
    ttl = want("ttl_s", (int, float), None)
    priority = want("priority", int, DEFAULT_PRIORITY)
    if cooldown < 0 or (ttl is not None and ttl <= 0):
        raise RulePackError(source, f"rule {rid!r}: cooldown_s/ttl_s out of range", line)
    min_show = raw.get("min_show_s")
    if min_show is not None and not _is_seconds(min_show):
        raise RulePackError(
            source,
            f"rule {rid!r}: min_show_s must be a number of seconds >= 0",
            _line_of(text, rid, "min_show_s"),
        )
    rule = Rule(
        id=rid,
        detector=detector,
        text=text_,
        title=str(want("title", str, "")),
        severity=severity,
        priority=priority,
        cooldown_s=float(cooldown),
        clears=bool(want("clears", bool, True)),
        ttl_s=None if ttl is None else float(ttl),
        enabled=bool(want("enabled", bool, True)),
        min_show_s=None if min_show is None else float(min_show),
        params=dict(params),
    )
    return rule


def _is_seconds(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 600
    )


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
    cooldowns, TTLs for momentary cues, priority order, and at most `max_active` on screen."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self._states = {
            r.id: _RuleState(Detector.registry[r.detector](r, pack))
            for r in sorted(pack.rules, key=lambda r: -r.priority)
            if r.enabled
        }
        self._count = 0
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
        for rule, cond in raised:  # already in priority order
            if len(self.active) >= self.pack.max_active:
                self._evict_below(rule.priority, out)
            if len(self.active) >= self.pack.max_active:
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
