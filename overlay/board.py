"""The supervisor board: one summary per call, built from the event stream (no sockets).

A call is *flagged* while an alert-severity prompt is on screen or the customer has been
agitated for AGITATION_FLAG_S of audio time (meters `mood == "agitated"`, or an `agitation`
prompt still up), and for FLAG_HOLD_S after that ends so a supervisor glancing over still sees
it. Flagged calls sort first; then calls with more severe prompts; then the newest.
Durations are audio time, so a fast demo shows the same numbers as a live call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.events import Event

AGITATION_FLAG_S = 10.0
FLAG_HOLD_S = 15.0
SEVERITY_RANK = {"alert": 0, "warn": 1, "info": 2}


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
    supervisor: str | None = None  # the mode a supervisor is connected in, if any

    def agitated_for(self, now: float) -> float:
        since = [self.agitated_since] if self.agitated_since is not None else []
        since += [p["since"] for p in self.active.values() if p["rule"] == "agitation"]
        return now - min(since) if since else 0.0

    def _update_flag(self) -> None:
        now = self.duration_s
        reason = None
        if any(p["severity"] == "alert" for p in self.active.values()):
            reason = "alert"
        elif self.agitated_for(now) >= AGITATION_FLAG_S:
            reason = "agitation"
        if reason is not None:
            self.flag_reason, self.flag_until = reason, now + FLAG_HOLD_S
        elif now > self.flag_until:
            self.flag_reason = None

    @property
    def flagged(self) -> bool:
        return self.flag_reason is not None

    def to_dict(self) -> dict[str, Any]:
        flags = sorted(
            self.active.values(), key=lambda p: (SEVERITY_RANK.get(p["severity"], 9), p["since"])
        )
        return {
            "call_id": self.call_id,
            "agent": self.agent,
            "remote": self.remote,
            "lang": self.lang,
            "live": self.live,
            "duration_s": round(self.duration_s, 1),
            "flags": [{k: p[k] for k in ("prompt_id", "rule", "text", "severity")} for p in flags],
            "last_prompt": self.last_prompt,
            "mood": self.mood,
            "flagged": self.flagged,
            "flag_reason": self.flag_reason,
            "supervisor": self.supervisor,
        }

    def sort_key(self) -> tuple[int, int, int, int, float]:
        worst = min((SEVERITY_RANK.get(p["severity"], 9) for p in self.active.values()), default=9)
        return (not self.flagged, not self.live, worst, -len(self.active), -self.duration_s)


class CallBoard:
    """Folds events into call summaries; `apply` says whether the board changed."""

    def __init__(self) -> None:
        self.calls: dict[str, CallSummary] = {}

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def apply(self, event: Event) -> bool:
        s = self.calls.get(event.call_id)
        if s is None:
            s = self.calls[event.call_id] = CallSummary(event.call_id)
        d = event.data
        s.duration_s = max(s.duration_s, event.t)
        kind = event.type
        if kind == "call_started":
            s.agent, s.remote = getattr(d, "agent", ""), getattr(d, "remote", "")
            s.lang, s.source, s.live = getattr(d, "lang", ""), getattr(d, "source", ""), True
        elif kind == "call_ended":
            s.live = False
            s.duration_s = float(getattr(d, "duration_s", s.duration_s))
        elif kind == "prompt":
            p = {
                "prompt_id": d.prompt_id,  # type: ignore[attr-defined]
                "rule": d.rule,  # type: ignore[attr-defined]
                "text": d.text,  # type: ignore[attr-defined]
                "severity": d.severity,  # type: ignore[attr-defined]
                "since": event.t,
            }
            s.active[p["prompt_id"]] = p
            s.last_prompt = {k: p[k] for k in ("rule", "text", "severity")} | {"t": event.t}
        elif kind == "prompt_cleared":
            s.active.pop(getattr(d, "prompt_id", ""), None)
        elif kind == "meters":
            mood = getattr(d, "mood", None)
            if mood == "agitated" and s.mood != "agitated":
                s.agitated_since = event.t
            elif mood != "agitated":
                s.agitated_since = None
            s.mood = mood
        elif kind == "supervisor_action":
            mode = getattr(d, "mode", "off")
            if mode == "off":  # asked for, hung up or failed: nobody is connected now
                s.supervisor = None
            elif getattr(d, "ok", False):
                s.supervisor = mode
        elif kind not in ("speech", "transcript", "feedback"):
            return False
        s._update_flag()
        return kind != "transcript"

    def snapshot(self, visible: Any = None) -> list[dict[str, Any]]:
        """Summaries sorted for display; `visible(summary)` filters (None: all)."""
        rows = [c for c in self.calls.values() if visible is None or visible(c)]
        return [c.to_dict() for c in sorted(rows, key=CallSummary.sort_key)]
