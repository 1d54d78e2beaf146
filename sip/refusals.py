"""Refused INVITEs, said once per kind and window: a flood must not flood stderr and the events.

Why: every refused INVITE was one stderr line and one `error` event, so a client (or an attacker)
sending INVITEs as fast as it can wrote as fast into stderr, the event stream, the store and the
floor. Now the first refusal of a kind in a window says itself, whole (who, status, why); the
others of that kind in the window are counted, and when the window has passed (or the server
stops) one line says how many: `… and 57 more refused INVITEs (503 full) in the last 10 s`.
So a sustained flood gives at most two lines per kind per window, and the totals stay exact.

A kind is the refusal's status and cause: `503 full`, `503 too fast`, `503 shutting down`, and
for a body we cannot record its status and reason (`488 3 audio streams ...`): each distinct
client error stays visible once per window. At most MAX_KINDS kinds speak per window; refusals
of further kinds are counted under `other`, so varied reasons (an XML error's line and column)
cannot flood either. Wall-clock (monotonic) time: this is the SIP adapter, not the core.
The same bounds each session's mid-call errors (an SBC re-sending broken metadata in every
UPDATE): `noun` names what is counted. Not thread-safe: the recording server calls it on its SIP
thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 10.0  # refusals of one kind after its first, counted for this long, then one line
MAX_KINDS = 8  # kinds that say themselves within a window; further ones are counted as `other`
OTHER = "other"


@dataclass(slots=True)
class _Tally:
    since: float  # when the first refusal of this kind in the window was said
    more: int = 0  # refusals of this kind since, not said


class RefusalLog:
    """`say(line)` for the first refusal of a kind per window and for each window's count."""

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        window_s: float = WINDOW_S,
        max_kinds: int = MAX_KINDS,
        clock: Callable[[], float] = time.monotonic,
        noun: str = "refused INVITEs",
    ) -> None:
        if window_s <= 0 or max_kinds < 1:
            raise ValueError("window_s must be > 0 and max_kinds >= 1")
        self.say = say
        self.window_s = window_s
        self.max_kinds = max_kinds
        self.clock = clock
        self.noun = noun  # what the count line counts
        self.total = 0  # every refusal, said or counted
        self._tallies: dict[str, _Tally] = {}

    def refused(self, kind: str, line: str) -> None:
        """One refused INVITE of `kind` (a short label); `line` says it whole."""
        now = self.clock()
        self.total += 1
        self.flush(now)
        tally = self._tallies.get(kind)
        if tally is None and len(self._tallies) >= self.max_kinds:
            kind, tally = OTHER, self._tallies.get(OTHER)
            if tally is None:  # the `other` tally starts counted: its first is not said
                self._tallies[OTHER] = _Tally(now, 1)
                return
        if tally is None:
            self._tallies[kind] = _Tally(now)
            self.say(line)
        else:
            tally.more += 1

    def flush(self, now: float | None = None, *, everything: bool = False) -> None:
        """Say the counts of windows that have passed (all of them with `everything`: at
        the end); call it now and then (the server's watch, every 0.5 s)."""
        now = self.clock() if now is None else now
        for kind, tally in list(self._tallies.items()):
            age = now - tally.since
            if not everything and age < self.window_s:
                continue
            del self._tallies[kind]
            if tally.more:
                seconds = max(1, round(min(age, self.window_s)))
                self.say(f"… and {tally.more} more {self.noun} ({kind}) in the last {seconds} s")
