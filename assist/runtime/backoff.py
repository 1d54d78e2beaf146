"""Jittered exponential backoff for reconnect loops.

When a shared server (a PBX, the floor's Redis) restarts, every client on the floor notices in
the same instant; retrying on a fixed schedule would bring them all back in lockstep, again and
again. Each delay is drawn from [d/2, d] where d doubles per failure up to `cap` ("equal
jitter"): never shorter than half the nominal delay, never in step with another client.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive failures; `reset()` after a success."""

    def __init__(self, *, base: float, cap: float, rng: random.Random | None = None) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt (and count one more failure)."""
        nominal = min(self.cap, self.base * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return nominal / 2 + self._rng.uniform(0, nominal / 2)

    def reset(self) -> None:
        self.failures = 0
