"""A rule pack as data: what a person tuning the coaching may change, per language.

Parsing and validation live in `assist.core.rules`; reading files in `assist.runtime.packs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assist.core.events import Severity
from assist.core.tables import key

DEFAULT_PRIORITY = 50
DEFAULT_MAX_ACTIVE = 3
DEFAULT_MIN_SHOW_S = 4.0  # a card stays this long on screen even if its condition ends sooner
DEFAULT_ANSWER_S = 15.0  # checklist: ringing to answered counts as "promptly" (about three rings)
DEFAULT_UPSET_S = 30.0  # checklist: a customer upset this recently is upset at the hang-up
DEFAULT_UPSET_RULES = ("negative_phrase", "agitation")  # prompts that mean "customer upset"
DEFAULT_UPSET_MOODS = ("agitated",)  # voice moods (meters) that mean "customer upset"


@dataclass(frozen=True, slots=True)
class ChecklistConfig:
    """The call-shape checklist's thresholds: the pack's `[checklist]` table (declared here,
    `assist.core.tables`); `upset_rules` must name rules of the pack (checked on load)."""

    answer_s: float = key(DEFAULT_ANSWER_S, lo=0, hi=600, unit="seconds")
    upset_s: float = key(DEFAULT_UPSET_S, lo=0, hi=3600, unit="seconds")
    upset_rules: tuple[str, ...] = key(DEFAULT_UPSET_RULES, what="a list of rule ids")
    upset_moods: tuple[str, ...] = key(DEFAULT_UPSET_MOODS, what="a list of moods")


def _text(value: str) -> str | None:
    return None if value else ""


def _positive(value: float) -> str | None:
    return None if value > 0 else ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One `[[rule]]` of a pack; its keys beyond `id`, `detector` and `params` are declared here
    (`assist.core.tables`), the detector declares its `params`."""

    id: str
    detector: str
    text: str = key(what="the card's text", check=_text)
    title: str = key("")  # short readable name (chips, card headers, report); "" = from the id
    severity: Severity = key("warn")
    priority: int = key(DEFAULT_PRIORITY)
    cooldown_s: float = key(0.0, lo=0, unit="seconds")
    clears: bool = key(True)
    ttl_s: float | None = key(None, what="a number of seconds above 0", check=_positive)
    enabled: bool = key(True)
    # a card stays on screen at least this long; None: the pack's min_show_s
    min_show_s: float | None = key(None, lo=0, hi=600, unit="seconds")
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RulePack:
    """A loaded pack; the keys of its `[pack]` table are declared here."""

    name: str = key("")  # "" = the file's name
    lang: str = key("en")
    version: int = key(1, lo=1)
    rules: tuple[Rule, ...]
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_active: int = key(DEFAULT_MAX_ACTIVE, lo=1)
    min_show_s: float = key(DEFAULT_MIN_SHOW_S, lo=0, hi=600, unit="seconds")
    source: str = ""
    checklist: ChecklistConfig = field(default_factory=ChecklistConfig)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def phrase_list(self, name: str) -> tuple[str, ...]:
        return tuple(self.phrases.get(name, ()))
