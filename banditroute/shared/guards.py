"""Rate limits, cooldowns and budgets counted across replicas (the gateway's `SharedGuards`).

- Rate limits: a model with ``requests_per_minute`` / ``tokens_per_minute`` is admitted only when
  one script finds room in a sliding 60 s window counted in Redis over all replicas
  (``ns:rl:<model>:<figure>``: counts per second), on top of each replica's own limiter. A
  refusal is remembered until the window frees up, so the decision step excludes the model
  without asking Redis.
- Cooldowns and 429s: when a model's breaker opens here, or a provider answers 429, an event
  (``ns:cd:<model>``, ``ns:pen:<model>``, expiring with the cooldown / ``Retry-After``) tells
  the other replicas at their next sync, which cool the model down / slow it down too.
- Budgets: `SharedBudgets`.

Only admission talks to Redis on the request path (one script per limited model and one per
budgeted call, 50 ms timeout); outcomes are queued and written by the background sync. When
Redis is down every guard works on this replica's own counts.

>>> from banditroute.gateway.guards import Guards
>>> from banditroute.shared.link import RedisLink
>>> shared = SharedGuardsState(RedisLink("redis://127.0.0.1:1/0"), Guards(), "a")
>>> shared.reason("m", frozenset()) is None
True
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass

from ..gateway.budget import Reservation
from ..gateway.errors import ProviderError, ProviderRateLimited
from ..gateway.guards import Admission, Guards
from ..registry import ModelProfile
from .budgets import SharedBudgets
from .link import REDIS_ERRORS, RedisLink
from .scripts import RATE

__all__ = ["RemoteHold", "SharedGuardsState"]


@dataclass(frozen=True)
class RemoteHold:
    """A budget reservation held in Redis for one admitted attempt."""

    hold: str
    budgets: tuple[str, ...]


class SharedGuardsState:
    """The `SharedGuards` of one gateway (see the module).

    Parameters
    ----------
    link : RedisLink
        The connection.
    guards : Guards
        The gateway's guards (breaker, limiter, budgets); remote events are applied to them.
    replica : str
        This replica's id.
    """

    def __init__(self, link: RedisLink, guards: Guards, replica: str) -> None:
        self.link, self.guards, self.replica = link, guards, replica
        self.budgets = (
            None if guards.budgets is None else SharedBudgets(link, guards.budgets, replica)
        )
        self._rate = link.fast.register_script(RATE)
        self._blocked: dict[str, tuple[float, str]] = {}  # model → (until, reason)
        self._events: deque[tuple[str, str, float, str]] = deque(maxlen=10_000)
        self._ids = itertools.count(1)
        self._seen: dict[str, str] = {}  # event key → the event applied here
        self._opened: dict[str, int] = {}  # model → breaker openings already announced

    @property
    def waiting(self) -> int:
        return len(self._events) + (0 if self.budgets is None else self.budgets.waiting)

    # -- SharedGuards (request path) -------------------------------------------------------------
    def reason(self, model: str, tags: frozenset[str]) -> str | None:
        blocked = self._blocked.get(model)
        if blocked is not None:
            if blocked[0] > time.monotonic():
                return blocked[1]
            self._blocked.pop(model, None)
        return None if self.budgets is None else self.budgets.reason(tags)

    def admit(
        self, model: ModelProfile, tokens: int, reservation: Reservation | None
    ) -> RemoteHold | str | None:
        if not self.link.up:
            return None
        limits = [
            (name, need, value)
            for name, need, value in (
                ("requests_per_minute", 1, model.requests_per_minute),
                ("tokens_per_minute", tokens, model.tokens_per_minute),
            )
            if value is not None
        ]
        if limits:
            keys = [self.link.key("rl", model.id, name) for name, _, _ in limits]
            args: list[float | int] = [60]
            for _, need, value in limits:
                args += [need, value]
            try:
                wait = self._rate(keys, args, client=self.link.fast)
            except REDIS_ERRORS as exc:
                self.link.failed("rate limit", exc)
                return None
            seconds = float(wait)
            if seconds != 0:
                figures = ", ".join(f"{name} {value}" for name, _, value in limits)
                reason = f"rate-limited across replicas for {seconds:.1f} s ({figures})"
                self._blocked[model.id] = (time.monotonic() + min(seconds, 60.0), reason)
                return reason
        if self.budgets is None or reservation is None:
            return None
        held = self.budgets.reserve(reservation)
        if held is None or isinstance(held, str):
            return held
        return RemoteHold(held[0], reservation.budgets)

    def record(self, admission: Admission, cost_usd: float, error: ProviderError | None) -> None:
        if self.budgets is not None and admission.reservation is not None:
            hold = admission.remote.hold if isinstance(admission.remote, RemoteHold) else ""
            self.budgets.settle(hold, admission.reservation.budgets, cost_usd)
        if error is None:
            return
        model = admission.model
        for status in self.guards.breaker.snapshot():
            opened = status.state == "open" and status.times_opened > self._opened.get(model, 0)
            if status.model == model and opened:
                self._opened[model] = status.times_opened
                failures = str(self.guards.breaker.failure_threshold)
                self._events.append(("cd", model, status.open_for_s, failures))
        if isinstance(error, ProviderRateLimited):
            self._events.append(("pen", model, error.retry_after_s or 1.0, ""))

    # -- the background sync ---------------------------------------------------------------------
    def push(self) -> None:
        """Write the queued events and settles."""
        events = list(self._events)
        if events:
            pipe = self.link.slow.pipeline(transaction=False)
            for kind, model, seconds, detail in events:
                value = f"{self.replica}:{next(self._ids)}|{detail}"
                pipe.set(self.link.key(kind, model), value, px=max(1, round(seconds * 1000)))
            pipe.execute()
            for _ in events:
                self._events.popleft()
        if self.budgets is not None:
            self.budgets.push()

    def pull(self, models: list[str]) -> None:
        """Apply other replicas' cooldowns and 429s; refresh the budgets' global view."""
        if models:
            pipe = self.link.slow.pipeline(transaction=False)
            for model in models:
                for kind in ("cd", "pen"):
                    pipe.get(self.link.key(kind, model))
                    pipe.pttl(self.link.key(kind, model))
            replies = pipe.execute()
            for i, model in enumerate(models):
                for j, kind in enumerate(("cd", "pen")):
                    value, ttl_ms = replies[4 * i + 2 * j], replies[4 * i + 2 * j + 1]
                    if value is not None and ttl_ms > 0:
                        self._apply(kind, model, value.decode(), ttl_ms / 1000)
        if self.budgets is not None:
            self.budgets.pull()

    def _apply(self, kind: str, model: str, value: str, seconds: float) -> None:
        event, _, detail = value.partition("|")
        if event.startswith(self.replica + ":") or self._seen.get(kind + model) == event:
            return
        self._seen[kind + model] = event
        if kind == "cd":
            failures = int(detail) if detail.isdigit() else 1
            breaker = self.guards.breaker
            if breaker.hold_open(model, seconds, failures):
                status = [s for s in breaker.snapshot() if s.model == model]
                self._opened[model] = status[0].times_opened if status else 0
        else:
            self.guards.limiter.penalize(model, seconds)

    def republish(self) -> None:
        if self.budgets is not None:
            self.budgets.republish()
