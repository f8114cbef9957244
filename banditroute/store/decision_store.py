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
>>> store = DecisionStore(tempfile.mkdtemp(), embedding_dim=64, background=False)
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
import json
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from .._compat import drop_shadowing_datasets_module
from ..errors import InvalidInput, StateFileError, invalid
from .redact import Redactor, redact_secrets
from .schema import SCHEMA_VERSION, decision_schema, drift_schema, registry_schema

if TYPE_CHECKING:
    from ..constraints import Constraints
    from ..decision import Decision, Outcome
    from ..drift import DriftEvent
    from ..registry import Registry

__all__ = ["DecisionStore", "quote"]

META_FILE = "banditroute-store.json"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(slots=True)
class _Queued:
    """A decision waiting in memory for its outcome and for the writer."""

    decision: Decision
    embedding: np.ndarray
    prompt: str | None
    constraints: Constraints | None
    time: float
    outcome: Outcome | None = None


def _outcome_values(outcome: Outcome) -> dict[str, Any]:
    return {
        "has_outcome": True,
        "quality": outcome.quality,
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "reward": outcome.reward,
        "error": outcome.error,
    }


def quote(value: str) -> str:
    """A SQL string literal for LanceDB filters: single quotes doubled, no control characters."""
    if not isinstance(value, str) or any(ord(ch) < 32 for ch in value):
        raise invalid("filter value", value, "a string without control characters")
    return "'" + value.replace("'", "''") + "'"


class DecisionStore:
    """LanceDB tables ``decisions``, ``registry`` and ``drift`` in the folder ``path``.

    Parameters
    ----------
    path : str or Path
        The folder (created when missing).
    embedding_dim : int
        Length of the prompt embeddings stored (the engine's embedder dim).
    embedder : str
        Name of the embedder, checked on reopening so questions are embedded the same way.
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
        embedder: str = "minilm",
        redact: Redactor = redact_secrets,
        flush_rows: int = 2000,
        flush_interval_s: float = 2.0,
        outcome_wait_s: float = 30.0,
        background: bool = True,
    ) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")  # lance's Rust side warns on stderr otherwise
        drop_shadowing_datasets_module()
        import lancedb

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.embedding_dim, self.embedder = self._check_meta(int(embedding_dim), embedder)
        self.redact = redact
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.outcome_wait_s = outcome_wait_s
        self._db = lancedb.connect(str(self.path))
        self._tables: dict[str, Any] = {}
        self._waiting: OrderedDict[str, _Queued] = OrderedDict()  # decisions sans outcome
        self._ready: list[_Queued] = []
        self._late: list[Outcome] = []
        self._written: set[str] = set()  # ids written without an outcome (recent)
        self._other: dict[str, list[dict[str, Any]]] = {"registry": [], "drift": []}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._models: set[str] | None = None  # model ids in the log, read lazily
        self._snapshot = self._next_snapshot()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="banditroute-store", daemon=True)
            self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- set-up ------------------------------------------------------------------------------
    def _check_meta(self, dim: int, embedder: str) -> tuple[int, str]:
        meta_path = self.path / META_FILE
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                version, stored_dim = int(meta["schema_version"]), int(meta["embedding_dim"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StateFileError(
                    f"{meta_path} is not a banditroute store file: {exc}"
                ) from None
            if version > SCHEMA_VERSION:
                raise StateFileError(
                    f"{self.path} has store schema {version}; this banditroute reads up to "
                    f"{SCHEMA_VERSION}: upgrade banditroute"
                )
            if stored_dim != dim:
                raise InvalidInput(
                    f"{self.path} holds {stored_dim}-dim embeddings ({meta.get('embedder')}); "
                    f"this engine's are {dim}-dim"
                )
            return stored_dim, str(meta.get("embedder", embedder))
        meta = {"schema_version": SCHEMA_VERSION, "embedding_dim": dim, "embedder": embedder}
        meta_path.write_text(json.dumps(meta))
        return dim, embedder

    def _table_names(self) -> list[str]:
        return list(self._db.list_tables().tables)

    def _table(self, name: str) -> Any:
        if name not in self._tables:
            schema = {
                "decisions": decision_schema(self.embedding_dim),
                "registry": registry_schema(),
                "drift": drift_schema(),
            }[name]
            self._tables[name] = self._db.create_table(name, schema=schema, exist_ok=True)
        return self._tables[name]

    def _next_snapshot(self) -> int:
        if "registry" not in self._table_names():
            return 0
        table = self._table("registry")
        if table.count_rows() == 0:
            return 0
        return int(table.search().select(["snapshot"]).to_arrow()["snapshot"].to_numpy().max()) + 1

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
        queued = _Queued(
            decision, embedding, prompt, constraints, time.time() if at is None else at
        )
        with self._lock:
            self._waiting[decision.id] = queued
            if len(self._waiting) + len(self._ready) >= self.flush_rows:
                self._wake.set()

    def record_outcome(self, outcome: Outcome) -> None:
        """Attach an outcome to its decision (before or after the decision row was written)."""
        with self._lock:
            queued = self._waiting.pop(outcome.decision_id, None)
            if queued is not None:
                queued.outcome = outcome
                self._ready.append(queued)
            elif outcome.decision_id in self._written:
                self._late.append(outcome)

    def _row(self, q: _Queued) -> dict[str, Any]:
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
            **(_outcome_values(o) if o is not None else {"has_outcome": False}),
        }

    def record_drift(self, event: DriftEvent, event_id: str) -> None:
        """Queue a drift event."""
        with self._lock:
            self._other["drift"].append({"id": event_id, **vars(event), "signal": event.signal})

    def record_registry(self, registry: Registry, change: str) -> None:
        """Queue a snapshot of every model's profile."""
        now = time.time()
        with self._lock:
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

    # -- writing -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            try:
                self._write(everything=False)
            except Exception:  # the writer must not die; the rows stay queued for the next try
                time.sleep(self.flush_interval_s)

    def flush(self) -> None:
        """Write every queued row now, including decisions still waiting for an outcome."""
        self._write(everything=True)

    def _write(self, everything: bool) -> None:
        with self._write_lock:
            with self._lock:
                cutoff = time.time() - self.outcome_wait_s
                stale = [k for k, q in self._waiting.items() if everything or q.time < cutoff]
                queued = self._ready + [self._waiting.pop(k) for k in stale]
                late, other = self._late, self._other
                self._ready, self._late = [], []
                self._other = {"registry": [], "drift": []}
            try:
                rows = [self._row(q) for q in queued]
                if rows:
                    self._table("decisions").add(self._decision_batch(rows))
                for name, batch in other.items():
                    if batch:
                        schema = registry_schema() if name == "registry" else drift_schema()
                        self._table(name).add(pa.Table.from_pylist(batch, schema=schema))
                for outcome in late:
                    if _ID.match(outcome.decision_id):
                        self._table("decisions").update(
                            where=f"id = {quote(outcome.decision_id)}",
                            values=_outcome_values(outcome),
                        )
            except Exception:
                with self._lock:  # put everything back: nothing is lost on a failed write
                    self._ready = queued + self._ready
                    self._late = late + self._late
                    for name, batch in other.items():
                        self._other[name] = batch + self._other[name]
                raise
            with self._lock:
                if self._models is not None:
                    self._models.update(q.decision.model for q in queued)
                    self._models.update(r["model"] for r in other["registry"])
                self._written.update(q.decision.id for q in queued if q.outcome is None)
                if len(self._written) > 1_000_000:
                    self._written.clear()

    def _decision_batch(self, rows: Sequence[dict[str, Any]]) -> pa.Table:
        schema = decision_schema(self.embedding_dim)
        vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        if vectors.shape != (len(rows), self.embedding_dim):
            raise invalid("embedding", vectors.shape[1:], f"({self.embedding_dim},)")
        columns: dict[str, Any] = {}
        for field in schema:
            if field.name == "embedding":
                columns[field.name] = pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.ravel()), self.embedding_dim
                )
            else:
                columns[field.name] = pa.array([r.get(field.name) for r in rows], field.type)
        return pa.Table.from_pydict(columns, schema=schema)

    def close(self) -> None:
        """Flush and stop the background writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    # -- reading -------------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        """Decisions written so far (optionally matching a filter built with `quote`)."""
        if "decisions" not in self._table_names():
            return 0
        return int(self._table("decisions").count_rows(where))

    def has_table(self, name: str) -> bool:
        """True once the table holds anything."""
        return name in self._table_names()

    def table(self, name: str) -> Any:
        """The LanceDB table ``decisions``, ``registry`` or ``drift`` (for your own queries)."""
        if name not in ("decisions", "registry", "drift"):
            raise invalid("name", name, "'decisions', 'registry' or 'drift'")
        return self._table(name)

    def models(self) -> list[str]:
        """Every model id the log has seen (decisions and registry snapshots).

        Read from disk once per store object, then kept up to date from what it writes.
        """
        with self._lock:
            if self._models is None:
                seen: set[str] = set()
                for name in ("registry", "decisions"):
                    if self.has_table(name) and self._table(name).count_rows():
                        column = self._table(name).search().select(["model"]).to_arrow()["model"]
                        seen.update(str(m) for m in column.unique().to_pylist() if m)
                self._models = seen
            return sorted(self._models)

    def compact(self, older_than: timedelta = timedelta(days=7)) -> None:
        """Merge small files and indexes, and delete table versions older than ``older_than``."""
        self.flush()
        for name in ("decisions", "registry", "drift"):
            if self.has_table(name):
                self._table(name).optimize(cleanup_older_than=older_than)

    def build_indexes(self) -> None:
        """Vector (IVF-PQ, from 10,000 rows), full-text (prompt), scalar (time, model) indexes."""
        from lancedb.index import FTS, BTree, IvfPq

        self.flush()
        table = self._table("decisions")
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
