"""The one retry policy of tickplant, on tenacity: exponential backoff with jitter, a deadline and a
log line per retry. `retry_call` and `wait_until` wrap a call or a condition; `Backoff` hands the
same delays to loops that keep their own control flow (reconnects, restarts of supervised parts).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_random_exponential,
)

from core.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
# monotonic time until which a retry is part of an expected wait (a server starting): logged at DEBUG
_expected_until: contextvars.ContextVar[float] = contextvars.ContextVar("expected_until", default=0.0)


@contextlib.contextmanager
def expected_wait(seconds: float) -> Iterator[None]:
    """Retries inside this block during its first `seconds` are the normal wait of a start-up (a server
    that does not listen yet): their lines go to DEBUG. After that they are real retries again (INFO)."""
    token = _expected_until.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _expected_until.reset(token)


def jittered_wait(initial_s: float, maximum_s: float) -> Any:
    """Attempt n waits a uniform draw from [c/2, c], c = min(maximum, initial * 2**(n-1)): growing,
    capped, and spread so clients failing together do not retry in step."""
    if initial_s <= 0 or maximum_s < initial_s:
        raise ValueError("backoff needs 0 < initial <= maximum")
    return (wait_exponential(multiplier=initial_s / 2, max=maximum_s / 2)
            + wait_random_exponential(multiplier=initial_s / 2, max=maximum_s / 2))


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        reason = (str(error) or type(error).__name__).splitlines()[0][:200] if error else "not yet"
        level = logging.DEBUG if time.monotonic() < _expected_until.get() else logging.INFO
        log.log(level, "retrying", what=what, attempt=state.attempt_number,
                retry_in_s=round(state.upcoming_sleep, 2), reason=reason)
    return before_sleep


def policy(what: str, deadline_s: float, retry_on: tuple[type[BaseException], ...] = (Exception,),
           initial_s: float = 0.25, maximum_s: float = 5.0) -> Retrying:
    """Retry on `retry_on` until `deadline_s` has passed; the last error is raised as it was."""
    return Retrying(stop=stop_after_delay(deadline_s), wait=jittered_wait(initial_s, maximum_s),
                    retry=retry_if_exception_type(retry_on), before_sleep=_log_retry(what), reraise=True)


def retry_call(call: Callable[[], T], what: str, deadline_s: float,
               retry_on: tuple[type[BaseException], ...] = (Exception,),
               initial_s: float = 0.25, maximum_s: float = 5.0) -> T:
    """`call()` until it returns; errors of `retry_on` are retried with backoff until the deadline."""
    return policy(what, deadline_s, retry_on, initial_s, maximum_s)(call)


def wait_until(condition: Callable[[], T], timeout_s: float, what: str = "condition",
               initial_s: float = 0.1, maximum_s: float = 2.0) -> T:
    """Poll `condition` with backoff until it returns something truthy (returned); TimeoutError after
    `timeout_s`. An exception from `condition` is not retried: it ends the wait."""
    retrying = Retrying(stop=stop_after_delay(timeout_s), wait=jittered_wait(initial_s, maximum_s),
                        retry=retry_if_result(lambda value: not value), retry_error_callback=lambda _: None)
    value = retrying(condition)
    if not value:
        raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s")
    return value


class Backoff:
    """The policy's delays for a loop that owns its control flow: `next_delay()` after each failure,
    `reset()` after a success."""

    def __init__(self, initial_s: float = 0.5, maximum_s: float = 30.0) -> None:
        self._wait = jittered_wait(initial_s, maximum_s)
        self.attempts = 0

    def next_delay(self) -> float:
        self.attempts += 1
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = self.attempts
        return float(self._wait(state))

    def reset(self) -> None:
        self.attempts = 0
