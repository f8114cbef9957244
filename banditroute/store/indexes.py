"""The decision table's indexes: vector (IVF-PQ, from 10,000 rows), full text on the prompt,
and scalar indexes on time and model.

>>> import tempfile
>>> from banditroute.store.tables import Tables
>>> tables = Tables(tempfile.mkdtemp(), 8, "h")
>>> build_indexes(tables.get("decisions"), 8)
>>> sorted(i.index_type for i in tables.get("decisions").list_indices())
['BTree', 'BTree', 'FTS']
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_indexes"]


def build_indexes(table: Any, embedding_dim: int) -> None:
    """(Re)build the indexes of a LanceDB decisions table."""
    from lancedb.index import FTS, BTree, IvfPq

    rows = table.count_rows()
    if rows >= 10_000:
        table.create_index(
            "embedding",
            config=IvfPq(
                distance_type="cosine",
                num_partitions=max(16, rows // 4096),
                num_sub_vectors=max(1, embedding_dim // 16),
            ),
        )
    table.create_index("prompt", config=FTS(), replace=True)
    for column in ("time", "model"):
        table.create_index(column, config=BTree(), replace=True)
