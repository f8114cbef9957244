"""The decision log's write path: rows queued in memory, written in batches by `flush` or by a
background thread.

A decision waits for its outcome (up to ``outcome_wait_s``) so that most rows are written once,
complete; an outcome arriving after its decision was written becomes an update. Recording only
appends to memory under a lock; rows are built by the writer, off the caller's hot path. A
failed write puts everything back for the next attempt.

>>> import tempfile
>>> from banditroute.store.tables import Tables
>>> writer = Writer(Tables(tempfile.mkdtemp(), 8, "h"), flush_rows=10, flush_interval_s=1.0,
...                 outcome_wait_s=30.0, background=False)
>>> writer.write(everything=True); writer.close()
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .redact import Redactor, redact_secrets
from .tables import Tables, is_decision_id, quote

if TYPE_CHECKING:
    from ..constraints import Constraints
    from ..decision import Decision, Outcome
    from ..drift import DriftEvent
    from ..registry import Registry

__all__ = ["Queued", "Writer", "outcome_values"]


@dataclass(slots=True)
class Queued:
    """A decision waiting in memory for its outcome and for the writer."""

    decision: Decision
    embedding: np.ndarray
    prompt: str | None
    constraints: Constraints | None
    time: float
    outcome: Outcome | None = None


def outcome_values(outcome: Outcome) -> dict[str, Any]:
    """The outcome columns of a decision row."""
    return {
        "has_outcome": True,
        "quality": outcome.quality,
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "reward": outcome.reward,
        "error": outcome.error,
    }


class Writer:
    """Queues of decisions, outcomes, drift events and registry snapshots, and their writing.

    Parameters
    ----------
    tables : Tables
        Where rows are written.
    redact : callable
        Maps a prompt to the text to store, or None to store none.
    flush_rows, flush_interval_s, outcome_wait_s : int, float, float
        Batching: wake the writer at this many queued decisions, write at least this often,
        and keep a decision waiting for its outcome this long.
    background : bool
        Start the background thread (False: nothing is written until `write`).
    """

    def __init__(
        self,
        tables: Tables,
        redact: Redactor = redact_secrets,
        flush_rows: int = 2000,
        flush_interval_s: float = 2.0,
        outcome_wait_s: float = 30.0,
        background: bool = True,
    ) -> None:
        self.tables = tables
        self.redact = redact
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.outcome_wait_s = outcome_wait_s
        self._waiting: OrderedDict[str, Queued] = OrderedDict()  # decisions sans outcome
        self._ready: list[Queued] = []
        self._late: list[Outcome] = []
        self._written: set[str] = set()  # ids written without an outcome (recent)
        self._other: dict[str, list[dict[str, Any]]] = {"registry": [], "drift": []}
        self.lock = threading.Lock()  #: guards the queues and `models_seen`
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self.closed = False
        self.models_seen: set[str] | None = None  # model ids in the log, read lazily
        self._snapshot = tables.next_snapshot()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="banditroute-store", daemon=True)
            self._thread.start()

    # -- recording (cheap: appends to memory) ----------------------------------------------
    def record_decision(
        self,
        decision: Decision,
        embedding: np.ndarray,
        prompt: str | None,
        constraints: Constraints | None = None,
        at: float | None = None,
    ) -> None:
        """Queue a decision; it is written with its outcome, or alone after ``outcome_wait_s``."""
        queued = Queued(decision, embedding, prompt, constraints, time.time() if at is None else at)
        with self.lock:
            self._waiting[decision.id] = queued
            if len(self._waiting) + len(self._ready) >= self.flush_rows:
                self._wake.set()

    def record_outcome(self, outcome: Outcome) -> None:
        """Attach an outcome to its decision (before or after the decision row was written)."""
        with self.lock:
            queued = self._waiting.pop(outcome.decision_id, None)
            if queued is not None:
                queued.outcome = outcome
                self._ready.append(queued)
            elif outcome.decision_id in self._written:
                self._late.append(outcome)

    def record_drift(self, event: DriftEvent, event_id: str) -> None:
        """Queue a drift event."""
        with self.lock:
            self._other["drift"].append({"id": event_id, **vars(event), "signal": event.signal})

    def record_registry(self, registry: Registry, change: str) -> None:
        """Queue a snapshot of every model's profile."""
        now = time.time()
        with self.lock:
            snapshot, self._snapshot = self._snapshot, self._snapshot + 1
            for model in registry.to_records()["model"]:
                self._other["registry"].append(
                    {
                        "time": now,
                        "snapshot": snapshot,
                        "model": model["id"],
                        "profile": json.dumps(model),
                        "change": change,
                    }
                )

    # -- writing -----------------------------------------------------------------------------
    def _row(self, q: Queued) -> dict[str, Any]:
        """The table row of a queued decision (built in the writer, off the hot path)."""
        d, o = q.decision, q.outcome
        return {
            "id": d.id,
            "time": float(q.time),
            "prompt": None if q.prompt is None else self.redact(q.prompt),
            "embedding": q.embedding,
            "constraints": None
            if q.constraints is None
            else q.constraints.model_dump_json(exclude_defaults=True),
            "model": d.model,
            "fallbacks": list(d.fallbacks),
            "propensity": d.propensity,
            "policy": d.policy,
            "prompt_tokens": d.prompt_tokens,
            "expected_quality": d.expected_quality,
            "expected_cost_usd": d.expected_cost_usd,
            "expected_latency_ms": d.expected_latency_ms,
            "candidates": [c.model for c in d.candidates],
            "candidate_quality": [c.expected_quality for c in d.candidates],
            **(outcome_values(o) if o is not None else {"has_outcome": False}),
        }

    def _run(self) -> None:
        while not self.closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self.write(everything=False)
            except Exception:  # the writer must not die; the rows stay queued for the next try
                time.sleep(self.flush_interval_s)

    def write(self, everything: bool) -> None:
        """Write what is due (``everything``: also decisions still waiting for an outcome)."""
        with self._write_lock:
            with self.lock:
                cutoff = time.time() - self.outcome_wait_s
                stale = [k for k, q in self._waiting.items() if everything or q.time < cutoff]
                queued = self._ready + [self._waiting.pop(k) for k in stale]
                late, other = self._late, self._other
                self._ready, self._late = [], []
                self._other = {"registry": [], "drift": []}
            try:
                rows = [self._row(q) for q in queued]
                if rows:
                    self.tables.add_decisions(rows)
                for name, batch in other.items():
                    if batch:
                        self.tables.add_rows(name, batch)
                for outcome in late:
                    if is_decision_id(outcome.decision_id):
                        self.tables.get("decisions").update(
                            where=f"id = {quote(outcome.decision_id)}",
                            values=outcome_values(outcome),
                        )
            except Exception:
                with self.lock:  # put everything back: nothing is lost on a failed write
                    self._ready = queued + self._ready
                    self._late = late + self._late
                    for name, batch in other.items():
                        self._other[name] = batch + self._other[name]
                raise
            with self.lock:
                if self.models_seen is not None:
                    self.models_seen.update(q.decision.model for q in queued)
                    self.models_seen.update(r["model"] for r in other["registry"])
                self._written.update(q.decision.id for q in queued if q.outcome is None)
                if len(self._written) > 1_000_000:
                    self._written.clear()

    def close(self) -> None:
        """Stop the background thread and write everything (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.write(everything=True)
