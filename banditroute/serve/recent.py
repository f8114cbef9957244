"""Recent decisions for ``GET /v1/decisions/{id}``: a bounded LRU per replica, and the decision
log for older ones (or those of other replicas, once their rows are written).

>>> from banditroute.decision import Candidate, Decision
>>> d = Decision(id="d1", model="a", fallbacks=(), propensity=1.0, policy="thompson",
...              prompt_tokens=3, candidates=(Candidate("a", 0.5, 0.5, 0.1, 0.001, 900.0),))
>>> recent = RecentDecisions(capacity=1)
>>> recent.add(d).explain().splitlines()[0]
'chose a (propensity 1.00, policy thompson) for a prompt of ~3 tokens'
>>> recent.add(Decision(**{**vars(d), "id": "d2"})) and recent.get("d1") is None
True
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..store.tables import is_decision_id, quote
from .wire_out import attempts_json, decision_json

if TYPE_CHECKING:
    from ..decision import Decision
    from ..gateway.completion import Completion
    from ..store.decision_store import DecisionStore

__all__ = ["DecisionRecord", "RecentDecisions", "logged_decision"]


@dataclass
class DecisionRecord:
    """A decision made here and, once the call ended, its completion or error."""

    decision: Decision
    created: float
    completion: Completion | None = None
    error: str | None = None

    def finish(self, completion: Completion) -> None:
        """Keep what the call became, without the answer's text (the LRU stays small)."""
        self.completion = replace(completion, text="", tool_calls=(), response=None)

    def explain(self) -> str:
        """The completion's account (attempts, then the decision) or the decision's."""
        text = self.completion.explain() if self.completion is not None else None
        text = text or self.decision.explain()
        return text if self.error is None else f"{text}\nfailed: {self.error}"

    def to_json(self) -> dict[str, Any]:
        """The decision, what became of it, and the explanation text."""
        c = self.completion
        return {
            **decision_json(self.decision),
            "created": self.created,
            "served_by": None if c is None else c.model,
            "attempts": [] if c is None else attempts_json(c.attempts),
            "cost_usd": None if c is None else c.cost_usd,
            "latency_ms": None if c is None else c.latency_ms,
            "error": self.error,
            "source": "memory",
            "explanation": self.explain(),
        }


class RecentDecisions:
    """The last ``capacity`` decisions made by this replica (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, DecisionRecord] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, decision: Decision) -> DecisionRecord:
        """Remember a decision (the oldest is forgotten beyond ``capacity``)."""
        record = DecisionRecord(decision, time.time())
        with self._lock:
            self._items[decision.id] = record
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return record

    def get(self, decision_id: str) -> DecisionRecord | None:
        """The record of a decision made here recently, or None."""
        with self._lock:
            return self._items.get(decision_id)


def _explain_row(row: dict[str, Any], call: dict[str, Any] | None) -> str:
    lines = [
        f"chose {row['model']} (propensity {row['propensity']:.2f}, policy {row['policy']}) "
        f"for a prompt of ~{row['prompt_tokens']} tokens (from the decision log)"
    ]
    for model, q in zip(row["candidates"] or [], row["candidate_quality"] or [], strict=False):
        lines.append(f"  {model:<36} E[quality] {q:.3f}")
    if call is not None:
        lines.append(
            f"  served by {call['model'] or 'no model'} after {call['n_attempts']} attempt(s)"
        )
    if row["has_outcome"]:
        lines.append(
            f"  outcome: quality {row['quality']:.3f}, cost {row['cost_usd']} USD, "
            f"latency {row['latency_ms']} ms" + (f", error {row['error']}" if row["error"] else "")
        )
    return "\n".join(lines)


def logged_decision(store: DecisionStore, decision_id: str) -> dict[str, Any] | None:
    """A decision as the log holds it (with its call, if logged), or None (blocking I/O)."""
    if not is_decision_id(decision_id) or not store.has_table("decisions"):
        return None
    where = f"id = {quote(decision_id)}"
    with store.reading():
        rows = store.table("decisions").search().where(where).limit(1).to_list()
    if not rows:
        return None
    row = {k: v for k, v in rows[0].items() if k not in ("embedding", "_distance")}
    call = None
    if store.has_table("calls"):
        with store.reading():
            found = (
                store.table("calls")
                .search()
                .where(f"decision_id = {quote(decision_id)}")
                .limit(1)
                .to_list()
            )
        call = found[0] if found else None
    return {
        **row,
        "served_by": None if call is None else (call["model"] or None),
        "attempts": [] if call is None else json.loads(call["attempts"] or "[]"),
        "source": "log",
        "explanation": _explain_row(row, call),
    }
