"""Budget pacing: adapt the cost weight λ online so the mean cost per request tracks a ceiling.

`CostPacer` is a primal-dual controller. The router maximises quality − λ·cost per request (the
primal step, done by the engine); the pacer moves λ, the price of a dollar in quality points
(the dual step), up when requests cost more than the target and down when they cost less::

    u ← max(0, u + step·(cost/target − 1)),        λ = u / target

``u`` is λ in units of "quality points per target's worth of spend", so one ``step`` suits any
price scale. Summed over any stretch where ``u`` stays above 0 (and the guard below is off),
the updates telescope: the
overspend of that stretch, in targets, equals the rise of ``u`` divided by ``step``. So the
realised mean drifts from the target only while λ is still climbing; underspend while λ is 0
(quality has stopped improving) is never banked.

A hard guard bounds what the dual cannot: it keeps the running debt ``D = Σ(cost/target − 1)``
(at most ``credit`` targets of underspend banked). While ``D`` exceeds ``max(guard_margin,
guard_tolerance·requests)`` targets, λ jumps to ``max_penalty/target`` — any model dearer than
the cheapest by a tenth of the target (default) loses, whatever its quality — until spend is
back on track. Meanwhile the dual follows the spend down, so one dear request is paid back once
(by the guard), not twice; but never below its level before the request that engaged the guard
plus a few targets of that request's excess, so when spend creeps over the target λ still
ratchets up from one guard episode to the next instead of being undone by each.

Optionally a budget (``budget_usd`` per ``period_s`` seconds or per ``n_requests`` requests)
lowers the target to what remains of the period's budget per expected remaining request.

>>> from banditroute.gateway.pacing import CostPacer
>>> pacer = CostPacer(0.001)
>>> pacer.cost_weight
0.0
>>> for _ in range(10):
...     pacer.observe(0.003)  # three times the target: λ rises
>>> round(pacer.cost_weight, 3), pacer.status().guard_engaged
(60.0, False)
>>> for _ in range(20):
...     pacer.observe(0.003)  # 40 targets over: the guard makes the cheapest model win
>>> s = pacer.status()
>>> s.requests, round(s.realised_mean_usd, 6), s.guard_engaged, round(s.cost_weight)
(30, 0.003, True, 10000)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import check_callable, check_number, invalid
from ..reward import Tradeoff

__all__ = ["CostPacer", "PacerStatus"]

_MIN_TARGET_FRACTION = 0.01  # an exhausted budget prices spend as if the target were 1% of it
_KEPT_EXCESS = 5.0  # targets of excess of the request that engaged the guard the dual keeps


@dataclass(frozen=True)
class PacerStatus:
    """A snapshot of a `CostPacer`.

    Parameters
    ----------
    ceiling_usd_per_request : float
        The configured ceiling on the mean cost per request.
    target_usd_per_request : float
        The target in force now: the ceiling, or less when a budget's remainder demands it.
    realised_mean_usd : float
        Mean cost per request observed so far (0 before the first).
    cost_weight : float
        λ for the next decision, quality points per USD.
    requests : int
        Requests observed so far.
    spend_usd : float
        Their total cost.
    debt_targets : float
        The guard's running overspend, in targets (negative: banked underspend).
    guard_engaged : bool
        Whether the hard guard is pushing to the cheapest models now.
    budget_remaining_usd : float or None
        What remains of this period's budget (None without a budget).
    """

    ceiling_usd_per_request: float
    target_usd_per_request: float
    realised_mean_usd: float
    cost_weight: float
    requests: int
    spend_usd: float
    debt_targets: float
    guard_engaged: bool
    budget_remaining_usd: float | None


class CostPacer:
    """Adapts the cost weight λ so the mean cost per request tracks ``target_usd_per_request``.

    Thread-safe; read `cost_weight` before each decision and call `observe` after each call.

    Parameters
    ----------
    target_usd_per_request : float
        Ceiling on the mean cost per request (USD).
    initial_cost_weight : float
        λ to start from (quality points per USD); 0 lets quality decide until spend says not.
    step : float
        Dual step: how far ``u = λ·target`` moves per request costing one target too much.
    max_penalty : float
        Cap of ``u``; also the guard's ``u``: with the guard on, a model dearer than the cheapest
        by ``target/max_penalty`` loses to it even with a full quality point more.
    guard_margin, guard_tolerance : float
        The guard engages while the debt exceeds ``max(guard_margin, guard_tolerance·requests)``
        targets.
    credit : float
        Targets of underspend the guard may bank.
    budget_usd : float, optional
        Budget per period; with exactly one of ``period_s`` (seconds) or ``n_requests``.
    period_s : float, optional
        Period length in seconds, from construction time.
    n_requests : int, optional
        Period length in requests.
    clock : callable
        Seconds (``time.time``); inject a fake one in tests.
    """

    def __init__(
        self,
        target_usd_per_request: float,
        *,
        initial_cost_weight: float = 0.0,
        step: float = 0.003,
        max_penalty: float = 10.0,
        guard_margin: float = 30.0,
        guard_tolerance: float = 0.005,
        credit: float = 10.0,
        budget_usd: float | None = None,
        period_s: float | None = None,
        n_requests: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ceiling = check_number("target_usd_per_request", target_usd_per_request, 0, above=True)
        lam0 = check_number("initial_cost_weight", initial_cost_weight, 0)
        self.step = check_number("step", step, 0, above=True)
        self.max_penalty = check_number("max_penalty", max_penalty, 0, above=True)
        self.guard_margin = check_number("guard_margin", guard_margin, 0)
        self.guard_tolerance = check_number("guard_tolerance", guard_tolerance, 0)
        self.credit = check_number("credit", credit, 0)
        if not callable(clock):
            raise invalid("clock", clock, "a callable returning seconds")
        self.budget_usd = None if budget_usd is None else check_number("budget_usd", budget_usd, 0)
        self.period_s = (
            None if period_s is None else check_number("period_s", period_s, 0, above=True)
        )
        if n_requests is not None and (
            isinstance(n_requests, bool) or not isinstance(n_requests, int) or n_requests < 1
        ):
            raise invalid("n_requests", n_requests, "an int >= 1")
        self.n_requests = n_requests
        periods = (period_s is not None) + (n_requests is not None)
        if periods != (0 if budget_usd is None else 1):
            raise invalid(
                "budget",
                {"budget_usd": budget_usd, "period_s": period_s, "n_requests": n_requests},
                "budget_usd with exactly one of period_s or n_requests, or none of them",
            )
        self._clock = check_callable("clock", clock)
        self._lock = threading.Lock()
        self._dual = min(lam0 * self.ceiling, self.max_penalty)
        self._dual_floor = 0.0  # while the guard is on
        self._debt = 0.0
        self._requests = 0
        self._spend = 0.0
        self._period_start = float(clock()) if period_s is not None else 0.0
        self._period_spend = 0.0
        self._period_requests = 0
        self._last_rate: float | None = None  # requests per second in the last full period

    # -- reading ---------------------------------------------------------------------------
    @property
    def cost_weight(self) -> float:
        """λ for the next decision, in quality points per USD."""
        with self._lock:
            self._roll_period()
            return self._weight(self._target())

    def tradeoff(self, base: Tradeoff | None = None) -> Tradeoff:
        """``base`` (default: no latency weight) with its cost weight set to `cost_weight`."""
        latency = 0.0 if base is None else base.latency_weight
        return Tradeoff(cost_weight=self.cost_weight, latency_weight=latency)

    def status(self) -> PacerStatus:
        """A consistent snapshot of targets, spend, λ and the guard."""
        with self._lock:
            self._roll_period()
            target = self._target()
            remaining = None
            if self.budget_usd is not None:
                remaining = self.budget_usd - self._period_spend
            return PacerStatus(
                ceiling_usd_per_request=self.ceiling,
                target_usd_per_request=target,
                realised_mean_usd=self._spend / self._requests if self._requests else 0.0,
                cost_weight=self._weight(target),
                requests=self._requests,
                spend_usd=self._spend,
                debt_targets=self._debt,
                guard_engaged=self._guarded(target),
                budget_remaining_usd=remaining,
            )

    # -- learning --------------------------------------------------------------------------
    def observe(self, cost_usd: float) -> None:
        """Record the cost of one finished request and update λ."""
        cost = check_number("cost_usd", cost_usd, 0)
        with self._lock:
            self._roll_period()
            target = self._target()
            excess = cost / target - 1.0
            guarded, before = self._guarded(target), self._dual
            floor = self._dual_floor if guarded else 0.0
            self._dual = max(floor, self._dual + self.step * excess)
            self._debt = max(-self.credit, self._debt + excess)
            self._requests += 1
            self._spend += cost
            self._period_spend += cost
            self._period_requests += 1
            if self.n_requests is not None and self._period_requests >= self.n_requests:
                self._period_spend, self._period_requests = 0.0, 0
            if not guarded and self._guarded(self._target()):
                kept = before + self.step * min(max(excess, 0.0), _KEPT_EXCESS)
                self._dual_floor = min(self._dual, kept)

    # -- internals (called with the lock held) ---------------------------------------------
    def _weight(self, target: float) -> float:
        if self._guarded(target):
            return max(self._dual, self.max_penalty) / target
        return min(self._dual, self.max_penalty) / target

    def _guarded(self, target: float) -> bool:
        if target <= self.ceiling * _MIN_TARGET_FRACTION:  # the budget is spent
            return True
        return self._debt > max(self.guard_margin, self.guard_tolerance * self._requests)

    def _target(self) -> float:
        """The ceiling, or the budget's remainder per expected remaining request if lower."""
        if self.budget_usd is None:
            return self.ceiling
        expected = self._expected_remaining_requests()
        if expected is None:
            return self.ceiling
        per_request = (self.budget_usd - self._period_spend) / expected
        return max(min(self.ceiling, per_request), self.ceiling * _MIN_TARGET_FRACTION)

    def _expected_remaining_requests(self) -> float | None:
        if self.n_requests is not None:
            return float(self.n_requests - self._period_requests)
        assert self.period_s is not None
        elapsed = max(float(self._clock()) - self._period_start, 0.0)
        rates = [self._last_rate or 0.0]
        if elapsed > 0:
            rates.append(self._period_requests / elapsed)
        if max(rates) <= 0:  # no traffic seen to spread the budget over yet
            return None
        return max(1.0, max(rates) * max(self.period_s - elapsed, 0.0))

    def _roll_period(self) -> None:
        if self.period_s is None:
            return
        elapsed = float(self._clock()) - self._period_start
        if elapsed < self.period_s:
            return
        periods = math.floor(elapsed / self.period_s)
        self._last_rate = self._period_requests / self.period_s if periods == 1 else 0.0
        self._period_start += periods * self.period_s
        self._period_spend, self._period_requests = 0.0, 0
