"""The engine's link to its decision log: every record is a no-op when there is no log.

>>> from banditroute.engine_log import LogLink
>>> link = LogLink(None)
>>> link.registry(None, "nothing to write to: nothing happens"), link.store is None
(None, True)
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .constraints import Constraints
from .decision import Decision, Outcome
from .drift import DriftEvent
from .embedders import same_embedder
from .errors import InvalidInput, invalid
from .registry import Registry

if TYPE_CHECKING:
    from .embedders import Embedder
    from .store.ask import Answer
    from .store.call_record import CallRecord
    from .store.decision_store import DecisionStore

__all__ = ["LogLink", "open_store"]


def open_store(
    store: DecisionStore | str | Path | None, embedder_name: str, dim: int
) -> DecisionStore | None:
    """A decision log for an engine whose embedder has this name and dimension."""
    if store is None:
        return None
    from .store.decision_store import DecisionStore  # lazy: pyarrow, lancedb

    if isinstance(store, str | Path):
        store = DecisionStore(store, embedding_dim=dim, embedder=embedder_name)
    if not isinstance(store, DecisionStore):
        raise invalid("store", store, "a DecisionStore, a folder path or None")
    store.name_embedder(embedder_name)  # an unnamed folder takes this engine's embedder
    recorded = store.embedder or embedder_name
    if not same_embedder(recorded, embedder_name) or store.embedding_dim != dim:
        raise InvalidInput(
            f"the decision log at {store.path} was built with embedder {store.embedder!r} "
            f"({store.embedding_dim}-dim); this engine embeds with {embedder_name!r} ({dim}-dim)"
        )
    return store


class LogLink:
    """Queues decisions, outcomes, drift events and registry changes into an optional log."""

    def __init__(self, store: DecisionStore | None) -> None:
        self.store = store
        self._drift_count = 0

    def registry(self, registry: Registry | None, change: str) -> None:
        if self.store is not None and registry is not None:
            self.store.record_registry(registry, change)

    def decision(
        self, decision: Decision, embedding: np.ndarray, prompt: str, c: Constraints | None
    ) -> None:
        if self.store is not None:
            self.store.record_decision(decision, embedding, prompt, c)

    def outcome(self, outcome: Outcome) -> None:
        if self.store is not None:
            self.store.record_outcome(outcome)

    def drift(self, events: list[DriftEvent], total_events: int) -> None:
        """Record new drift events; ``total_events`` counts every event so far, these included."""
        if self.store is None:
            return
        first = total_events - len(events) + 1
        for n, event in enumerate(events, start=first):
            self.store.record_drift(event, f"drift-{n}-{secrets.token_hex(4)}")

    def call(self, record: CallRecord) -> None:
        """Record a finished gateway call (the ``calls`` table)."""
        if self.store is not None:
            self.store.record_call(record)

    def ask(self, question: str, embedder: Embedder, evidence: int) -> Answer:
        if self.store is None:
            raise InvalidInput("ask needs a decision log: create the engine with store=FOLDER")
        from .store.ask import ask

        return ask(self.store, question, embedder, evidence=evidence)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
