"""Spending budgets: reservations before a call, actual cost after it, alerts and a hard stop.

A `Budget` applies to the requests carrying all its tags, per UTC day, UTC month or in total.
`BudgetBook.reserve` admits a call while spent + reserved < limit for every hard budget that
applies, and holds its estimated cost so concurrent callers see each other's in-flight spend;
`BudgetBook.settle` replaces the estimate by the actual cost. Each alert threshold (fraction of
the limit spent) fires once per period, through ``on_alert`` and the ``banditroute.budget``
logger.

>>> book = BudgetBook([Budget(name="team-a", limit_usd=1.0, period="total", tags={"a"})],
...                   clock=lambda: 0.0)
>>> first = book.reserve({"a", "chat"}, 0.6)
>>> book.reserve({"b"}, 5.0).budgets  # no budget applies to tag "b"
()
>>> book.settle(first, 1.2)
>>> book.reserve({"a"}, 0.1) is None
True
>>> book.reason({"a"}, 0.1)
'budget team-a is used up: spent 1.2 USD + 0 USD reserved of 1 USD (in total)'
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from .._validation import StrictModel
from ..errors import check_callable, check_number, invalid
from ..text import library_logger

__all__ = ["Budget", "BudgetAlert", "BudgetBook", "BudgetStatus", "Reservation"]

logger = library_logger("banditroute.budget")

Period = Literal["day", "month", "total"]


class Budget(StrictModel):
    """A spending limit for the requests that carry all of ``tags``.

    Parameters
    ----------
    name : str
        Shown in refusals, alerts and `BudgetBook.status`; unique in a book.
    limit_usd : float > 0
        The limit for one period.
    period : "day", "month" or "total"
        Day and month boundaries are UTC; a new period starts from zero spend.
    tags : set of str
        The budget applies to requests carrying every one of these tags (empty: every request).
    alert_at : tuple of float > 0
        Fractions of the limit whose crossing fires an alert, once per period.
    hard_stop : bool
        Refuse calls once spent + reserved reaches the limit; False: only alert.
    """

    name: str = Field(min_length=1)
    limit_usd: float = Field(gt=0, allow_inf_nan=False)
    period: Period
    tags: frozenset[str] = frozenset()
    alert_at: tuple[float, ...] = (0.5, 0.8, 1.0)
    hard_stop: bool = True

    @field_validator("tags", mode="before")
    @classmethod
    def _reject_bare_string(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a set of tags, not one string")
        return value

    @field_validator("alert_at")
    @classmethod
    def _sorted_fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not (math.isfinite(v) and v > 0) for v in value):
            raise ValueError("every alert fraction must be a finite number > 0")
        return tuple(sorted(set(value)))

    def applies_to(self, tags: frozenset[str]) -> bool:
        """True when a request carrying ``tags`` counts against this budget."""
        return self.tags <= tags


@dataclass(frozen=True)
class Reservation:
    """Cost held for one call until `BudgetBook.settle`; ``budgets`` names those it counts in."""

    id: int
    budgets: tuple[str, ...]
    estimated_cost_usd: float


@dataclass(frozen=True)
class BudgetStatus:
    """One budget in its current period."""

    name: str
    period: Period
    period_start: datetime | None  # UTC; None for period "total"
    spent_usd: float
    reserved_usd: float
    limit_usd: float
    fraction: float  # spent / limit
    hard_stop: bool


@dataclass(frozen=True)
class BudgetAlert:
    """A budget's spend crossed one of its ``alert_at`` fractions (once per period)."""

    budget: str
    threshold: float
    spent_usd: float
    limit_usd: float
    period_start: datetime | None

    def __str__(self) -> str:
        return (
            f"budget {self.budget} reached {self.threshold:.0%} of {self.limit_usd:g} USD: "
            f"spent {self.spent_usd:.6g} USD{_period_text(self.period_start)}"
        )


@dataclass
class _Account:
    budget: Budget
    period_start: datetime | None = None
    spent: float = 0.0
    reserved: float = 0.0
    fired: set[float] = field(default_factory=set)


class BudgetBook:
    """Budgets with reservations, alerts and a hard stop; thread-safe.

    Parameters
    ----------
    budgets : sequence of Budget
        Names must be unique.
    on_alert : callable, optional
        Called with a `BudgetAlert` (outside the book's lock) when a threshold is crossed.
    clock : callable
        Wall-clock seconds since the epoch (`time.time`), for the UTC day and month boundaries.

    Notes
    -----
    A call is admitted while spent + reserved < limit, so settled spend exceeds a hard limit by
    at most one call's cost, provided each reservation's estimate bounds its actual cost (price
    the request at its ``max_tokens``). A call that costs more than its estimate can push the
    overshoot up by the excess of the calls in flight at the time.
    """

    def __init__(
        self,
        budgets: Sequence[Budget],
        on_alert: Callable[[BudgetAlert], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(budgets, str | bytes) or not isinstance(budgets, Iterable):
            raise invalid("budgets", budgets, "a list of Budget")
        try:
            budgets = list(budgets)
        except TypeError:  # iterable in name only (a 0-d array, ...)
            raise invalid("budgets", budgets, "a list of Budget") from None
        for b in budgets:
            if not isinstance(b, Budget):
                raise invalid("budgets[i]", b, "a Budget")
        if on_alert is not None:
            check_callable("on_alert", on_alert, "None or a callable")
        names = [b.name for b in budgets]
        if len(set(names)) != len(names):
            raise invalid("budgets", names, "budgets with distinct names")
        self._accounts = [_Account(budget=b) for b in budgets]
        self._on_alert = on_alert
        self._clock = check_callable("clock", clock)
        self._lock = threading.Lock()
        self._open: dict[int, Reservation] = {}
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"BudgetBook(budgets={[a.budget.name for a in self._accounts]})"

    @property
    def budgets(self) -> tuple[Budget, ...]:
        """The budgets, in the order given."""
        return tuple(a.budget for a in self._accounts)

    def reason(self, tags: Iterable[str], estimated_cost_usd: float) -> str | None:
        """Why a call with ``tags`` is refused by a hard budget now, or None (pure read)."""
        wanted = _tags(tags)
        check_number("estimated_cost_usd", estimated_cost_usd, 0)
        with self._lock:
            return self._refusal(wanted)

    def reserve(self, tags: Iterable[str], estimated_cost_usd: float) -> Reservation | None:
        """Hold ``estimated_cost_usd`` in every budget that applies; None when one refuses."""
        wanted = _tags(tags)
        estimate = check_number("estimated_cost_usd", estimated_cost_usd, 0)
        with self._lock:
            if self._refusal(wanted) is not None:
                return None
            held = [a for a in self._accounts if a.budget.applies_to(wanted)]
            for account in held:
                account.reserved += estimate
            names = tuple(a.budget.name for a in held)
            reservation = Reservation(
                id=next(self._ids), budgets=names, estimated_cost_usd=estimate
            )
            self._open[reservation.id] = reservation
            return reservation

    def settle(self, reservation: Reservation, actual_cost_usd: float) -> None:
        """Replace the reservation's estimate by the actual cost (0 for a failed call).

        The cost counts in the period current at settlement.
        """
        actual = check_number("actual_cost_usd", actual_cost_usd, 0)
        alerts: list[BudgetAlert] = []
        with self._lock:
            if self._open.get(reservation.id) != reservation:
                raise invalid("reservation", reservation, "an open reservation of this book")
            del self._open[reservation.id]
            now = self._clock()
            for account in self._accounts:
                if account.budget.name not in reservation.budgets:
                    continue
                self._roll(account, now)
                account.reserved = max(0.0, account.reserved - reservation.estimated_cost_usd)
                account.spent += actual
                alerts.extend(self._crossed(account))
        for alert in alerts:
            logger.warning("%s", alert)
            if self._on_alert is not None:
                try:
                    self._on_alert(alert)
                except Exception:
                    logger.exception("on_alert failed for %s", alert)

    def status(self) -> list[BudgetStatus]:
        """Every budget in its current period, in the order given."""
        with self._lock:
            now = self._clock()
            out = []
            for account in self._accounts:
                self._roll(account, now)
                budget = account.budget
                out.append(
                    BudgetStatus(
                        name=budget.name,
                        period=budget.period,
                        period_start=account.period_start,
                        spent_usd=account.spent,
                        reserved_usd=account.reserved,
                        limit_usd=budget.limit_usd,
                        fraction=account.spent / budget.limit_usd,
                        hard_stop=budget.hard_stop,
                    )
                )
            return out

    # -- helpers (called with the lock held) ----------------------------------------------------

    def _refusal(self, wanted: frozenset[str]) -> str | None:
        now = self._clock()
        for account in self._accounts:
            budget = account.budget
            if not (budget.hard_stop and budget.applies_to(wanted)):
                continue
            start = _period_start(budget.period, now)
            spent = account.spent if start == account.period_start else 0.0  # new period: zero
            reserved = account.reserved
            if spent + reserved >= budget.limit_usd:
                return (
                    f"budget {budget.name} is used up: spent {spent:.6g} USD + "
                    f"{reserved:.6g} USD reserved of {budget.limit_usd:g} USD{_period_text(start)}"
                )
        return None

    @staticmethod
    def _roll(account: _Account, now: float) -> None:
        """Start a new period when the clock has crossed a boundary; in-flight holds carry on."""
        start = _period_start(account.budget.period, now)
        if start != account.period_start:
            account.period_start = start
            account.spent = 0.0
            account.fired.clear()

    @staticmethod
    def _crossed(account: _Account) -> list[BudgetAlert]:
        budget = account.budget
        alerts = []
        for threshold in budget.alert_at:
            if threshold not in account.fired and account.spent >= threshold * budget.limit_usd:
                account.fired.add(threshold)
                spent, limit, start = account.spent, budget.limit_usd, account.period_start
                alerts.append(BudgetAlert(budget.name, threshold, spent, limit, start))
        return alerts


def _period_start(period: Period, now: float) -> datetime | None:
    if period == "total":
        return None
    moment = datetime.fromtimestamp(now, tz=UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def _period_text(start: datetime | None) -> str:
    return " (in total)" if start is None else f" (period from {start:%Y-%m-%d} UTC)"


def _tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise invalid("tags", tags, "a set of tags, not one string")
    return frozenset(tags)
