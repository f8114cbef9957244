"""``GET /healthz``: ``ok``, or ``degraded`` with the reasons (the replica still serves).

Degraded when a model is cooled down, a hard budget is used up, the decision log cannot be
written (or dropped rows), or the shared state (Redis) is unreachable and this replica serves on
its local state.

>>> Health("degraded", ("model m1 is cooled down (12 s left)",), "r1").to_json()["status"]
'degraded'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .service import Service

__all__ = ["Health", "check"]


@dataclass(frozen=True)
class Health:
    """The replica's health: a status, the reasons it is degraded, and the figures behind."""

    status: Literal["ok", "degraded"]
    reasons: tuple[str, ...]
    replica_id: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "replica_id": self.replica_id,
            **self.details,
        }


def check(service: Service) -> Health:
    """The health of ``service`` now (cheap: in-memory reads only)."""
    reasons: list[str] = []
    guards = service.gateway.guards
    cooled = []
    for b in guards.breaker.snapshot():
        if b.state != "closed":
            cooled.append(b.model)
            reasons.append(f"model {b.model} is cooled down ({b.open_for_s:.0f} s left)")
    if guards.budgets is not None:
        for budget in guards.budgets.status():
            if budget.hard_stop and budget.spent_usd >= budget.limit_usd:
                reasons.append(f"budget {budget.name} is used up")
    details: dict[str, Any] = {
        "models": len(service.engine.registry.active()),
        "cooled_down": cooled,
        "pending_decisions": service.engine.pending_decisions,
    }
    store = service.engine.store
    if store is not None:
        stats = store.stats()
        if stats.last_error is not None:
            reasons.append(f"decision log: {stats.last_error}")
        lost = stats.dropped_rows + stats.lost_rows
        if lost:
            reasons.append(f"decision log: {lost} rows dropped or lost")
        details["store"] = {"queued_rows": stats.queued_rows, "written_rows": stats.written_rows}
    if service.shared is not None:
        status = service.shared.status()
        if not status.connected:
            why = f" ({status.last_error})" if status.last_error else ""
            reasons.append(f"shared state disconnected: serving on local state{why}")
        details["shared"] = {
            "connected": status.connected,
            "lag_s": status.lag_s,
            "pending_pushes": status.pending_pushes,
        }
    return Health("degraded" if reasons else "ok", tuple(reasons), service.replica_id, details)
