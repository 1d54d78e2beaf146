"""Recognisers kept for reuse across calls: a fresh KaldiRecognizer costs several times more
CPU in its first seconds than one that is `reset()`.

Not thread-safe on purpose (the core has no locks): `assist.runtime.asr_worker` guards the shared
pool with a lock.
"""

from __future__ import annotations

from collections import defaultdict

from assist.asr.engine import Engine, Recognizer

MAX_IDLE_PER_KEY = 16


class RecognizerPool:
    def __init__(self, max_idle: int = MAX_IDLE_PER_KEY) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[Recognizer]] = defaultdict(list)
        self.created = 0
        self.reused = 0

    def acquire(self, engine: Engine, sample_rate: int) -> Recognizer:
        """A recogniser for `engine` at `sample_rate`, reused when one is idle."""
        idle = self._idle[(engine.name, sample_rate)]
        if idle:
            self.reused += 1
            return idle.pop()
        self.created += 1
        return engine.recognizer(sample_rate)

    def release(self, rec: Recognizer) -> None:
        """Reset `rec` and keep it for the next call (dropped beyond `max_idle`)."""
        rec.reset()
        idle = self._idle[(rec.engine, rec.sample_rate)]
        if len(idle) < self.max_idle:
            idle.append(rec)

    def idle(self) -> int:
        return sum(len(v) for v in self._idle.values())
