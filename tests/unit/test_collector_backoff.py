"""Reconnect backoff: exponential, capped, jittered, reset after success."""

from __future__ import annotations

import random

import pytest

from collector.backoff import Backoff


def test_delays_grow_exponentially_up_to_the_cap_with_jitter():
    backoff = Backoff(initial_s=0.5, maximum_s=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 8.0 and delays[-1] >= 4.0


def test_jitter_spreads_clients_that_fail_together():
    delays = {round(Backoff(1, 30, rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(delays) == 20


def test_reset_starts_again_from_the_initial_delay():
    backoff = Backoff(initial_s=1.0, maximum_s=30.0)
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_invalid_backoff_is_refused():
    with pytest.raises(ValueError):
        Backoff(initial_s=0)
