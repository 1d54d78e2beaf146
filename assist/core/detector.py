"""The detector mechanism: the base class every detector family subclasses, and its registry.

Rules (data) name a detector; the pack loader validates their params against the detector's
declared `params`, and the engine asks each detector for a `Condition` at every evaluation.
Kept apart from the engine so detectors and the pack loader import it, not each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from assist.core.context import Context
from assist.core.pack import Rule, RulePack


@dataclass(frozen=True, slots=True)
class Condition:
    """A detector's verdict that its rule's condition holds now; `values` fill text/evidence."""

    values: Mapping[str, Any] = field(default_factory=dict)


class Detector:
    """Mechanism behind one or more rules. Subclasses register under `name`.

    `params` maps each accepted parameter to its type and default (None = required); the pack
    loader validates rule params against it, so a typo in a rule file is an error, not a no-op.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, tuple[type | tuple[type, ...], Any]]] = {}
    registry: ClassVar[dict[str, type[Detector]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            Detector.registry[cls.name] = cls

    def __init__(self, rule: Rule, pack: RulePack) -> None:
        self.rule = rule
        self.pack = pack
        self.p: dict[str, Any] = {k: v[1] for k, v in self.params.items()}
        self.p.update(rule.params)

    def check(self, ctx: Context) -> Condition | None:
        raise NotImplementedError
