"""What may be called right now: the circuit breaker, the rate limits and the budgets together.

`Guards.gate` is what the decision step asks before a model is ranked (it consumes nothing, and
its reason is shown among the decision's exclusions); `Guards.admit` takes what one attempt
needs (the half-open probe slot, the rate-limit tokens, a budget reservation) just before the
call; `Guards.record` books the outcome.

>>> from banditroute.gateway.guards import Guards
>>> from banditroute.gateway.budget import Budget, BudgetBook
>>> from banditroute.registry import ModelProfile
>>> from banditroute.constraints import ArmEstimate
>>> m = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)
>>> guards = Guards(budgets=BudgetBook([Budget(name="team", limit_usd=1.0, period="total")]))
>>> guards.gate(frozenset())(m, ArmEstimate(0.5, 100.0, 0.5), 10) is None
True
>>> admission = guards.admit(m, 10, 0.5, frozenset())
>>> guards.record(admission, cost_usd=1.2, error=None)  # logs the budget alerts
>>> guards.gate(frozenset())(m, ArmEstimate(0.5, 100.0, 0.5), 10)
'budget team is used up: spent 1.2 USD + 0 USD reserved of 1 USD (in total)'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..choice import Gate
from ..constraints import ArmEstimate
from ..registry import ModelProfile
from .breaker import CircuitBreaker
from .budget import BudgetBook, Reservation
from .errors import ProviderError, ProviderRateLimited
from .ratelimit import RateLimiter

__all__ = ["Admission", "Guards", "SharedGuards"]


@dataclass(frozen=True)
class Admission:
    """What one admitted attempt holds until its outcome is recorded."""

    model: str
    reservation: Reservation | None
    remote: object = None  #: what `SharedGuards.admit` holds for it, if anything


class SharedGuards(Protocol):
    """Guards counted across replicas (`banditroute.shared`); none of these raise."""

    def reason(self, model: str, tags: frozenset[str]) -> str | None: ...
    def admit(
        self, model: ModelProfile, tokens: int, reservation: Reservation | None
    ) -> object: ...
    def record(
        self, admission: Admission, cost_usd: float, error: ProviderError | None
    ) -> None: ...


class Guards:
    """Circuit breaker, rate limits and budgets, consulted together.

    Parameters
    ----------
    breaker : CircuitBreaker, optional
        Default: 5 failures in 60 s cool a model down for 30 s.
    limiter : RateLimiter, optional
        Requests / tokens per minute per model; configured from each `ModelProfile`.
    budgets : BudgetBook, optional
        Spend limits per period and tag; None: no budget.
    """

    def __init__(
        self,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
        budgets: BudgetBook | None = None,
    ) -> None:
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.limiter = limiter if limiter is not None else RateLimiter()
        self.budgets = budgets
        self._configured: set[str] = set()
        #: limits, budgets and cooldowns shared with other replicas (a pure read in `gate`)
        self.shared: SharedGuards | None = None

    def configure(self, models: Iterable[ModelProfile]) -> None:
        """Take each model's rate limits from its profile (once per model id)."""
        for m in models:
            if m.id not in self._configured:
                self.limiter.configure(m.id, m.requests_per_minute, m.tokens_per_minute)
                self._configured.add(m.id)

    def gate(self, tags: frozenset[str]) -> Gate:
        """The decision step's check for a request carrying ``tags``."""

        def why_not(model: ModelProfile, estimate: ArmEstimate, prompt_tokens: int) -> str | None:
            reason = self.breaker.reason(model.id)
            if reason is None:
                self.configure([model])
                reason = self.limiter.reason(model.id, prompt_tokens)
            if reason is None and self.budgets is not None:
                reason = self.budgets.reason(tags, estimate.cost_usd)
            if reason is None and self.shared is not None:
                reason = self.shared.reason(model.id, tags)
            return reason

        return why_not

    def admit(
        self, model: ModelProfile, tokens: int, max_cost_usd: float, tags: frozenset[str]
    ) -> Admission | str:
        """Take what one attempt needs, or say why it may not go (nothing is then held).

        ``max_cost_usd`` is what the call can cost at most (its ``max_tokens`` at list price):
        budgets reserve it, so calls in flight together cannot overspend.
        """
        self.configure([model])
        if not self.breaker.acquire(model.id):
            return self.breaker.reason(model.id) or "cooled down"
        if not self.limiter.try_acquire(model.id, tokens):
            return self.limiter.reason(model.id, tokens) or "rate-limited"
        reservation = None
        if self.budgets is not None:
            reservation = self.budgets.reserve(tags, max_cost_usd)
            if reservation is None:
                return self.budgets.reason(tags, max_cost_usd) or "over budget"
        remote = None
        if self.shared is not None:
            remote = self.shared.admit(model, tokens, reservation)
            if isinstance(remote, str):  # refused across replicas: give the reservation back
                if self.budgets is not None and reservation is not None:
                    self.budgets.settle(reservation, 0.0)
                return remote
        return Admission(model.id, reservation, remote)

    def record(self, admission: Admission, *, cost_usd: float, error: ProviderError | None) -> None:
        """Book an attempt's outcome: breaker state, a 429's penalty, the budget's spend."""
        if error is None:
            self.breaker.record_success(admission.model)
        else:
            self.breaker.record_failure(admission.model)
            if isinstance(error, ProviderRateLimited):
                self.limiter.penalize(admission.model, error.retry_after_s)
        if self.budgets is not None and admission.reservation is not None:
            self.budgets.settle(admission.reservation, cost_usd)
        if self.shared is not None:
            self.shared.record(admission, cost_usd, error)
