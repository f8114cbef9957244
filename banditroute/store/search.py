"""Searching the decision log: nearest decisions to an embedding, and prompt search by vector,
full text (BM25) or both (hybrid, reciprocal-rank fusion).

>>> import tempfile
>>> from banditroute import Engine, HashingEmbedder
>>> from banditroute.registry import Registry, example_registry_path
>>> from banditroute.store import DecisionStore
>>> from banditroute.store.search import search_prompts
>>> store = DecisionStore(tempfile.mkdtemp(), embedding_dim=64, background=False)
>>> engine = Engine(Registry.load(example_registry_path()), embedder=HashingEmbedder(64),
...                 store=store, seed=0)
>>> for p in ["Sort a list in Python", "Prove that 7 is prime", "Python dict comprehension"]:
...     _ = engine.feedback(engine.choose(p), quality=1.0)
>>> store.build_indexes()
>>> hits = search_prompts(store, "python", engine.embedder, mode="fts", limit=5)
>>> sorted(hits["prompt"])
['Python dict comprehension', 'Sort a list in Python']
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..errors import invalid
from ..features import Embedder
from .decision_store import DecisionStore

__all__ = ["nearest_decisions", "search_prompts"]

COLUMNS = [
    "id",
    "time",
    "prompt",
    "model",
    "has_outcome",
    "quality",
    "cost_usd",
    "latency_ms",
    "reward",
    "error",
]


def nearest_decisions(
    store: DecisionStore, vector: np.ndarray, k: int, where: str | None = None
) -> pd.DataFrame:
    """The ``k`` decisions whose prompt embeddings are closest (cosine) to ``vector``."""
    if not store.has_table("decisions"):
        return pd.DataFrame(columns=[*COLUMNS, "_distance"])
    query = (
        store.table("decisions")
        .search(np.asarray(vector, dtype=np.float32), vector_column_name="embedding")
        .distance_type("cosine")
        .select([*COLUMNS, "_distance"])
        .limit(k)
    )
    if where:
        query = query.where(where, prefilter=True)
    return query.to_pandas()


def filtered_decisions(store: DecisionStore, where: str | None, limit: int) -> pd.DataFrame:
    """Decisions matching a filter, without ranking."""
    if not store.has_table("decisions"):
        return pd.DataFrame(columns=COLUMNS)
    query = store.table("decisions").search().select(COLUMNS).limit(limit)
    if where:
        query = query.where(where)
    return query.to_pandas()


def search_prompts(
    store: DecisionStore,
    text: str,
    embedder: Embedder,
    mode: Literal["vector", "fts", "hybrid"] = "hybrid",
    limit: int = 20,
    where: str | None = None,
) -> pd.DataFrame:
    """Stored decisions whose prompts match ``text`` (full-text needs `build_indexes` first)."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("text", text, "a non-blank search text")
    if mode not in ("vector", "fts", "hybrid"):
        raise invalid("mode", mode, "'vector', 'fts' or 'hybrid'")
    if not store.has_table("decisions"):
        return pd.DataFrame(columns=COLUMNS)
    table = store.table("decisions")
    vector = np.asarray(embedder.embed([text])[0], dtype=np.float32)
    if mode == "vector":
        return nearest_decisions(store, vector, limit, where)
    if mode == "fts":
        query = table.search(text, query_type="fts", fts_columns="prompt")
        query = query.select(COLUMNS).limit(limit)
    else:
        query = (
            table.search(query_type="hybrid", vector_column_name="embedding", fts_columns="prompt")
            .vector(vector)
            .text(text)
            .select(COLUMNS)
            .limit(limit)
        )
    if where:
        query = query.where(where, prefilter=True)
    return query.to_pandas()
