"""A rule pack as data: what a person tuning the coaching may change, per language.

Parsing and validation live in `assist.core.rules`; reading files in `assist.runtime.packs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assist.core.events import Severity

DEFAULT_PRIORITY = 50
DEFAULT_MAX_ACTIVE = 3
DEFAULT_MIN_SHOW_S = 4.0  # a card stays this long on screen even if its condition ends sooner
DEFAULT_ANSWER_S = 15.0  # checklist: ringing to answered counts as "promptly" (about three rings)
DEFAULT_UPSET_S = 30.0  # checklist: a customer upset this recently is upset at the hang-up
DEFAULT_UPSET_RULES = ("negative_phrase", "agitation")  # prompts that mean "customer upset"
DEFAULT_UPSET_MOODS = ("agitated",)  # voice moods (meters) that mean "customer upset"


@dataclass(frozen=True, slots=True)
class ChecklistConfig:
    """The call-shape checklist's thresholds: the pack's `[checklist]` table."""

    answer_s: float = DEFAULT_ANSWER_S
    upset_s: float = DEFAULT_UPSET_S
    upset_rules: tuple[str, ...] = DEFAULT_UPSET_RULES
    upset_moods: tuple[str, ...] = DEFAULT_UPSET_MOODS


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    detector: str
    text: str
    title: str = ""  # short readable name (chips, card headers, report); "" = from the id
    severity: Severity = "warn"
    priority: int = DEFAULT_PRIORITY
    cooldown_s: float = 0.0
    clears: bool = True
    ttl_s: float | None = None
    enabled: bool = True
    min_show_s: float | None = None  # None: the pack's min_show_s
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RulePack:
    name: str
    lang: str
    version: int
    rules: tuple[Rule, ...]
    phrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_active: int = DEFAULT_MAX_ACTIVE
    min_show_s: float = DEFAULT_MIN_SHOW_S
    source: str = ""
    checklist: ChecklistConfig = field(default_factory=ChecklistConfig)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def phrase_list(self, name: str) -> tuple[str, ...]:
        return tuple(self.phrases.get(name, ()))
