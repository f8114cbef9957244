"""The decision log in LanceDB (a local folder): decisions with their outcomes, registry
snapshots and drift events, written in batches by a background thread.

A decision waits in memory for its outcome (up to ``outcome_wait_s``) so that most rows are
written once, complete; a late outcome updates its row. `flush` writes everything now; `close`
flushes and stops the writer (also run at interpreter exit). A crash loses at most the rows of
the last ``outcome_wait_s`` seconds.

>>> import tempfile, numpy as np
>>> from banditroute import Engine, HashingEmbedder
>>> from banditroute.registry import Registry, example_registry_path
>>> from banditroute.store import DecisionStore
>>> store = DecisionStore(tempfile.mkdtemp(), embedding_dim=64, embedder="hashing64",
...                       background=False)
>>> engine = Engine(Registry.load(example_registry_path()), embedder=HashingEmbedder(64),
...                 store=store, seed=0)
>>> d = engine.choose("Write a haiku about the sea")
>>> _ = engine.feedback(d, quality=0.8, cost_usd=0.001, latency_ms=900)
>>> store.flush(); store.count()
1
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import invalid
from .redact import Redactor, redact_secrets
from .tables import META_FILE, TABLES, Tables, quote
from .writer import Writer

if TYPE_CHECKING:
    from ..constraints import Constraints
    from ..decision import Decision, Outcome
    from ..drift import DriftEvent
    from ..registry import Registry

__all__ = ["META_FILE", "DecisionStore", "quote"]


class DecisionStore:
    """LanceDB tables ``decisions``, ``registry`` and ``drift`` in the folder ``path``.

    Parameters
    ----------
    path : str or Path
        The folder (created when missing).
    embedding_dim : int
        Length of the prompt embeddings stored (the engine's embedder dim).
    embedder : str or None
        Name of the embedder, checked on reopening so questions are embedded the same way
        (None: the first engine that logs here names it).
    redact : callable
        Maps a prompt to the text to store, or None to store none (default: `redact_secrets`).
    flush_rows, flush_interval_s, outcome_wait_s : int, float, float
        Batching of the background writer.
    background : bool
        False: nothing is written until `flush` (tests, replays).
    """

    def __init__(
        self,
        path: str | Path,
        embedding_dim: int = 384,
        embedder: str | None = None,
        redact: Redactor = redact_secrets,
        flush_rows: int = 2000,
        flush_interval_s: float = 2.0,
        outcome_wait_s: float = 30.0,
        background: bool = True,
    ) -> None:
        self._tables = Tables(path, embedding_dim, embedder)
        self.path = self._tables.path
        self.embedding_dim = self._tables.embedding_dim
        self._writer = Writer(
            self._tables, redact, flush_rows, flush_interval_s, outcome_wait_s, background
        )
        atexit.register(_close_at_exit, weakref.ref(self))

    @property
    def embedder(self) -> str | None:
        """The name of the embedder this folder's vectors come from (None: not named yet)."""
        return self._tables.embedder

    def name_embedder(self, embedder: str) -> None:
        """Record the embedder's name if the folder has none yet (a named one keeps its own)."""
        self._tables.name_embedder(embedder)

    # -- the writer's settings (can be changed on a live store) -------------------------------
    @property
    def redact(self) -> Redactor:
        """Maps a prompt to the text to store (None: store none)."""
        return self._writer.redact

    @redact.setter
    def redact(self, value: Redactor) -> None:
        self._writer.redact = value

    @property
    def flush_rows(self) -> int:
        """Queued decisions that wake the background writer."""
        return self._writer.flush_rows

    @flush_rows.setter
    def flush_rows(self, value: int) -> None:
        self._writer.flush_rows = value

    @property
    def flush_interval_s(self) -> float:
        """Longest time between two writes of the background writer."""
        return self._writer.flush_interval_s

    @flush_interval_s.setter
    def flush_interval_s(self, value: float) -> None:
        self._writer.flush_interval_s = value

    @property
    def outcome_wait_s(self) -> float:
        """How long a decision waits in memory for its outcome."""
        return self._writer.outcome_wait_s

    @outcome_wait_s.setter
    def outcome_wait_s(self, value: float) -> None:
        self._writer.outcome_wait_s = value

    # -- recording (cheap: appends to memory; rows are built by the writer) ---------------------
    def record_decision(
        self,
        decision: Decision,
        embedding: np.ndarray,
        prompt: str | None,
        constraints: Constraints | None = None,
        at: float | None = None,
    ) -> None:
        """Queue a decision; it is written with its outcome, or alone after ``outcome_wait_s``."""
        self._writer.record_decision(decision, embedding, prompt, constraints, at)

    def record_outcome(self, outcome: Outcome) -> None:
        """Attach an outcome to its decision (before or after the decision row was written)."""
        self._writer.record_outcome(outcome)

    def record_drift(self, event: DriftEvent, event_id: str) -> None:
        """Queue a drift event."""
        self._writer.record_drift(event, event_id)

    def record_registry(self, registry: Registry, change: str) -> None:
        """Queue a snapshot of every model's profile."""
        self._writer.record_registry(registry, change)

    # -- writing -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every queued row now, including decisions still waiting for an outcome."""
        self._writer.write(everything=True)

    def close(self) -> None:
        """Flush and stop the background writer (idempotent)."""
        self._writer.close()

    # -- reading -------------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        """Decisions written so far (optionally matching a filter built with `quote`)."""
        if "decisions" not in self._tables.names():
            return 0
        return int(self._tables.get("decisions").count_rows(where))

    def has_table(self, name: str) -> bool:
        """True once the table holds anything."""
        return name in self._tables.names()

    def table(self, name: str) -> Any:
        """The LanceDB table ``decisions``, ``registry`` or ``drift`` (for your own queries)."""
        if name not in TABLES:
            raise invalid("name", name, "'decisions', 'registry' or 'drift'")
        return self._tables.get(name)

    def models(self) -> list[str]:
        """Every model id the log has seen (decisions and registry snapshots).

        Read from disk once per store object, then kept up to date from what it writes.
        """
        writer = self._writer
        with writer.lock:
            if writer.models_seen is None:
                seen: set[str] = set()
                for name in ("registry", "decisions"):
                    if self.has_table(name) and self._tables.get(name).count_rows():
                        column = self._tables.get(name).search().select(["model"]).to_arrow()
                        seen.update(str(m) for m in column["model"].unique().to_pylist() if m)
                writer.models_seen = seen
            return sorted(writer.models_seen)

    def compact(self, older_than: timedelta = timedelta(days=7)) -> None:
        """Merge small files and indexes, and delete table versions older than ``older_than``."""
        self.flush()
        for name in TABLES:
            if self.has_table(name):
                self._tables.get(name).optimize(cleanup_older_than=older_than)

    def build_indexes(self) -> None:
        """Vector (IVF-PQ, from 10,000 rows), full-text (prompt), scalar (time, model) indexes."""
        from lancedb.index import FTS, BTree, IvfPq

        self.flush()
        table = self._tables.get("decisions")
        rows = table.count_rows()
        if rows >= 10_000:
            table.create_index(
                "embedding",
                config=IvfPq(
                    distance_type="cosine",
                    num_partitions=max(16, rows // 4096),
                    num_sub_vectors=max(1, self.embedding_dim // 16),
                ),
            )
        table.create_index("prompt", config=FTS(), replace=True)
        for column in ("time", "model"):
            table.create_index(column, config=BTree(), replace=True)


def _close_at_exit(ref: weakref.ref[DecisionStore]) -> None:
    store = ref()
    if store is not None:
        with contextlib.suppress(Exception):  # nothing sensible to do at exit
            store.close()
