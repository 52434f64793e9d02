"""The one retry policy: exponential, capped, jittered delays; deadlines; a log line per retry."""

from __future__ import annotations

import logging
import time

import pytest

from core.retry import Backoff, expected_wait, retry_call, wait_until


def test_delays_grow_exponentially_up_to_the_cap_with_jitter():
    backoff = Backoff(initial_s=0.5, maximum_s=8.0)
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 8.0 and delays[-1] >= 4.0


def test_jitter_spreads_clients_that_fail_together():
    delays = {round(Backoff(1, 30).next_delay(), 9) for _ in range(20)}
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


def test_retry_call_retries_the_named_errors_then_returns(caplog):
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("refused")
        return "ok"

    assert retry_call(flaky, "flaky service", deadline_s=10, retry_on=(ConnectionError,), initial_s=0.01) == "ok"
    assert len(calls) == 3


def test_retry_call_raises_the_last_error_after_the_deadline():
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="still refused"):
        retry_call(lambda: (_ for _ in ()).throw(ConnectionError("still refused")), "down service",
                   deadline_s=0.5, retry_on=(ConnectionError,), initial_s=0.05, maximum_s=0.1)
    assert time.monotonic() - started < 2.0


def test_retry_call_does_not_retry_other_errors():
    calls = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retry_call(broken, "buggy", deadline_s=5, retry_on=(ConnectionError,))
    assert len(calls) == 1


def test_wait_until_returns_the_first_truthy_value_and_times_out_otherwise():
    values = iter([0, None, 7])
    assert wait_until(lambda: next(values), timeout_s=5, initial_s=0.01) == 7
    with pytest.raises(TimeoutError, match="the flag not reached within 0s"):
        wait_until(lambda: False, timeout_s=0.3, what="the flag", initial_s=0.05)


def _retry_records(caplog) -> list:
    return [record for record in caplog.records if record.getMessage() == "retrying"]


def test_retries_of_an_expected_wait_are_logged_at_debug_only(caplog):
    calls = []

    def starting() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("nothing listens on 127.0.0.1:9042")
        return "up"

    caplog.set_level(logging.DEBUG, logger="core.retry")
    with expected_wait(60):
        assert retry_call(starting, "cassandra start", 10, retry_on=(ConnectionError,), initial_s=0.01) == "up"
    assert [record.levelno for record in _retry_records(caplog)] == [logging.DEBUG, logging.DEBUG]


def test_retries_past_the_expected_wait_and_outside_it_are_logged_at_info(caplog):
    def refused() -> str:
        raise ConnectionError("refused")

    caplog.set_level(logging.DEBUG, logger="core.retry")
    with expected_wait(0), pytest.raises(ConnectionError):
        retry_call(refused, "slow start", deadline_s=0.2, retry_on=(ConnectionError,), initial_s=0.05, maximum_s=0.1)
    after_the_wait = _retry_records(caplog)
    caplog.clear()
    with pytest.raises(ConnectionError):
        retry_call(refused, "real retry", deadline_s=0.2, retry_on=(ConnectionError,), initial_s=0.05, maximum_s=0.1)
    assert after_the_wait and all(record.levelno == logging.INFO for record in after_the_wait)
    assert _retry_records(caplog) and all(record.levelno == logging.INFO for record in _retry_records(caplog))
