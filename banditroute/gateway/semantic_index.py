"""Storage of the semantic cache: nearest unit vector among size-bounded rows, two backends.

`MemoryIndex` is a numpy ring buffer searched by brute force; `LanceIndex` a LanceDB table in a
folder, searched exactly (no vector index) with the cosine metric and a SQL prefilter on model and
age. Both evict the oldest row past ``capacity``. `SemanticCache` (in `semantic_cache`) validates
and normalises vectors, holds the lock and applies the threshold; these classes do not.

>>> import numpy as np
>>> from banditroute.gateway.cache import CachedResponse
>>> from banditroute.gateway.semantic_index import MemoryIndex
>>> index = MemoryIndex(dim=2, capacity=2)
>>> for i, v in enumerate(([1.0, 0.0], [0.0, 1.0], [0.6, 0.8])):
...     value = CachedResponse(str(i), "m", 0.0, 1, 1)
...     evicted = index.add(np.array(v, np.float32), "m", value, 0.0, "")
>>> len(index), evicted, index.nearest(np.array([1.0, 0.0], np.float32), "m", -1.0, None)[2].text
(2, 1, '2')
"""

from __future__ import annotations

import hashlib
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidInput, StoreError
from .cache import CachedResponse

__all__ = ["Index", "LanceIndex", "MemoryIndex"]

#: (similarity, model stored under, response)
Found = tuple[float, str, CachedResponse]


class Index(Protocol):
    """What `SemanticCache` needs from a backend (vectors given are unit-norm float32)."""

    def add(
        self, vector: np.ndarray, model: str, value: CachedResponse, stored_at: float, sign: str
    ) -> int:
        """Store one row; return how many old rows were evicted."""
        ...

    def nearest(
        self, vector: np.ndarray, model: str | None, fresh_after: float, sign: str | None
    ) -> Found | None:
        """The most similar row stored after ``fresh_after``, of ``model`` and with signature
        ``sign`` unless None."""
        ...

    def __len__(self) -> int: ...

    def clear(self) -> None: ...


def _sign_id(sign: str) -> np.uint64:
    """A 64-bit hash of a signature (0 for none)."""
    if not sign:
        return np.uint64(0)
    digest = hashlib.blake2b(sign.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little") | 1)


class MemoryIndex:
    """A ring buffer of unit vectors; the oldest row is overwritten once ``capacity`` is reached.

    Storage grows by doubling, so an empty index of capacity 50k holds ~1k rows' worth.
    """

    def __init__(self, dim: int, capacity: int) -> None:
        self.dim, self.capacity = dim, capacity
        self.clear()

    def clear(self) -> None:
        size = min(self.capacity, 1024)
        self._vectors = np.zeros((size, self.dim), dtype=np.float32)
        self._stored_at = np.zeros(size, dtype=np.float64)
        self._codes = np.zeros(size, dtype=np.int32)
        self._signs = np.zeros(size, dtype=np.uint64)  # 64-bit hashes of the signatures
        self._values: list[CachedResponse | None] = [None] * size
        self._codes_of: dict[str, int] = {}
        self._names: list[str] = []
        self._added = 0

    def __len__(self) -> int:
        return min(self._added, self.capacity)

    def _grow(self) -> None:
        extra = min(self.capacity, 2 * len(self._vectors)) - len(self._vectors)
        self._vectors = np.vstack((self._vectors, np.zeros((extra, self.dim), np.float32)))
        self._stored_at = np.concatenate((self._stored_at, np.zeros(extra)))
        self._codes = np.concatenate((self._codes, np.zeros(extra, np.int32)))
        self._values.extend([None] * extra)
        self._signs = np.concatenate((self._signs, np.zeros(extra, np.uint64)))

    def add(
        self, vector: np.ndarray, model: str, value: CachedResponse, stored_at: float, sign: str
    ) -> int:
        slot = self._added % self.capacity
        if slot >= len(self._vectors):
            self._grow()
        if model not in self._codes_of:
            self._codes_of[model] = len(self._names)
            self._names.append(model)
        evicted = int(self._added >= self.capacity)
        self._vectors[slot] = vector
        self._stored_at[slot] = stored_at
        self._codes[slot] = self._codes_of[model]
        self._values[slot] = value
        self._signs[slot] = _sign_id(sign)
        self._added += 1
        return evicted

    def nearest(
        self, vector: np.ndarray, model: str | None, fresh_after: float, sign: str | None
    ) -> Found | None:
        n = len(self)
        if n == 0 or (model is not None and model not in self._codes_of):
            return None
        similarity = self._vectors[:n] @ vector
        usable = self._stored_at[:n] > fresh_after
        if model is not None:
            usable &= self._codes[:n] == self._codes_of[model]
        if sign is not None:
            usable &= self._signs[:n] == _sign_id(sign)
        similarity[~usable] = -np.inf
        best = int(np.argmax(similarity))
        value = self._values[best]
        if not np.isfinite(similarity[best]) or value is None:
            return None
        return float(similarity[best]), self._names[self._codes[best]], value


class LanceIndex:
    """Rows in a LanceDB table (``import lancedb`` happens here, on first use).

    Each `add` appends one row (a small fragment) and, past ``capacity``, deletes the rows with
    the lowest sequence numbers; every ``OPTIMIZE_EVERY`` adds the table is compacted.
    """

    OPTIMIZE_EVERY = 256

    def __init__(self, folder: Path, dim: int, capacity: int, table: str = "semantic_cache"):
        os.environ.setdefault("LANCEDB_LOG", "error")  # lance's Rust side warns on stderr
        from .._compat import drop_shadowing_datasets_module

        drop_shadowing_datasets_module()
        import lancedb
        import pyarrow as pa

        self.dim, self.capacity, self.name = dim, capacity, table
        self._pa: Any = pa
        string, number, count = pa.string(), pa.float64(), pa.int64()
        fields = [("seq", count), ("embedding", pa.list_(pa.float32(), dim)), ("model", string)]
        fields += [("stored_at", number), ("text", string), ("response_model", string)]
        fields += [("created", number), ("payload", string), ("signature", string)]
        self._schema: Any = pa.schema(
            [pa.field(name, kind, nullable=False) for name, kind in fields]
            + [pa.field("input_tokens", count), pa.field("output_tokens", count)]
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db: Any = lancedb.connect(str(folder))
            self._table: Any = self._db.create_table(table, schema=self._schema, exist_ok=True)
        except (OSError, RuntimeError) as exc:  # a name too long, a read-only folder, ...
            raise StoreError(f"cannot open the semantic cache at {folder}: {exc}") from None
        except ValueError:  # the table exists with another schema
            found = self._db.open_table(table).schema.to_string().replace("\n", ", ")
            raise InvalidInput(
                f"{folder} table {table!r} is not a semantic cache of {dim}-dim embeddings "
                f"(its schema: {found})"
            ) from None
        self._count = int(self._table.count_rows())
        self._next_seq = 0
        if self._count:
            seqs = self._table.search().select(["seq"]).limit(self._count).to_arrow()["seq"]
            self._next_seq = int(np.max(seqs.to_numpy())) + 1
        self._since_optimize = 0

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        self._table.delete("true")
        self._count = 0

    def add(
        self, vector: np.ndarray, model: str, value: CachedResponse, stored_at: float, sign: str
    ) -> int:
        row = {
            "seq": self._next_seq,
            "embedding": vector.astype(np.float32),
            "model": model,
            "stored_at": float(stored_at),
            "text": value.text,
            "response_model": value.model,
            "created": float(value.created),
            "payload": value.payload,
            "signature": sign,
            "input_tokens": value.input_tokens,
            "output_tokens": value.output_tokens,
        }
        self._table.add(self._pa.Table.from_pylist([row], schema=self._schema))
        self._next_seq += 1
        self._count += 1
        evicted = 0
        if self._count > self.capacity:  # drop the oldest rows (lowest seq)
            result = self._table.delete(f"seq < {self._next_seq - self.capacity}")
            evicted = int(getattr(result, "num_deleted_rows", self._count - self.capacity))
            self._count -= evicted
        self._since_optimize += 1
        if self._since_optimize >= self.OPTIMIZE_EVERY:
            self._since_optimize = 0
            self._table.optimize(cleanup_older_than=timedelta(minutes=5))
        return evicted

    def nearest(
        self, vector: np.ndarray, model: str | None, fresh_after: float, sign: str | None
    ) -> Found | None:
        if self._count == 0:
            return None
        conditions = []
        if math.isfinite(fresh_after):
            conditions.append(f"stored_at > {fresh_after!r}")
        if model is not None:
            conditions.append("model = '" + model.replace("'", "''") + "'")
        if sign is not None:
            conditions.append("signature = '" + sign.replace("'", "''") + "'")
        query = self._table.search(vector, vector_column_name="embedding")
        query = query.distance_type("cosine").limit(1)
        if conditions:
            query = query.where(" AND ".join(conditions), prefilter=True)
        rows = query.to_arrow().to_pylist()
        if not rows:
            return None
        row = rows[0]
        value = CachedResponse(
            row["text"],
            row["response_model"],
            row["created"],
            row["input_tokens"],
            row["output_tokens"],
            row["payload"],
        )
        return 1.0 - float(row["_distance"]), str(row["model"]), value
