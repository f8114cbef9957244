"""Keeping the decision log's writer going on a broken store: back-off between attempts,
rate-limited warnings, the writer's settings checks and the counters a store reports.

>>> backoff = Backoff(base_s=1.0, max_s=8.0)
>>> [backoff.failed(now=0.0) for _ in range(5)]
[1.0, 2.0, 4.0, 8.0, 8.0]
>>> backoff.due(now=7.0), backoff.due(now=8.0)
(False, True)
>>> backoff.succeeded(); backoff.failures, backoff.due(now=0.0)
(0, True)
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from ..errors import check_number, invalid
from ..text import library_logger

__all__ = ["LOGGER", "Backoff", "RateLimitedLog", "WriterStats", "check_count", "check_seconds"]

LOGGER = library_logger("banditroute.store")


@dataclass(frozen=True)
class WriterStats:
    """What the decision log's writer has done with the rows it was given.

    Attributes
    ----------
    queued_rows : int
        Rows in memory now, waiting to be written.
    written_rows : int
        Rows written (decisions, registry snapshots, drift events, calls; late outcomes not
        counted).
    dropped_rows : int
        Oldest rows dropped because more than ``max_queued`` were waiting (store not writable).
    unwritable_rows : int
        Rows dropped because their data cannot be stored (e.g. a value of the wrong type);
        they never block the other rows.
    lost_rows : int
        Rows still queued when `close` gave up on an unwritable store.
    failures : int
        Consecutive failed writes (0 when the last write worked).
    last_error : str or None
        The message of the last failed write (None after a write that worked).
    """

    queued_rows: int
    written_rows: int
    dropped_rows: int
    unwritable_rows: int
    lost_rows: int
    failures: int
    last_error: str | None


class Backoff:
    """Exponential back-off between failed attempts: ``base_s``, twice that, ... up to ``max_s``.

    Parameters
    ----------
    base_s, max_s : float
        First and longest wait after a failure.
    """

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.failures = 0
        self.next_try = -math.inf  # time.monotonic() from which the next attempt is due

    def failed(self, now: float | None = None) -> float:
        """One more failure; returns the wait before the next attempt."""
        now = time.monotonic() if now is None else now
        self.failures += 1
        delay = min(self.max_s, self.base_s * 2.0 ** min(self.failures - 1, 60))
        self.next_try = now + delay
        return delay

    def succeeded(self) -> None:
        """An attempt worked: the next one is due at once."""
        self.failures = 0
        self.next_try = -math.inf

    def due(self, now: float | None = None) -> bool:
        """True once the wait after the last failure is over."""
        return (time.monotonic() if now is None else now) >= self.next_try

    def wait_s(self, default: float, now: float | None = None) -> float:
        """How long to sleep before the next attempt: ``default`` unless backing off."""
        if self.failures == 0:
            return default
        return max(0.0, self.next_try - (time.monotonic() if now is None else now))


class RateLimitedLog:
    """Warnings through the ``banditroute.store`` logger, each kind at most once per
    ``every_s`` seconds (the first of a streak always), so a broken store does not flood logs.
    """

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def warning(self, kind: str, message: str, *args: object) -> None:
        """Log ``message % args`` unless a warning of this kind was logged lately."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -math.inf) < self.every_s:
                return
            self._last[kind] = now
        LOGGER.warning(message, *args)

    def reset(self, kind: str) -> None:
        """The streak of this kind is over: its next warning is logged at once."""
        with self._lock:
            self._last.pop(kind, None)


def check_count(name: str, value: object, low: int = 1) -> int:
    """``value`` if it is an int >= ``low`` (not a bool), else `InvalidInput`.

    >>> check_count("flush_rows", 10)
    10
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise invalid(name, value, f"an int >= {low}")
    return value


def check_seconds(name: str, value: object, *, zero: bool = True) -> float:
    """``value`` as float seconds: finite, >= 0 (> 0 unless ``zero``), at most a year."""
    return check_number(name, value, 0.0, 365 * 86400.0, above=not zero)
