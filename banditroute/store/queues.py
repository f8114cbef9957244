"""The decision log's rows in memory: decisions waiting for their outcome, decisions ready to be
written, late outcomes and the other tables' rows, bounded by ``max_queued``.

Beyond the bound the oldest rows are dropped (decisions first, oldest first) and counted. A
failed write puts its rows back at the front of their queues, and outcomes that arrived while
it ran are joined to their decisions, so nothing is lost or written twice. An outcome for a
decision this writer never saw (another replica made it and writes its row) is kept as a
*foreign* outcome with its arrival time, and written as an update of that row once it exists.

>>> queues = Queues(max_queued=2)
>>> queues._other["drift"] += [{"id": "a"}, {"id": "b"}, {"id": "c"}]
>>> queues._trim(), queues.queued_rows(), queues._counts["dropped"]
(1, 2, 1)
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ..constraints import Constraints
    from ..decision import Decision, Outcome

__all__ = ["Queued", "Queues"]


@dataclass(slots=True)
class Queued:
    """A decision waiting in memory for its outcome and for the writer."""

    decision: Decision
    embedding: np.ndarray
    prompt: str | None
    constraints: Constraints | None
    time: float
    outcome: Outcome | None = None


class Queues:
    """Rows waiting to be written, under `lock`; at most ``max_queued`` of them.

    Parameters
    ----------
    max_queued : int
        Most rows kept; beyond it the oldest are dropped and counted in ``_counts["dropped"]``.
    """

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self._waiting: OrderedDict[str, Queued] = OrderedDict()  # decisions sans outcome
        self._ready: deque[Queued] = deque()
        self._late: deque[Outcome] = deque()
        #: outcomes of decisions another writer logs (another replica's), with arrival times
        self._foreign: deque[tuple[float, Outcome]] = deque()
        self._written: set[str] = set()  # ids written (or being written) without an outcome
        self._other: dict[str, list[dict[str, Any]]] = {"registry": [], "drift": [], "calls": []}
        self.lock = threading.Lock()  #: guards the queues, the counts and `models_seen`
        self._counts = {"written": 0, "dropped": 0, "unwritable": 0, "lost": 0}

    def queued_rows(self) -> int:
        """Rows waiting in memory (call with `lock` held)."""
        others = sum(len(rows) for rows in self._other.values())
        waiting = len(self._waiting) + len(self._ready) + len(self._late) + len(self._foreign)
        return waiting + others

    def _trim(self) -> int:
        """Drop the oldest rows beyond ``max_queued`` (call with `lock` held); how many."""
        excess = self.queued_rows() - self.max_queued
        for _ in range(max(0, excess)):
            ready = self._ready[0].time if self._ready else None
            waiting = next(iter(self._waiting.values())).time if self._waiting else None
            if ready is not None and (waiting is None or ready <= waiting):
                self._ready.popleft()
            elif waiting is not None:
                self._waiting.popitem(last=False)
            elif self._late:
                self._late.popleft()
            elif self._foreign:
                self._foreign.popleft()
            else:
                max(self._other.values(), key=len).pop(0)
        if excess > 0:
            self._counts["dropped"] += excess
        return max(0, excess)

    def _take(
        self, everything: bool, cutoff: float
    ) -> tuple[list[Queued], list[Outcome], dict[str, list[Any]]]:
        """Everything due for a write: decisions with outcomes, decisions older than
        ``cutoff`` (all with ``everything``), late outcomes and the other tables' rows."""
        with self.lock:
            stale = [k for k, q in self._waiting.items() if everything or q.time < cutoff]
            queued = [*self._ready, *(self._waiting.pop(k) for k in stale)]
            late = list(self._late)
            self._ready.clear()
            self._late.clear()
            other = dict(self._other)
            for name in self._other:  # the same dict object: recorders may hold it
                self._other[name] = []
            # in flight: an outcome arriving during the write becomes an update
            self._written.update(q.decision.id for q in queued if q.outcome is None)
        return queued, late, other

    def _put_back(
        self, decisions: list[Queued], late: list[Outcome], other: dict[str, list[Any]]
    ) -> None:
        """After a failed write: rows back at the front of their queues (call with `lock`)."""
        unanswered = {q.decision.id: q for q in decisions if q.outcome is None}
        self._written.difference_update(unanswered)
        still_late: deque[Outcome] = deque()
        for outcome in [*late, *self._late]:  # outcomes that came while the write was running
            queued = unanswered.pop(outcome.decision_id, None)
            if queued is not None:
                queued.outcome = outcome
            else:
                still_late.append(outcome)
        self._late = still_late
        self._ready.extendleft(reversed([q for q in decisions if q.outcome is not None]))
        for q in reversed([q for q in decisions if q.outcome is None]):
            self._waiting[q.decision.id] = q
            self._waiting.move_to_end(q.decision.id, last=False)
        for name, rows in other.items():
            self._other[name] = rows + self._other.get(name, [])

    def _drain(self) -> int:
        """Forget every queued row (`close` gave up); how many, counted as lost."""
        with self.lock:
            lost = self.queued_rows()
            self._waiting.clear()
            self._ready.clear()
            self._late.clear()
            self._foreign.clear()
            for rows in self._other.values():
                rows.clear()
            self._counts["lost"] += lost
        return lost
