"""Reconnect delays: exponential, capped, and jittered so a floor never retries in lockstep."""

from __future__ import annotations

import random
import statistics

import pytest

from assist.runtime.backoff import Backoff


def test_delays_double_up_to_the_cap_each_within_its_jitter_band() -> None:
    b = Backoff(base=0.2, cap=2.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    nominal = [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 2.0]
    assert all(d / 2 <= got <= d for got, d in zip(delays, nominal, strict=True))
    b.reset()
    assert 0.1 <= b.next() <= 0.2


def test_clients_that_fail_together_spread_out() -> None:
    """100 clients whose server restarted at the same instant: their 4th retry is spread over
    the whole band, not at one moment."""
    clients = [Backoff(base=0.2, cap=2.0, rng=random.Random(seed)) for seed in range(100)]
    fourth = [sum(c.next() for _ in range(4)) for c in clients]
    assert max(fourth) - min(fourth) > 0.8  # nominal total 3.0 s, band [1.5, 3.0]
    assert statistics.pstdev(fourth) > 0.2
    assert len({round(t, 3) for t in fourth}) > 90


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0, cap=1)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)
