"""Typed errors of provider calls, the HTTP-status mapping and ``Retry-After`` parsing.

Every error says whether trying again can help (``retryable``), which model failed and, for
HTTP failures, the status. Messages hold at most ~200 characters of a provider's error body and
never an API key.

>>> from banditroute.gateway.errors import error_for_status, parse_retry_after
>>> err = error_for_status(429, "slow down", model="gpt-x", retry_after_s=parse_retry_after("2"))
>>> type(err).__name__, err.retryable, err.retry_after_s, str(err)
('ProviderRateLimited', True, 2.0, 'gpt-x: HTTP 429: slow down')
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Sequence
from typing import ClassVar

from ..errors import BanditRouteError

__all__ = [
    "AllAttemptsFailed",
    "DeadlineExceeded",
    "MalformedResponse",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderModelNotFound",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "error_for_status",
    "excerpt",
    "parse_retry_after",
]

EXCERPT_CHARS = 200


class ProviderError(BanditRouteError):
    """A call to a model provider failed.

    Parameters
    ----------
    message : str
        What went wrong (no secrets; at most an excerpt of the provider's body).
    model : str, optional
        The registry id of the model called; shown as a prefix of ``str(error)``.
    status : int, optional
        The HTTP status, when the provider answered with one.
    retry_after_s : float, optional
        How long the provider asked to wait before the next call (``Retry-After``).
    """

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message: str = self.args[0]  # secrets redacted by BanditRouteError
        self.model = model
        self.status = status
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"{self.model}: {self.message}" if self.model else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, model={self.model!r}, status={self.status!r})"
        )


class ProviderTimeout(ProviderError):
    """The provider did not answer within the connection's ``timeout_s``; retryable."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """HTTP 5xx, a refused / reset connection or an overloaded provider; retryable."""

    retryable = True


class ProviderRateLimited(ProviderError):
    """HTTP 429; ``retry_after_s`` holds the provider's ``Retry-After`` when it sent one."""

    retryable = True


class MalformedResponse(ProviderError):
    """The provider answered, but the body could not be read (bad JSON, missing fields, too big,
    a stream cut short); retryable."""

    retryable = True


class ProviderAuthError(ProviderError):
    """HTTP 401 / 403, or the API-key environment variable is not set; permanent."""


class ProviderBadRequest(ProviderError):
    """The provider refused the request (HTTP 4xx other than 401/403/404/408/429); permanent."""


class ProviderModelNotFound(ProviderError):
    """HTTP 404: the provider does not know the model (or the base URL is wrong); permanent."""


class DeadlineExceeded(ProviderError):
    """The call's total deadline passed before a complete answer arrived; not retried."""


class AllAttemptsFailed(BanditRouteError):
    """Every attempt of one completion failed; ``attempts`` holds their errors in order.

    Parameters
    ----------
    attempts : sequence of ProviderError
        One error per attempt (each names its model).
    """

    def __init__(self, attempts: Sequence[ProviderError]) -> None:
        self.attempts = tuple(attempts)
        lines = [f"  {type(e).__name__}: {e}" for e in self.attempts]
        head = f"all {len(self.attempts)} attempt(s) failed"
        super().__init__(head + (":\n" + "\n".join(lines) if lines else ""))

    @property
    def last(self) -> ProviderError | None:
        """The error of the final attempt (None when nothing was attempted)."""
        return self.attempts[-1] if self.attempts else None


def excerpt(text: str, secret: str | None = None, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, at most ``limit`` characters, with ``secret`` blanked out.

    >>> excerpt("bad key sk-123 given", secret="sk-123")
    'bad key [redacted] given'
    >>> len(excerpt("x" * 500))
    200
    """
    if secret:
        text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if secret and secret in text:  # the cut cannot rebuild it, but stay safe
        text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay seconds or an HTTP-date.

    ``now`` is the current wall-clock time (``time.time()`` by default). Unreadable values give
    None; dates in the past give 0.

    >>> parse_retry_after("120")
    120.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def error_for_status(
    status: int,
    message: str,
    *,
    model: str | None = None,
    retry_after_s: float | None = None,
    error_class: type[ProviderError] | None = None,
) -> ProviderError:
    """The typed error for an HTTP error status (message already excerpted and redacted);
    ``error_class`` overrides the class chosen from the status.

    >>> [type(error_for_status(s, "")).__name__ for s in (401, 404, 400, 503)]
    ['ProviderAuthError', 'ProviderModelNotFound', 'ProviderBadRequest', 'ProviderUnavailable']
    """
    cls: type[ProviderError]
    if error_class is not None:
        cls = error_class
    elif status == 429:
        cls = ProviderRateLimited
    elif status in (401, 403):
        cls = ProviderAuthError
    elif status == 404:
        cls = ProviderModelNotFound
    elif status == 408:
        cls = ProviderTimeout
    elif status >= 500:
        cls = ProviderUnavailable
    else:
        cls = ProviderBadRequest
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    return cls(text, model=model, status=status, retry_after_s=retry_after_s)
