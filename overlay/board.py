"""The supervisor board: one summary per call, built from the event stream (no sockets).

A call is *flagged* while an alert-severity prompt is on screen or the customer has been
agitated for AGITATION_FLAG_S of audio time (meters `mood == "agitated"`, or an `agitation`
prompt still up), and for FLAG_HOLD_S after that ends so a supervisor glancing over still sees
it. Flagged calls sort first; then live before ended; then the most severe prompt on screen;
then the most prompts on screen; then the longest call (docs/protocol.md says the same).
Durations are audio time, so a fast demo shows the same numbers as a live call.

A flag says why it is up (`flag_title` / `flag_text`: the alert prompt's title and text; an
agitation flag: `flag_since`, when the agitation began) and, while it is only held,
`flag_cleared_at`: the audio time its cause ended, so the console never shows a bare "ALERT".

A SIPREC pause (a `recording` event with `paused`) is on the row (`paused`, `paused_since`,
then `resumed_at`), so a supervisor sees why a call went quiet (a card number being taken).

An ended call is never flagged: its prompts are gone, it sorts below the live calls, and it
stays on the board `keep_ended_s` of wall time (then it is dropped; `expire()`). A prompt its
call's end cleared without the agent acting on it counts as `missed`. The mood folds in
what the customer said: while a prompt about the customer being upset is on screen (UPSET_RULES)
the mood is "upset", whatever the voice measures, so the row never says "calm" beside it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assist.core.events import (
    CallEnded,
    CallStarted,
    Checklist,
    Event,
    Feedback,
    Meters,
    Prompt,
    PromptCleared,
    Recording,
    Speech,
    SupervisorAction,
    Transcript,
)

AGITATION_FLAG_S = 10.0
FLAG_HOLD_S = 15.0
SEVERITY_RANK = {"alert": 0, "warn": 1, "info": 2}
KEEP_ENDED_S = 300.0  # an ended call stays on the board this long (wall time), then goes
UPSET_RULES = frozenset({"negative_phrase", "agitation"})  # prompts that say "customer upset"
RECENT_SCORES = 10  # finished calls' checklist scores kept per agent


@dataclass
class CallSummary:
    call_id: str
    agent: str = ""
    remote: str = ""
    lang: str = ""
    source: str = ""
    live: bool = True
    duration_s: float = 0.0
    active: dict[str, dict[str, Any]] = field(default_factory=dict)  # prompt_id -> prompt
    last_prompt: dict[str, Any] | None = None
    mood: str | None = None
    agitated_since: float | None = None
    flag_reason: str | None = None
    flag_until: float = -1.0
    flag_title: str = ""  # what the flag is about, in words (the alert prompt's title)
    flag_text: str = ""  # the alert prompt's text
    flag_since: float | None = None  # audio time the cause began
    flag_cleared_at: float | None = None  # audio time the cause ended (None: still up)
    supervisor: str | None = None  # the mode a supervisor is connected in, if any
    ended_at: float | None = None  # wall clock (the board's clock) when call_ended came
    acted: set[str] = field(default_factory=set)  # prompt ids the agent gave feedback on
    missed: int = 0  # prompts the call's end cleared without the agent acting on them
    score: str = ""  # the call-shape checklist: items done / items decided ("5/7"; "-": none)
    missed_items: tuple[str, ...] = ()  # checklist items judged "no" so far
    paused_since: float | None = None  # audio time a SIPREC client paused the recording
    resumed_at: float | None = None  # audio time the last pause ended

    def agitated_for(self, now: float) -> float:
        since = [self.agitated_since] if self.agitated_since is not None else []
        since += [p["since"] for p in self.active.values() if p["rule"] == "agitation"]
        return now - min(since) if since else 0.0

    def _update_flag(self) -> None:
        if not self.live and self.ended_at is not None:  # an ended call raises no flag
            self.flag_reason = None
            self.flag_title = self.flag_text = ""
            self.flag_since = self.flag_cleared_at = None
            return
        now = self.duration_s
        alerts = [p for p in self.active.values() if p["severity"] == "alert"]
        reason = None
        if alerts:
            reason = "alert"
            newest = max(alerts, key=lambda p: p["since"])
            self.flag_title, self.flag_text = newest["title"], newest["text"]
            self.flag_since = min(p["since"] for p in alerts)
        elif self.agitated_for(now) >= AGITATION_FLAG_S:
            reason = "agitation"
            self.flag_title, self.flag_text = "", ""
            self.flag_since = now - self.agitated_for(now)
        if reason is not None:
            self.flag_reason, self.flag_until = reason, now + FLAG_HOLD_S
            self.flag_cleared_at = None
        elif self.flag_reason is not None and now > self.flag_until:
            self.flag_reason = None
            self.flag_title = self.flag_text = ""
            self.flag_since = self.flag_cleared_at = None
        elif self.flag_reason is not None and self.flag_cleared_at is None:
            self.flag_cleared_at = now

    @property
    def flagged(self) -> bool:
        return self.flag_reason is not None

    @property
    def shown_mood(self) -> str | None:
        """The voice's mood, unless a prompt on screen says the customer is upset."""
        if any(p["rule"] in UPSET_RULES for p in self.active.values()):
            return "upset"
        return self.mood

    def to_dict(self) -> dict[str, Any]:
        flags = sorted(
            self.active.values(), key=lambda p: (SEVERITY_RANK.get(p["severity"], 9), p["since"])
        )
        return {
            "call_id": self.call_id,
            "agent": self.agent,
            "remote": self.remote,
            "lang": self.lang,
            "source": self.source,
            "live": self.live,
            "duration_s": round(self.duration_s, 1),
            "flags": [
                {k: p[k] for k in ("prompt_id", "rule", "title", "text", "severity")} for p in flags
            ],
            "last_prompt": self.last_prompt,
            "mood": self.shown_mood,
            "voice_mood": self.mood,
            "ended": self.ended_at is not None,
            "missed": self.missed,
            "score": self.score,
            "missed_items": list(self.missed_items),
            "flagged": self.flagged,
            "flag_reason": self.flag_reason,
            "flag_title": self.flag_title,
            "flag_text": self.flag_text,
            "flag_since": self.flag_since,
            "flag_cleared_at": self.flag_cleared_at,
            "supervisor": self.supervisor,
            "paused": self.paused_since is not None,
            "paused_since": self.paused_since,
            "resumed_at": self.resumed_at,
        }

    def sort_key(self) -> tuple[int, int, int, int, float]:
        worst = min((SEVERITY_RANK.get(p["severity"], 9) for p in self.active.values()), default=9)
        return (not self.flagged, not self.live, worst, -len(self.active), -self.duration_s)


class CallBoard:
    """Folds events into call summaries; `apply` says whether the board changed."""

    def __init__(
        self, *, keep_ended_s: float = KEEP_ENDED_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.calls: dict[str, CallSummary] = {}
        self.recent: dict[str, deque[dict[str, Any]]] = {}  # agent -> finished calls' scores
        self.keep_ended_s = keep_ended_s
        self.clock = clock

    def expire(self) -> bool:
        """Drop the calls that ended more than keep_ended_s ago; whether any went."""
        cutoff = self.clock() - self.keep_ended_s
        old = [c for c, s in self.calls.items() if s.ended_at is not None and s.ended_at <= cutoff]
        for call_id in old:
            self.forget(call_id)
        return bool(old)

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def apply(self, event: Event) -> bool:
        s = self.calls.get(event.call_id)
        if s is None:
            s = self.calls[event.call_id] = CallSummary(event.call_id)
        s.duration_s = max(s.duration_s, event.t)
        match event.data:
            case CallStarted() as d:
                s.agent, s.remote, s.lang, s.source = d.agent, d.remote, d.lang, d.source
                s.live = True
            case Recording() as d:
                if d.agent:  # a SIPREC transfer moved the call
                    s.agent = d.agent
                if d.paused and s.paused_since is None:  # every `recording` says paused or not
                    s.paused_since = event.t
                elif not d.paused and s.paused_since is not None:
                    s.paused_since, s.resumed_at = None, event.t
            case CallEnded() as d:
                s.live = False
                s.duration_s = float(d.duration_s)
                s.ended_at = self.clock()
                s.missed += len(set(s.active) - s.acted)  # never cleared: missed all the same
                s.active.clear()
                s.agitated_since = None
                s.paused_since = None  # an ended call records nothing, paused or not
            case Prompt() as d:
                p = {
                    "prompt_id": d.prompt_id,
                    "rule": d.rule,
                    "text": d.text,
                    "severity": d.severity,
                    "title": d.title,
                    "since": event.t,
                }
                s.active[d.prompt_id] = p
                s.last_prompt = {k: p[k] for k in ("rule", "title", "text", "severity")}
                s.last_prompt["t"] = event.t
            case PromptCleared() as d:
                if s.active.pop(d.prompt_id, None) is not None and d.reason == "call_ended":
                    s.missed += int(d.prompt_id not in s.acted)
            case Meters() as d:
                if d.mood == "agitated" and s.mood != "agitated":
                    s.agitated_since = event.t
                elif d.mood != "agitated":
                    s.agitated_since = None
                s.mood = d.mood
            case SupervisorAction() as d:
                if d.mode == "off":  # asked for, hung up or failed: nobody is connected now
                    s.supervisor = None
                elif d.ok:
                    s.supervisor = d.mode
            case Feedback() as d:
                s.acted.add(d.prompt_id)
            case Checklist() as d:
                s.score = d.score
                s.missed_items = tuple(i.name for i in d.items if i.state == "no")
                if d.final and d.score != "-":
                    recent = self.recent.setdefault(s.agent, deque(maxlen=RECENT_SCORES))
                    if all(r["call_id"] != s.call_id for r in recent):
                        recent.appendleft(
                            {"call_id": s.call_id, "score": d.score, "missed": s.missed_items}
                        )
            case Speech() | Transcript():
                pass
            case _:
                return False
        s._update_flag()
        return event.type != "transcript"

    def snapshot(self, visible: Any = None) -> list[dict[str, Any]]:
        """Summaries sorted for display; `visible(summary)` filters (None: all)."""
        rows = [c for c in self.calls.values() if visible is None or visible(c)]
        out = []
        for c in sorted(rows, key=CallSummary.sort_key):
            d = c.to_dict()
            d["agent_recent"] = [
                {**r, "missed": list(r["missed"])} for r in self.recent.get(c.agent, ())
            ]
            out.append(d)
        return out
