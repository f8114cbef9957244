"""Outcomes written into decision rows another writer made: find which rows exist, update them.

With several replicas logging into one folder, feedback may reach a replica that did not make
the decision; its outcome becomes an update of the other replica's row once that row is written
(see `store.writer`). `update_rows` reads the latest table version (rows other processes wrote),
finds which of the ids have a row, and updates those rows in one ``merge_insert``.

>>> import tempfile, lancedb, pyarrow as pa
>>> rows = pa.table({"id": ["a1", "b2"], "quality": pa.array([None, None], pa.float64())})
>>> table = lancedb.connect(tempfile.mkdtemp()).create_table("decisions", rows)
>>> sorted(update_rows(table, {"a1": {"quality": 0.5}, "zz": {"quality": 0.1}}))
['a1']
>>> table.search().where("id = 'a1'").to_arrow()["quality"].to_pylist()
[0.5]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from .tables import quote

__all__ = ["update_rows"]

_CHUNK = 500


def update_rows(table: Any, values: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Set ``values[id]`` (column → value) in the rows of ``table`` whose id exists; their ids.

    Every mapping must have the same columns. I/O errors propagate (the caller keeps the
    outcomes for a later attempt).
    """
    table.checkout_latest()  # rows other processes wrote since this handle was opened
    ids, found = list(values), set[str]()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        where = "id IN (" + ", ".join(quote(i) for i in chunk) + ")"
        rows = table.search().where(where).select(["id"]).limit(len(chunk)).to_arrow()
        found.update(str(i) for i in rows["id"].to_pylist())
    if found:
        records = [{"id": i, **values[i]} for i in sorted(found)]
        schema = table.schema
        fields = pa.schema([schema.field(name) for name in records[0]])
        batch = pa.Table.from_pylist(records, schema=fields)
        table.merge_insert("id").when_matched_update_all().execute(batch)
    return found
