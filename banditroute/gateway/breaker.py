"""A per-model circuit breaker: a model that keeps failing is cooled down, then probed once.

closed → (``failure_threshold`` failures within ``window_s``) → open for the cooldown →
half-open: one probe call may go → its success closes the breaker, its failure re-opens it with
the cooldown doubled (up to ``max_cooldown_s``). `CircuitBreaker.reason` is a pure read for
`Decision.explain()`; `CircuitBreaker.acquire` takes the probe slot.

>>> now = [0.0]
>>> breaker = CircuitBreaker(failure_threshold=2, window_s=60, cooldown_s=30, clock=lambda: now[0])
>>> breaker.record_failure("m"); breaker.record_failure("m")
>>> breaker.state("m"), breaker.acquire("m")
('open', False)
>>> breaker.reason("m")
'cooled down for 30.0 s more after 2 failures in 60 s'
>>> now[0] = 31.0
>>> breaker.state("m"), breaker.acquire("m"), breaker.acquire("m")
('half_open', True, False)
>>> breaker.reason("m")
'half-open: a probe call is in flight'
>>> breaker.record_success("m")
>>> breaker.state("m"), breaker.reason("m")
('closed', None)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import check_callable, check_number, invalid

__all__ = ["BreakerState", "BreakerStatus", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerStatus:
    """One model's breaker as seen at one moment (for metrics and explanations)."""

    model: str
    state: BreakerState
    recent_failures: int  # failures inside the window while closed
    cooldown_s: float  # the current (possibly doubled) cooldown
    open_for_s: float  # seconds of cooldown left; 0 unless open
    probe_in_flight: bool
    times_opened: int


@dataclass
class _Model:
    cooldown_s: float
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None  # None while closed
    probe_since: float | None = None
    opened_by_probe: bool = False
    failures_at_open: int = 0
    times_opened: int = 0


class CircuitBreaker:
    """Cooldowns for failing models; one object for all models, thread-safe.

    Parameters
    ----------
    failure_threshold : int >= 1
        Failures within ``window_s`` that open the breaker. Every failure the caller records
        counts (timeouts, 5xx, and permanent ones such as auth errors: the caller decides).
    window_s : float > 0
        The sliding window in which failures are counted while closed.
    cooldown_s : float >= 0
        How long an opened breaker refuses calls before letting one probe through.
    max_cooldown_s : float, optional
        Cap of the cooldown, which doubles after every failed probe (default 8 × cooldown_s).
    probe_timeout_s : float > 0 or None
        A probe that reports no outcome within this time frees its slot for another probe,
        so a lost outcome cannot lock a model out for good. None: wait forever.
    clock : callable
        Monotonic seconds (`time.monotonic`); inject a fake one in tests.

    Notes
    -----
    Outcomes carry no call identity, so in half-open state any recorded success closes the
    breaker and any recorded failure re-opens it (a call started before the breaker opened may
    answer for the probe). Outcomes recorded while open are ignored.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        window_s: float = 60.0,
        cooldown_s: float = 30.0,
        *,
        max_cooldown_s: float | None = None,
        probe_timeout_s: float | None = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise invalid("failure_threshold", failure_threshold, "an int >= 1")
        self.failure_threshold = int(check_number("failure_threshold", failure_threshold, 1))
        self.window_s = check_number("window_s", window_s, 0, above=True)
        self.cooldown_s = check_number("cooldown_s", cooldown_s, 0)
        cap = 8 * self.cooldown_s if max_cooldown_s is None else max_cooldown_s
        self.max_cooldown_s = check_number("max_cooldown_s", cap, self.cooldown_s)
        self.probe_timeout_s = (
            None
            if probe_timeout_s is None
            else check_number("probe_timeout_s", probe_timeout_s, 0, above=True)
        )
        self._clock = check_callable("clock", clock)
        self._lock = threading.Lock()
        self._models: dict[str, _Model] = {}

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self.failure_threshold}, "
            f"window_s={self.window_s:g}, cooldown_s={self.cooldown_s:g}, "
            f"max_cooldown_s={self.max_cooldown_s:g})"
        )

    # -- reads (consume nothing) ---------------------------------------------------------------

    def state(self, model: str) -> BreakerState:
        """``"closed"``, ``"open"`` (cooling down) or ``"half_open"`` (a probe may go or is out)."""
        with self._lock:
            entry = self._models.get(model)
            return "closed" if entry is None else self._state(entry, self._clock())

    def reason(self, model: str) -> str | None:
        """Why ``model`` may not be called now, or None when it may (pure read)."""
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return None
            now = self._clock()
            state = self._state(entry, now)
            if state == "closed":
                return None
            if state == "half_open":
                return "half-open: a probe call is in flight" if self._probing(entry, now) else None
            left = self._open_until(entry) - now
            if entry.opened_by_probe:
                why = f"a failed probe call (cooldown {entry.cooldown_s:g} s)"
            else:
                why = f"{entry.failures_at_open} failures in {self.window_s:g} s"
            return f"cooled down for {left:.1f} s more after {why}"

    def due_for_probe(self, model: str) -> bool:
        """True when the cooldown is over and no probe is out (an active health check may go)."""
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return False
            now = self._clock()
            return self._state(entry, now) == "half_open" and not self._probing(entry, now)

    def snapshot(self) -> list[BreakerStatus]:
        """The status of every model that has recorded a failure, sorted by model id."""
        with self._lock:
            now = self._clock()
            out = []
            for model in sorted(self._models):
                entry = self._models[model]
                state = self._state(entry, now)
                out.append(
                    BreakerStatus(
                        model=model,
                        state=state,
                        recent_failures=self._recent(entry, now),
                        cooldown_s=entry.cooldown_s,
                        open_for_s=self._open_until(entry) - now if state == "open" else 0.0,
                        probe_in_flight=state == "half_open" and self._probing(entry, now),
                        times_opened=entry.times_opened,
                    )
                )
            return out

    # -- writes -------------------------------------------------------------------------------

    def acquire(self, model: str) -> bool:
        """True when a call to ``model`` may go now; when half-open this takes the probe slot."""
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return True
            now = self._clock()
            state = self._state(entry, now)
            if state == "closed":
                return True
            if state == "open" or self._probing(entry, now):
                return False
            entry.probe_since = now
            return True

    def record_success(self, model: str) -> None:
        """A call succeeded: in half-open state this closes the breaker."""
        with self._lock:
            entry = self._models.get(model)
            if entry is not None and self._state(entry, self._clock()) == "half_open":
                entry.opened_at = entry.probe_since = None
                entry.cooldown_s = self.cooldown_s
                entry.failures.clear()

    def record_failure(self, model: str) -> None:
        """A call failed: may open the breaker (closed) or re-open it (half-open)."""
        with self._lock:
            now = self._clock()
            entry = self._models.setdefault(model, _Model(cooldown_s=self.cooldown_s))
            state = self._state(entry, now)
            if state == "open":
                return
            if state == "half_open":
                entry.cooldown_s = min(2 * entry.cooldown_s, self.max_cooldown_s)
                self._open(entry, now, by_probe=True)
                return
            entry.failures.append(now)
            while entry.failures and entry.failures[0] <= now - self.window_s:
                entry.failures.popleft()
            if len(entry.failures) >= self.failure_threshold:
                entry.failures_at_open = len(entry.failures)
                entry.cooldown_s = self.cooldown_s
                self._open(entry, now, by_probe=False)

    def hold_open(self, model: str, seconds: float, failures: int) -> bool:
        """Cool ``model`` down for ``seconds`` from now, as another replica did after
        ``failures`` failures; True when that lengthens its cooldown."""
        with self._lock:
            now = self._clock()
            entry = self._models.setdefault(model, _Model(cooldown_s=self.cooldown_s))
            if self._state(entry, now) == "open" and self._open_until(entry) >= now + seconds:
                return False
            entry.cooldown_s = min(max(seconds, 0.0), self.max_cooldown_s)
            entry.failures_at_open = failures
            self._open(entry, now, by_probe=False)
            return True

    def reset(self, model: str | None = None) -> None:
        """Forget the history of ``model`` (every model when None): closed again."""
        with self._lock:
            if model is None:
                self._models.clear()
            else:
                self._models.pop(model, None)

    # -- helpers (called with the lock held) ----------------------------------------------------

    def _open(self, entry: _Model, now: float, *, by_probe: bool) -> None:
        entry.opened_at = now
        entry.probe_since = None
        entry.opened_by_probe = by_probe
        entry.failures.clear()
        entry.times_opened += 1

    @staticmethod
    def _open_until(entry: _Model) -> float:
        return (entry.opened_at or 0.0) + entry.cooldown_s

    def _state(self, entry: _Model, now: float) -> BreakerState:
        if entry.opened_at is None:
            return "closed"
        return "open" if now < self._open_until(entry) else "half_open"

    def _probing(self, entry: _Model, now: float) -> bool:
        if entry.probe_since is None:
            return False
        return self.probe_timeout_s is None or now < entry.probe_since + self.probe_timeout_s

    def _recent(self, entry: _Model, now: float) -> int:
        return sum(1 for t in entry.failures if t > now - self.window_s)
