"""Budgets counted across replicas: reservations and spend in Redis, the hard stop global.

Each budget's current period has three keys: ``ns:budget:<name>:<period>`` (a hash: the total
reserved and each open reservation), ``…:res`` (reservation expiries, so a reservation whose
replica died is released after ``hold_s``) and ``…:spent`` (each replica's total spend in the
period: a counter per replica, so a repeated or replayed settle counts once, and a replica can
write its total back after Redis lost its data). `SharedBudgets.reserve` runs one script that
admits a call only while spent + reserved < limit for every hard budget, over all replicas, and
holds its estimate (its ``max_tokens`` at list price); settled spend therefore exceeds a hard
limit by at most one call's cost (per replica while Redis is down, each replica then enforcing
the limit on its own spend and the others' last known).

>>> period_key("day", 0.0), period_key("month", 0.0), period_key("total", 0.0)
('1970-01-01', '1970-01', 'total')
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..gateway.budget import Budget, BudgetBook, Reservation
from .link import REDIS_ERRORS, RedisLink
from .scripts import RESERVE, SETTLE, SPEND_AT_LEAST

__all__ = ["AccountView", "SharedBudgets", "period_key"]

_KEY_TTL_MS = {"day": 3 * 86_400_000, "month": 70 * 86_400_000, "total": 0}


def period_key(period: str, now: float) -> str:
    """The UTC period a moment falls in, as part of a key."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    return {"day": f"{moment:%Y-%m-%d}", "month": f"{moment:%Y-%m}"}.get(period, "total")


@dataclass(frozen=True)
class AccountView:
    """A budget's period as Redis last said: every replica's spend and reservations."""

    period: str
    spent_usd: float
    reserved_usd: float


@dataclass(frozen=True)
class _Settle:
    reservation: str  # "" when nothing was reserved in Redis
    accounts: tuple[str, ...]
    totals: tuple[float, ...]  # this replica's spend in each account, as of this settle
    ttls: tuple[int, ...]


class SharedBudgets:
    """The budgets of one `BudgetBook`, shared (see the module)."""

    def __init__(
        self, link: RedisLink, book: BudgetBook, replica: str, hold_s: float = 300.0
    ) -> None:
        self.link, self.book, self.replica = link, book, replica
        self.hold_ms = round(hold_s * 1000)
        self.views: dict[str, AccountView] = {}  #: budget name → last known global view
        self.own: dict[str, float] = {}  #: account key → this replica's spend
        self.others: dict[str, dict[str, float]] = {}  #: account key → replica → spend
        self._outbox: deque[_Settle] = deque(maxlen=100_000)
        self._lock = threading.Lock()
        self._reserve = link.fast.register_script(RESERVE)
        self._settle = link.slow.register_script(SETTLE)
        self._at_least = link.slow.register_script(SPEND_AT_LEAST)

    def account(self, budget: Budget, now: float) -> str:
        return self.link.key("budget", budget.name, period_key(budget.period, now))

    def _keys(self, budgets: Sequence[Budget], now: float) -> list[str]:
        keys = []
        for budget in budgets:
            account = self.account(budget, now)
            keys += [account, account + ":res", account + ":spent"]
        return keys

    def _named(self, names: Sequence[str]) -> list[Budget]:
        wanted = set(names)
        return [b for b in self.book.budgets if b.name in wanted]

    @property
    def waiting(self) -> int:
        return len(self._outbox)

    def reason(self, tags: frozenset[str]) -> str | None:
        """Why a hard budget applying to ``tags`` is used up across replicas (cached view)."""
        now = time.time()
        for budget in self.book.budgets:
            view = self.views.get(budget.name)
            if view is None or not budget.hard_stop or not budget.applies_to(tags):
                continue
            if view.period != period_key(budget.period, now):
                continue
            if view.spent_usd + view.reserved_usd >= budget.limit_usd:
                return (
                    f"budget {budget.name} is used up across replicas: spent "
                    f"{view.spent_usd:.6g} USD + {view.reserved_usd:.6g} USD reserved of "
                    f"{budget.limit_usd:g} USD ({view.period})"
                )
        return None

    def reserve(self, reservation: Reservation) -> str | tuple[str, Reservation] | None:
        """Hold the reservation's estimate in Redis: (its id, the reservation), a refusal's
        reason, or None when nothing was held (no budget applies, or Redis is down)."""
        budgets = self._named(reservation.budgets)
        if not budgets or not self.link.up:
            return None
        now = time.time()
        hold = f"{self.replica}:{reservation.id}:{secrets.token_hex(4)}"
        args: list[str | float | int] = [
            hold,
            reservation.estimated_cost_usd,
            self.hold_ms,
            max(_KEY_TTL_MS[b.period] for b in budgets),
        ]
        for budget in budgets:
            args += [budget.limit_usd, "1" if budget.hard_stop else "0"]
        try:
            reply = self._reserve(self._keys(budgets, now), args, client=self.link.fast)
        except REDIS_ERRORS as exc:
            self.link.failed("budget reserve", exc)
            return None
        refused = int(reply[0])
        for i, budget in enumerate(budgets):
            spent, reserved = float(reply[1 + 2 * i]), float(reply[2 + 2 * i])
            self.views[budget.name] = AccountView(period_key(budget.period, now), spent, reserved)
        if refused:
            return self.reason(frozenset().union(*(b.tags for b in budgets))) or (
                f"budget {budgets[refused - 1].name} is used up across replicas"
            )
        return hold, reservation

    def settle(self, hold: str, names: Sequence[str], cost_usd: float) -> None:
        """Book a call's actual cost (pushed by the next sync)."""
        budgets = self._named(names)
        if not budgets:
            return
        now = time.time()
        accounts = tuple(self.account(b, now) for b in budgets)
        with self._lock:
            for account in accounts:
                self.own[account] = self.own.get(account, 0.0) + cost_usd
            totals = tuple(self.own[a] for a in accounts)
        ttls = tuple(_KEY_TTL_MS[b.period] for b in budgets)
        self._outbox.append(_Settle(hold, accounts, totals, ttls))

    def push(self) -> None:
        """Write the queued settles (each idempotent); kept for later when Redis fails."""
        batch = list(self._outbox)
        if not batch:
            return
        pipe = self.link.slow.pipeline(transaction=False)
        for item in batch:
            for account, total, ttl in zip(item.accounts, item.totals, item.ttls, strict=True):
                keys = [account, account + ":res", account + ":spent"]
                self._settle(keys, [item.reservation, self.replica, ttl, total], client=pipe)
        pipe.execute()
        for _ in batch:
            self._outbox.popleft()

    def pull(self) -> None:
        """Refresh every budget's global view of the current period."""
        budgets = list(self.book.budgets)
        if not budgets:
            return
        now = time.time()
        pipe = self.link.slow.pipeline(transaction=False)
        for budget in budgets:
            account = self.account(budget, now)
            pipe.hget(account, "reserved")
            pipe.hgetall(account + ":spent")
        replies = pipe.execute()
        for i, budget in enumerate(budgets):
            account = self.account(budget, now)
            spent = {k.decode(): float(v) for k, v in replies[2 * i + 1].items()}
            self.others[account] = {r: v for r, v in spent.items() if r != self.replica}
            reserved = max(float(replies[2 * i] or 0.0), 0.0)
            view = AccountView(period_key(budget.period, now), sum(spent.values()), reserved)
            self.views[budget.name] = view

    def republish(self) -> None:
        """Write every replica's known spend back (after Redis lost its data)."""
        pipe = self.link.slow.pipeline(transaction=False)
        accounts = set(self.own) | set(self.others)
        for account in accounts:
            spends = dict(self.others.get(account, {}))
            if account in self.own:
                spends[self.replica] = self.own[account]
            for replica, total in spends.items():
                self._at_least([account + ":spent"], [replica, total, 0], client=pipe)
        pipe.execute()
