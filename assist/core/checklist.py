"""The call-shape checklist, live and after the call: each item pending / yes / no while the call
goes, and yes / no / n/a at its end, with the moment that decided it.

`Tracker` is pure and incremental: feed it a call's event envelopes in order (dicts, the
`assist calls export` format), get back the items that changed. The session runs one per call
and sends a `checklist` event when an item changes; `checklist(events, pack)` feeds a stored
call through the same Tracker, so the overlay and the report give the same verdicts.

- "no" at the moment the item's prompt fired (the word cues judge); nothing turns it back.
- "yes" as soon as the agent is heard doing it (the phrase lists the item's rule uses).
- At the call's end: a number the customer gave and the agent never said back is "no" (the
  same test as live, closing heard or not); "anything else" and "thanked" still pending are
  n/a (no closing was heard to judge them by); the greeting and the restatement still
  pending that applied (the call got far enough for them) are "yes", the rule engine being
  the judge of "no". Else n/a.
- Answered promptly: SIP ringing to answer within `[checklist] answer_s`.
- Who hung up comes from a `hangup` event (SIP knows; a recording or a demo does not: n/a).
  The customer was upset at the hang-up when an `upset_rules` prompt fired, or the voice mood
  was one of `upset_moods`, within `upset_s` before it; only then does "never hung up on an
  upset customer" apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from assist.core import numbers, phrases
from assist.core.events import ChecklistItem, ChecklistState
from assist.core.pack import RulePack

Verdict = ChecklistState
# item -> the rule whose prompt means "no"
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
PIN_MIN_DIGITS = 5  # packs without a confirm_numbers rule: a number this long is pinned


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    verdict: Verdict
    t: float | None = None  # the moment that decided it (call audio seconds)
    detail: str = ""  # numbers_read_back: the number to read back

    def to_event(self) -> ChecklistItem:
        return ChecklistItem(name=self.name, state=self.verdict, t=self.t, detail=self.detail)


def _lists(pack: RulePack, rule_id: str, *keys: str) -> tuple[str, ...]:
    """The phrases of a rule's phrase-list params (comma-separated list names); () if the pack
    has no such rule."""
    rule = next((r for r in pack.rules if r.id == rule_id and r.enabled), None)
    if rule is None:
        return ()
    out: list[str] = []
    for key in keys:
        for name in str(rule.params.get(key, "")).split(","):
            out += pack.phrase_list(name.strip())
    return tuple(out)


class Tracker:
    """One call's checklist, fed event by event (`feed`), ended by the `call_ended` event."""

    def __init__(self, pack: RulePack) -> None:
        self.lang = pack.lang
        self.cfg = pack.checklist
        self.items = {name: Item(name, "pending") for name in ITEMS}
        self.ended = False
        self._has_rule = {r.id for r in pack.rules if r.enabled}
        self._ratio = {
            r.id: float(r.params.get("min_ratio", phrases.DEFAULT_MIN_RATIO)) for r in pack.rules
        }
        self._company = _lists(pack, "greeting", "company")
        greeting = next((r for r in pack.rules if r.id == "greeting"), None)
        self._company_by_sound = bool(greeting and greeting.params.get("company_by_sound"))
        self._name = _lists(pack, "greeting", "name")
        self._complaint = _lists(pack, "restate", "complaint")
        self._restate = _lists(pack, "restate", "restate")
        self._anything = _lists(pack, "anything_else", "required")
        self._thanks = _lists(pack, "thank_before_goodbye", "required")
        self._context = _lists(pack, "confirm_numbers", "context")
        numbers_rule = next((r for r in pack.rules if r.id == "confirm_numbers"), None)
        p = numbers_rule.params if numbers_rule is not None else {}
        self._min_digits = int(p.get("min_digits", PIN_MIN_DIGITS))
        # the rule's evidence for a number given (numbers.given); without the rule: long ones
        self._alone = int(p.get("min_digits_alone", 0)) if p else PIN_MIN_DIGITS
        self._min_conf = float(p.get("min_conf", 0.0))
        self._unsure = float(p.get("unsure_below", 0.0))
        self._per_edit = int(p.get("digits_per_edit", 0))
        self._ringing: float | None = None
        self._answered = False
        self._agent: list[tuple[float, str]] = []  # the agent's finals (t, text)
        self._asked = ""  # the agent's last final: "what's your phone number?" is context
        self._customer_spoke = False
        self._first_turn: list[str] = []  # the agent's finals before the customer's first
        self._complaint_at: float | None = None
        # numbers the customer gave -> (when, as heard: unsure digits in brackets, "[4729]183")
        self._given: dict[str, tuple[float, str]] = {}
        self._said: list[str] = []  # numbers the agent said, in order
        self._upset_at: float | None = None

    # -- feeding -------------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> list[Item]:
        """Take one event envelope; the items it changed (in `ITEMS` order)."""
        if self.ended:
            return []
        before = dict(self.items)
        kind, t, data = event.get("type"), float(event.get("t", 0.0)), event.get("data", {})
        if kind == "call_state":
            self._call_state(str(data.get("state")), t)
        elif kind == "prompt":
            self._prompt(str(data.get("rule")), t)
        elif kind == "meters":
            if data.get("mood") in self.cfg.upset_moods:
                self._upset_at = t
        elif kind == "transcript" and data.get("kind") == "final":
            text = str(data.get("text", ""))
            if data.get("speaker") == "agent":
                self._agent_said(text, t)
            elif data.get("speaker") == "customer":
                words = [
                    (str(w.get("w", "")), w.get("conf"))
                    for w in data.get("words") or ()
                    if isinstance(w, Mapping)
                ]
                self._customer_said(text, t, words)
        elif kind == "hangup":
            self._hangup(str(data.get("by")), t)
        elif kind == "call_ended":
            self._finish(t)
        return [self.items[n] for n in ITEMS if self.items[n] != before[n]]

    def _set(self, name: str, verdict: Verdict, t: float | None, detail: str | None = None) -> None:
        item = self.items[name]
        if item.verdict in ("no", "n/a"):
            return  # a prompt's "no" (or a hang-up's n/a) is never taken back
        keep = item.detail if detail is None else detail
        self.items[name] = Item(name, verdict, None if t is None else round(t, 3), keep)

    def _find(
        self, rule: str, text: str, entries: tuple[str, ...], *, by_sound: bool = False
    ) -> bool:
        if not entries:
            return False
        ratio = self._ratio.get(rule, phrases.DEFAULT_MIN_RATIO)
        return bool(phrases.find(text, entries, min_ratio=ratio, by_sound=by_sound))

    def _call_state(self, state: str, t: float) -> None:
        if state == "ringing" and self._ringing is None:
            self._ringing = t
        elif state == "confirmed" and not self._answered:
            self._answered = True
            if self._ringing is not None:
                ok = t - self._ringing <= self.cfg.answer_s
                self._set("answered_promptly", "yes" if ok else "no", t)

    def _prompt(self, rule: str, t: float) -> None:
        for name, prompt in BY_PROMPT.items():
            if prompt == rule:
                self._set(name, "no", t)
        if rule in self.cfg.upset_rules:
            self._upset_at = t

    def _agent_said(self, text: str, t: float) -> None:
        self._agent.append((t, text))
        self._asked = text
        if not self._customer_spoke:
            self._first_turn.append(text)
            if "greeting" not in self._has_rule:
                self._set("greeting", "yes", t)
            turn = " ".join(self._first_turn)
            by_sound = self._company_by_sound
            if self._find("greeting", turn, self._company, by_sound=by_sound) and self._find(
                "greeting", turn, self._name
            ):
                self._set("greeting", "yes", t)
        if self._complaint_at is not None and self._find("restate", text, self._restate):
            self._set("restated", "yes", t)
        self._said += numbers.extract(text, self.lang, min_digits=self._min_digits)
        if self._given and self._unread() == []:
            self._set("numbers_read_back", "yes", t)
        if len(self._agent) >= 2:  # the first turn is a greeting, not a closing
            if self._find("anything_else", text, self._anything):
                self._set("anything_else_asked", "yes", t)
            if self._find("thank_before_goodbye", text, self._thanks):
                self._set("thanked", "yes", t)

    def _customer_said(
        self, text: str, t: float, words: Sequence[tuple[str, float | None]] = ()
    ) -> None:
        """A number the customer gave is judged as the `confirm_numbers` rule judges it."""
        self._customer_spoke = True
        if self._complaint_at is None and self._find("restate", text, self._complaint):
            self._complaint_at = t
        found = numbers.given_in(
            text,
            self._asked,
            self.lang,
            mentions=(
                (lambda s: self._find("confirm_numbers", s, self._context))
                if self._context
                else None
            ),
            words=words,
            min_digits=self._min_digits,
            unsure_below=self._unsure,
            min_conf=self._min_conf,
            min_digits_alone=self._alone,
        )
        for c in found:
            self._given.setdefault(c.digits, (t, numbers.shown(c)))
        unread = self._unread()
        if unread:  # pinned: "Read back 4729183" (as heard, as the prompt shows it) until said
            at, shown = self._given[unread[0]]
            self._set("numbers_read_back", "pending", at, shown)

    def _unread(self) -> list[str]:
        slack = self._per_edit
        return [
            d for d in self._given if not numbers.read_back(d, self._said, digits_per_edit=slack)
        ]

    def _hangup(self, by: str, t: float) -> None:
        if by not in ("agent", "customer"):
            self._set("customer_hung_up_first", "n/a", None)
            self._set("not_hung_up_on_upset", "n/a", None)
            return
        self._set("customer_hung_up_first", "yes" if by == "customer" else "no", t)
        upset = self._upset_at is not None and t - self._upset_at <= self.cfg.upset_s
        if upset:
            self._set("not_hung_up_on_upset", "yes" if by == "customer" else "no", t)
        else:
            self._set("not_hung_up_on_upset", "n/a", None)

    def _finish(self, t: float) -> None:
        """The call ended: a number given and never said back is "no" now, whether or not
        closing was heard (the customer hung up, or the closing's audio was lost); the two
        closing items still pending are n/a (no closing was heard to judge them by: they
        used to turn "yes" on calls whose agent was never heard asking or thanking); any
        other pending item that applied is "yes" (no prompt said "no"), the rest n/a."""
        self.ended = True
        unread = self._unread()
        if unread:
            self._set("numbers_read_back", "no", t, self._given[unread[0]][1])
        applied: dict[str, float | None] = {
            "greeting": self._agent[0][0] if self._agent else None,
            "restated": self._complaint_at,
        }
        for name in ITEMS:
            if self.items[name].verdict != "pending":
                continue
            at = applied.get(name)
            if at is None:
                self.items[name] = replace(self.items[name], verdict="n/a", t=None)
            else:
                self._set(name, "yes", at)

    @property
    def score(self) -> str:
        return score(list(self.items.values()))

    def snapshot(self) -> list[Item]:
        return [self.items[n] for n in ITEMS]


def checklist(events: Sequence[Mapping[str, Any]], pack: RulePack) -> list[Item]:
    """Every item of `ITEMS` for one call's stored events, in order: the live Tracker fed the
    whole call (a call without `call_ended`, e.g. interrupted, is finished all the same)."""
    tracker = Tracker(pack)
    for e in events:
        tracker.feed(e)
    if not tracker.ended:
        tracker.feed({"type": "call_ended", "t": events[-1]["t"] if events else 0.0})
    return tracker.snapshot()


def stored(events: Sequence[Mapping[str, Any]]) -> list[Item] | None:
    """The final checklist the call's own session sent (its pack's verdicts), if it has one
    (calls recorded before the checklist went live have none: judge them with `checklist`)."""
    for e in reversed(events):
        if e.get("type") == "checklist" and e["data"].get("final"):
            return [
                Item(str(i["name"]), i["state"], i.get("t"), str(i.get("detail", "")))
                for i in e["data"].get("items", [])
            ]
    return None


def score(items: Sequence[Item]) -> str:
    """ "yes/decided" ("4/5"), or "-" when no item is decided yet (or none applied)."""
    judged = [i for i in items if i.verdict in ("yes", "no")]
    if not judged:
        return "-"
    return f"{sum(i.verdict == 'yes' for i in judged)}/{len(judged)}"
