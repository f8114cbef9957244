"""Decisions awaiting feedback: bounded, thread-safe, with one atomic `take`.

>>> import numpy as np
>>> from banditroute.pending import PendingDecision, PendingDecisions
>>> pending = PendingDecisions(max_size=2)
>>> for i in range(3):
...     pending.add(f"d{i}", PendingDecision("m", np.ones(2), 10, predicted_quality=0.5))
>>> len(pending), pending.take("d0"), pending.take("d2").model, pending.take("d2")
(2, None, 'm', None)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple, Protocol

import numpy as np

from .errors import UnknownDecision, invalid

__all__ = ["PendingDecision", "PendingDecisions", "RemotePending"]


class PendingDecision(NamedTuple):
    """What learning from one decision's outcome needs, kept from `choose` time."""

    model: str
    context: np.ndarray
    prompt_tokens: int
    predicted_quality: float | None = None  #: None for decisions restored from older states
    prompt: str | None = None  #: kept in memory for response scoring, never saved
    probe: bool = False  #: a scheduled probe of a model on probation after a drift


class RemotePending(Protocol):
    """Where decisions are shared between replicas (`banditroute.shared`): none of these raise."""

    def put(self, decision_id: str, pending: PendingDecision) -> None: ...
    def peek(self, decision_id: str) -> PendingDecision | None: ...
    def claim(self, decision_id: str) -> bool: ...
    def take(self, decision_id: str) -> PendingDecision | None: ...


class PendingDecisions:
    """Decisions by id, oldest forgotten beyond ``max_size``.

    Parameters
    ----------
    max_size : int
        How many decisions may await feedback at once.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise invalid("max_pending", max_size, "an int >= 1")
        self.max_size = max_size
        self._items: OrderedDict[str, PendingDecision] = OrderedDict()
        self._lock = threading.Lock()
        #: decisions shared with other replicas: a decision made elsewhere is found there, and
        #: one made here is claimed there too, so it is learned once wherever feedback arrives
        self.remote: RemotePending | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, decision_id: str, pending: PendingDecision) -> None:
        """Remember a decision (forgetting the oldest beyond ``max_size``)."""
        with self._lock:
            self._items[decision_id] = pending
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
        if self.remote is not None:
            self.remote.put(decision_id, pending)

    def get(self, decision_id: str) -> PendingDecision | None:
        """The pending decision, left in place (None when unknown or answered)."""
        with self._lock:
            found = self._items.get(decision_id)
        if found is None and self.remote is not None:
            found = self.remote.peek(decision_id)
        return found

    def take(self, decision_id: str) -> PendingDecision | None:
        """Remove and return the pending decision; only one caller ever gets it."""
        with self._lock:
            found = self._items.pop(decision_id, None)
        if self.remote is None:
            return found
        if found is not None:
            return found if self.remote.claim(decision_id) else None
        return self.remote.take(decision_id)

    @staticmethod
    def key(decision: object) -> str:
        """The id of ``decision`` (a `Decision` or an id)."""
        decision_id = getattr(decision, "id", decision)
        if not isinstance(decision_id, str):
            raise invalid("decision", decision, "a Decision or a decision id")
        return decision_id

    def take_or_raise(self, decision_id: str) -> PendingDecision:
        """Remove and return the pending decision; `UnknownDecision` when there is none (never
        made here, or already answered)."""
        pending = self.take(decision_id)
        if pending is None:
            raise UnknownDecision(
                f"decision {decision_id!r} is unknown to this engine or already has feedback"
            )
        return pending

    def snapshot(self) -> list[tuple[str, PendingDecision]]:
        """Every pending decision, oldest first (a copy, for saving)."""
        with self._lock:
            return list(self._items.items())
