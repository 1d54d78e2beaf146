"""The call-shape checklist after a call: each item yes / no / n/a, with the moment that decided it.

Pure arithmetic over a call's stored event envelopes (the `assist calls export` format): the
word cues already judge most items live, so an item is "no" at the moment its prompt fired,
"yes" when the call got far enough for it to apply and no prompt fired, else not applicable.
Who hung up is not recorded yet: those items are n/a (see issue 22).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assist.core import numbers

ANSWER_S = 15.0  # ringing to answered: "promptly" (about three rings)
Verdict = Literal["yes", "no", "n/a"]
# item -> the prompt that means "no"
BY_PROMPT = {
    "greeting": "greeting",
    "restated": "restate",
    "numbers_read_back": "confirm_numbers",
    "anything_else_asked": "anything_else",
    "thanked": "thank_before_goodbye",
}
ITEMS = (
    "answered_promptly",
    "greeting",
    "restated",
    "numbers_read_back",
    "anything_else_asked",
    "thanked",
    "customer_hung_up_first",
    "not_hung_up_on_upset",
)


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    verdict: Verdict
    t: float | None = None  # the moment that decided it (call audio seconds)


def _finals(events: Sequence[Mapping[str, Any]], speaker: str) -> list[Mapping[str, Any]]:
    return [
        e
        for e in events
        if e.get("type") == "transcript"
        and e["data"].get("kind") == "final"
        and e["data"].get("speaker") == speaker
    ]


def checklist(events: Sequence[Mapping[str, Any]], lang: str = "en") -> list[Item]:
    """Every item of `ITEMS` for one call's events, in order."""
    prompts: dict[str, float] = {}
    for e in events:
        if e.get("type") == "prompt":
            prompts.setdefault(str(e["data"].get("rule")), float(e["t"]))
    agent, customer = _finals(events, "agent"), _finals(events, "customer")
    out = [_answered(events)]
    for name in ("greeting", "restated", "numbers_read_back", "anything_else_asked", "thanked"):
        rule = BY_PROMPT[name]
        if rule in prompts:
            out.append(Item(name, "no", prompts[rule]))
            continue
        applies = _applies(name, prompts, agent, customer, lang)
        out.append(Item(name, "yes", applies) if applies is not None else Item(name, "n/a"))
    out += [Item("customer_hung_up_first", "n/a"), Item("not_hung_up_on_upset", "n/a")]
    return out


def _answered(events: Sequence[Mapping[str, Any]]) -> Item:
    ringing = confirmed = None
    for e in events:
        if e.get("type") == "call_state":
            state = e["data"].get("state")
            if state == "ringing" and ringing is None:
                ringing = float(e["t"])
            elif state == "confirmed" and confirmed is None:
                confirmed = float(e["t"])
    if ringing is None or confirmed is None:
        return Item("answered_promptly", "n/a")  # a recorded call (demo) or never answered
    ok = confirmed - ringing <= ANSWER_S
    return Item("answered_promptly", "yes" if ok else "no", confirmed)


def _applies(
    name: str,
    prompts: Mapping[str, float],
    agent: Sequence[Mapping[str, Any]],
    customer: Sequence[Mapping[str, Any]],
    lang: str,
) -> float | None:
    """When the item applied without its prompt (a "yes"), or None (n/a)."""
    if name == "greeting":
        return float(agent[0]["t"]) if agent else None
    if name == "restated":
        return prompts.get("negative_phrase")  # only a complaint needs restating
    if name == "numbers_read_back":
        for f in customer:
            if numbers.extract(str(f["data"].get("text", "")), lang, min_digits=5):
                return float(f["t"])
        return None
    # anything else / thanks: the call went past the greeting to a closing
    return float(agent[-1]["t"]) if len(agent) >= 2 else None


def score(items: Sequence[Item]) -> str:
    """"yes/judged" ("4/5"), or "-" when nothing applied."""
    judged = [i for i in items if i.verdict != "n/a"]
    if not judged:
        return "-"
    return f"{sum(i.verdict == 'yes' for i in judged)}/{len(judged)}"
