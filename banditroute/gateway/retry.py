"""When to call the same model again after a failed call, and how long to wait first.

`RetryPolicy.should_retry` says whether a failed attempt may be repeated on the same model;
`RetryPolicy.delay` says how long to wait (exponential back-off with jitter, at least the
provider's ``Retry-After``); `fits` says whether that wait still leaves time before the deadline.
``math.inf`` from `delay` means "do not retry this model, fall back to the next one".

>>> import numpy as np
>>> from types import SimpleNamespace
>>> policy = RetryPolicy(max_attempts=3, base_delay_s=0.2, jitter=0.0)
>>> timeout = SimpleNamespace(retryable=True, retry_after_s=None)
>>> policy.should_retry(1, timeout), policy.should_retry(3, timeout)
(True, False)
>>> rng = np.random.default_rng(0)
>>> policy.delay(1, timeout, rng), policy.delay(2, timeout, rng)
(0.2, 0.4)
>>> policy.delay(1, SimpleNamespace(retryable=True, retry_after_s=2.5), rng)
2.5
>>> policy.delay(1, SimpleNamespace(retryable=True, retry_after_s=90.0), rng)
inf
>>> fits(0.4, deadline=10.0, now=9.0), fits(2.5, deadline=10.0, now=9.0)
(True, False)
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from pydantic import Field, model_validator

from .._validation import StrictModel
from ..errors import invalid

__all__ = ["RetryPolicy", "RetrySignal", "fits"]


class RetrySignal(Protocol):
    """What the retry logic reads from a failed call's error (duck-typed; any provider error)."""

    @property
    def retryable(self) -> bool: ...

    @property
    def retry_after_s(self) -> float | None: ...


def fits(delay: float, deadline: float | None, now: float) -> bool:
    """True when waiting ``delay`` seconds from ``now`` ends strictly before ``deadline``.

    Never sleep past the deadline: a wait that ends at or after it leaves no time for the call.
    ``deadline`` None means no deadline (any finite, non-negative delay fits).
    """
    if not (math.isfinite(delay) and delay >= 0):
        return False
    return deadline is None or now + delay < deadline


class RetryPolicy(StrictModel):
    """Retries of one model before the orchestration falls back to the next ranked model.

    Parameters
    ----------
    max_attempts : int >= 1
        Calls made to one model for one request, the first included (2 = one retry).
    base_delay_s : float >= 0
        Wait before the first retry; doubles at every further retry.
    max_delay_s : float >= base_delay_s
        Cap of the back-off (not of a provider's ``Retry-After``).
    jitter : float in [0, 1]
        The wait is drawn uniformly from ``[backoff * (1 - jitter), backoff]``, so concurrent
        callers do not retry in lock-step.
    max_retry_after_s : float >= 0
        Longest ``Retry-After`` honoured; a longer one makes `delay` return ``math.inf``
        (do not retry this model: fall back).
    """

    max_attempts: int = Field(default=2, ge=1)
    base_delay_s: float = Field(default=0.2, ge=0, allow_inf_nan=False)
    max_delay_s: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    jitter: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)
    max_retry_after_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError(f"max_delay_s must be >= base_delay_s ({self.base_delay_s:g})")
        return self

    def should_retry(self, attempt: int, error: RetrySignal) -> bool:
        """True when the ``attempt``-th call (1-based) failed retryably and attempts are left.

        A ``Retry-After`` longer than ``max_retry_after_s`` also means no retry on this model.
        """
        _check_attempt(attempt)
        if not error.retryable or attempt >= self.max_attempts:
            return False
        return math.isfinite(self._retry_after(error) or 0.0)

    def delay(self, attempt: int, error: RetrySignal, rng: np.random.Generator) -> float:
        """Seconds to wait before the next call after the ``attempt``-th call (1-based) failed.

        Exponential back-off ``base_delay_s * 2 ** (attempt - 1)`` capped at ``max_delay_s``,
        jittered downwards; at least the error's ``retry_after_s``. ``math.inf`` when the error
        is not retryable or its ``retry_after_s`` exceeds ``max_retry_after_s``.
        """
        _check_attempt(attempt)
        draw = float(rng.random())  # always drawn, so a seeded run repeats whatever the error
        if not error.retryable:
            return math.inf
        retry_after = self._retry_after(error)
        if retry_after is not None and math.isinf(retry_after):
            return math.inf
        exponent = min(attempt - 1, 64)  # 2 ** 64 * anything positive already exceeds the cap
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0**exponent)
        wait = backoff * (1.0 - self.jitter * draw)
        return max(wait, retry_after or 0.0)

    def fits(self, delay: float, deadline: float | None, now: float) -> bool:
        """Same as the module function `fits`."""
        return fits(delay, deadline, now)

    def _retry_after(self, error: RetrySignal) -> float | None:
        """The error's ``Retry-After`` clamped at 0; ``inf`` when beyond ``max_retry_after_s``."""
        value = error.retry_after_s
        if value is None or math.isnan(value):
            return None
        value = max(0.0, float(value))
        return math.inf if value > self.max_retry_after_s else value


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int | np.integer) or attempt < 1:
        raise invalid("attempt", attempt, "an int >= 1 (the 1-based number of the failed call)")
