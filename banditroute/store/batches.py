"""Turning queued items into an Arrow batch for one table, leaving out the items whose data
can never be stored (so that one bad row never blocks the others).

Conversion does no I/O, so a conversion failure is the rows' own fault: the batch is converted
again row by row and only the rows that fail alone are left out. A failure of the write itself
(I/O) is the store's, and keeps every row for the next attempt (see `Writer`).

>>> import tempfile
>>> from banditroute.store.tables import Tables
>>> tables = Tables(tempfile.mkdtemp(), 8, "h")
>>> rows = [{"id": "a", "time": 1.0, "step": 1}, {"id": "b", "time": "noon", "step": 2}]
>>> batch, kept, bad = convert(tables, "drift", rows, dict)
>>> batch.num_rows, [r["id"] for r in kept], bad
(1, ['a'], 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from .tables import Tables, UnwritableRows

__all__ = ["convert", "values_fit"]

T = TypeVar("T")


def convert(
    tables: Tables, name: str, items: Sequence[T], make_row: Callable[[T], dict[str, Any]]
) -> tuple[pa.Table | None, list[T], int]:
    """The batch of the items that can be stored, those items, and how many cannot.

    ``make_row`` builds an item's row (an item whose row cannot even be built is left out too).
    """
    rows: list[dict[str, Any]] = []
    kept: list[T] = []
    bad = 0
    for item in items:
        try:
            rows.append(make_row(item))
        except Exception:  # e.g. a caller's redact hook failing on this text: drop this row only
            bad += 1
            continue
        kept.append(item)
    if not rows:
        return None, [], bad
    try:
        return tables.batch(name, rows), kept, bad
    except UnwritableRows:
        pass
    fitting_rows: list[dict[str, Any]] = []
    fitting: list[T] = []
    for item, row in zip(kept, rows, strict=True):
        try:
            tables.batch(name, [row])
        except UnwritableRows:
            bad += 1
            continue
        fitting_rows.append(row)
        fitting.append(item)
    if not fitting_rows:
        return None, [], bad
    try:
        return tables.batch(name, fitting_rows), fitting, bad
    except UnwritableRows:  # rows that fit alone but not together: give up on this batch
        return None, [], bad + len(fitting)


def values_fit(values: Mapping[str, object]) -> bool:
    """True when every value converts to Arrow on its own (the check before an update)."""
    try:
        for value in values.values():
            pa.array([value])
    except Exception:
        return False
    return True
