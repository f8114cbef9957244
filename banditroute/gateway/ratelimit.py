"""Per-model requests-per-minute and tokens-per-minute limits, slowed down after a 429 (AIMD).

Each limited model has a token bucket per figure (capacity = the per-minute figure, refilled
continuously) and a rolling 60 s window that never lets more than the figure through in any
60 s (a bare bucket would let up to twice the figure through: a full bucket plus a minute of
refill). `RateLimiter.penalize` (a 429) empties the request bucket until ``Retry-After`` and
halves the effective rate, which then recovers additively over the next minutes.

>>> now = [0.0]
>>> limiter = RateLimiter(clock=lambda: now[0])
>>> limiter.configure("m", requests_per_minute=2, tokens_per_minute=None)
>>> limiter.try_acquire("m", 100), limiter.try_acquire("m", 100), limiter.try_acquire("m", 100)
(True, True, False)
>>> limiter.reason("m", 100)
'rate-limited for 60.0 s (requests_per_minute 2)'
>>> limiter.reason("unlimited-model", 10**9) is None
True
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import check_callable, check_number, invalid

__all__ = ["RateLimitStatus", "RateLimiter"]

_WINDOW_S = 60.0
_SLOT_S = 0.25  # the rolling window counts admissions in slots of this width (conservatively)
_EPS = 1e-9


@dataclass(frozen=True)
class RateLimitStatus:
    """One model's limits as seen at one moment (for metrics)."""

    model: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    rate_factor: float  # 1.0, or lower for a while after a 429
    requests_available: float | None  # None when requests are not limited
    tokens_available: float | None
    blocked_for_s: float  # time left of a 429's Retry-After


@dataclass
class _Limit:
    name: str  # "requests_per_minute" or "tokens_per_minute"
    per_minute: int
    level: float

    def need(self, tokens: int) -> int:
        return 1 if self.name == "requests_per_minute" else tokens


@dataclass
class _Slot:
    index: int  # floor(time / _SLOT_S)
    last: float  # time of the latest admission in the slot: all of it leaves the window then
    requests: int = 0
    tokens: int = 0

    def amount(self, name: str) -> int:
        return self.requests if name == "requests_per_minute" else self.tokens


@dataclass
class _Model:
    limits: list[_Limit]
    updated: float
    slots: deque[_Slot] = field(default_factory=deque)
    factor_after_cut: float = 1.0
    cut_at: float | None = None
    blocked_until: float = -math.inf


class RateLimiter:
    """Requests- and tokens-per-minute limits per model; thread-safe.

    Parameters
    ----------
    clock : callable
        Monotonic seconds (`time.monotonic`); inject a fake one in tests.
    decrease : float in (0, 1)
        Factor applied to the effective rate on each 429 (at most once per
        ``min_decrease_interval_s``, so a burst of concurrent 429s counts once).
    recovery_per_minute : float > 0
        Fraction of the configured rate regained per minute after a decrease.
    min_factor : float in (0, 1]
        Floor of the effective rate, as a fraction of the configured one.
    min_decrease_interval_s : float >= 0
        Minimum time between two decreases.

    Models never configured are never limited, except that `penalize` holds them back until
    the ``Retry-After`` of their 429.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        decrease: float = 0.5,
        recovery_per_minute: float = 0.1,
        min_factor: float = 0.05,
        min_decrease_interval_s: float = 1.0,
    ) -> None:
        self._clock = check_callable("clock", clock)
        self.decrease = check_number("decrease", decrease, 0, 1, above=True)
        if self.decrease >= 1:
            raise invalid("decrease", decrease, "a number in (0, 1)")
        self.recovery_per_minute = check_number(
            "recovery_per_minute", recovery_per_minute, 0, above=True
        )
        self.min_factor = check_number("min_factor", min_factor, 0, 1, above=True)
        self.min_decrease_interval_s = check_number(
            "min_decrease_interval_s", min_decrease_interval_s, 0
        )
        self._lock = threading.Lock()
        self._models: dict[str, _Model] = {}

    def __repr__(self) -> str:
        return f"RateLimiter(models={sorted(self._models)})"

    def configure(
        self, model: str, requests_per_minute: int | None, tokens_per_minute: int | None
    ) -> None:
        """Set (or with None, remove) the limits of ``model``; new buckets start full."""
        figures = {
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
        }
        for name, value in figures.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise invalid(name, value, "an int >= 1 or None")
        with self._lock:
            now = self._clock()
            entry = self._models.setdefault(model, _Model(limits=[], updated=now))
            self._refill(entry, now)
            old = {limit.name: limit.level for limit in entry.limits}
            entry.limits = [
                _Limit(name, value, min(old.get(name, math.inf), float(value)))
                for name, value in figures.items()
                if value is not None
            ]

    def reason(self, model: str, tokens: int) -> str | None:
        """Why a call of ``tokens`` tokens to ``model`` may not go now, or None (pure read)."""
        _check_tokens(tokens)
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return None
            now = self._clock()
            return self._why(entry, self._refilled(entry, now), now, tokens)

    def try_acquire(self, model: str, tokens: int) -> bool:
        """Take one request and ``tokens`` tokens from ``model``'s limits if they allow it now."""
        _check_tokens(tokens)
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return True
            now = self._clock()
            self._refill(entry, now)
            if self._why(entry, [limit.level for limit in entry.limits], now, tokens) is not None:
                return False
            for limit in entry.limits:
                limit.level -= limit.need(tokens)
            index = math.floor(now / _SLOT_S)
            if not entry.slots or entry.slots[-1].index != index:
                entry.slots.append(_Slot(index, now))
            slot = entry.slots[-1]
            slot.last = max(slot.last, now)
            slot.requests += 1
            slot.tokens += tokens
            return True

    def penalize(self, model: str, retry_after_s: float | None) -> None:
        """A 429: empty the request bucket (held empty until ``retry_after_s``) and cut the rate."""
        with self._lock:
            now = self._clock()
            entry = self._models.setdefault(model, _Model(limits=[], updated=now))
            self._refill(entry, now)
            if retry_after_s is not None and math.isfinite(retry_after_s) and retry_after_s > 0:
                entry.blocked_until = max(entry.blocked_until, now + retry_after_s)
            for limit in entry.limits:
                if limit.name == "requests_per_minute":
                    limit.level = 0.0
            if entry.cut_at is None or now - entry.cut_at >= self.min_decrease_interval_s:
                cut = self._factor(entry, now) * self.decrease
                entry.factor_after_cut = max(self.min_factor, cut)
                entry.cut_at = now

    def snapshot(self) -> list[RateLimitStatus]:
        """The limits of every configured or penalized model, sorted by model id."""
        with self._lock:
            now = self._clock()
            out = []
            for model in sorted(self._models):
                entry = self._models[model]
                factor = self._factor(entry, now)
                available: dict[str, float] = {}
                for limit, level in zip(entry.limits, self._refilled(entry, now), strict=True):
                    room = limit.per_minute * factor - self._used(entry, now, limit.name)
                    available[limit.name] = max(0.0, min(level, room))
                out.append(
                    RateLimitStatus(
                        model=model,
                        requests_per_minute=_figure(entry, "requests_per_minute"),
                        tokens_per_minute=_figure(entry, "tokens_per_minute"),
                        rate_factor=factor,
                        requests_available=available.get("requests_per_minute"),
                        tokens_available=available.get("tokens_per_minute"),
                        blocked_for_s=max(0.0, entry.blocked_until - now),
                    )
                )
            return out

    # -- helpers (called with the lock held) ----------------------------------------------------

    def _factor(self, entry: _Model, now: float) -> float:
        """The effective rate as a fraction of the configured one (AIMD)."""
        if entry.cut_at is None:
            return 1.0
        regained = self.recovery_per_minute * max(0.0, now - entry.cut_at) / 60.0
        return min(1.0, entry.factor_after_cut + regained)

    def _refilled(self, entry: _Model, now: float) -> list[float]:
        """Bucket levels at ``now`` (pure); the request bucket stays empty while blocked."""
        levels = []
        for limit in entry.limits:
            start = entry.updated
            if limit.name == "requests_per_minute":
                start = max(start, entry.blocked_until)
            span = max(0.0, now - start)
            mean_factor = (self._factor(entry, start) + self._factor(entry, now)) / 2
            gained = limit.per_minute * mean_factor * span / 60.0
            levels.append(min(limit.per_minute * self._factor(entry, now), limit.level + gained))
        return levels

    def _refill(self, entry: _Model, now: float) -> None:
        for limit, level in zip(entry.limits, self._refilled(entry, now), strict=True):
            limit.level = level
        entry.updated = max(entry.updated, now)
        while entry.slots and entry.slots[0].last <= now - _WINDOW_S:
            entry.slots.popleft()

    def _used(self, entry: _Model, now: float, name: str) -> int:
        return sum(s.amount(name) for s in entry.slots if s.last > now - _WINDOW_S)

    def _why(self, entry: _Model, levels: list[float], now: float, tokens: int) -> str | None:
        """The longest wait before ``tokens`` may go and the limit that imposes it, or None."""
        waits = [(entry.blocked_until - now, "429 Retry-After")]
        factor = self._factor(entry, now)
        for limit, level in zip(entry.limits, levels, strict=True):
            need = limit.need(tokens)
            if need > limit.per_minute:
                return f"needs {need} tokens, more than {limit.name} {limit.per_minute}"
            label = f"{limit.name} {limit.per_minute}"
            if factor < 1.0:
                label += f", reduced to {limit.per_minute * factor:.4g} after a 429"
            room = limit.per_minute * factor
            if need > room + _EPS:  # wait for the rate to recover
                regain = (need / limit.per_minute - factor) / self.recovery_per_minute * 60.0
                waits.append((regain, label))
            if need > level + _EPS:  # wait for the bucket to refill
                start = entry.blocked_until if limit.name == "requests_per_minute" else now
                rate = max(room, _EPS) / 60.0
                waits.append((max(start, now) - now + (need - level) / rate, label))
            used = self._used(entry, now, limit.name)
            if used + need > room + _EPS:  # wait for admissions to leave the rolling window
                for slot in entry.slots:
                    if slot.last <= now - _WINDOW_S:
                        continue
                    used -= slot.amount(limit.name)
                    if used + need <= room + _EPS:
                        waits.append((slot.last + _WINDOW_S - now, label))
                        break
        wait, label = max(waits)
        return f"rate-limited for {wait:.1f} s ({label})" if wait > 0 else None


def _figure(entry: _Model, name: str) -> int | None:
    return next((lim.per_minute for lim in entry.limits if lim.name == name), None)


def _check_tokens(tokens: int) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise invalid("tokens", tokens, "an int >= 0 (the estimated tokens of the call)")
