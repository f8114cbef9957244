"""The LanceDB side of the decision log: the folder's metadata check, its tables (created on
first use with their schemas), Arrow batches of decision rows, and quoting for filters.

>>> import tempfile
>>> tables = Tables(tempfile.mkdtemp(), embedding_dim=8, embedder="hashing8")
>>> tables.embedding_dim, tables.names(), tables.next_snapshot()
(8, [], 0)
>>> quote("it's")
"'it''s'"
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .._compat import drop_shadowing_datasets_module
from ..errors import InvalidInput, StateFileError, invalid
from .schema import SCHEMA_VERSION, decision_schema, drift_schema, registry_schema

__all__ = ["META_FILE", "TABLES", "Tables", "is_decision_id", "quote"]

META_FILE = "banditroute-store.json"
TABLES = ("decisions", "registry", "drift")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def quote(value: str) -> str:
    """A SQL string literal for LanceDB filters: single quotes doubled, no control characters."""
    if not isinstance(value, str) or any(ord(ch) < 32 for ch in value):
        raise invalid("filter value", value, "a string without control characters")
    return "'" + value.replace("'", "''") + "'"


def is_decision_id(value: str) -> bool:
    """True for an id the engine makes (letters, digits, ``_`` and ``-``; at most 64)."""
    return bool(_ID.match(value))


def _check_meta(path: Path, dim: int, embedder: str | None) -> tuple[int, str | None]:
    """The folder's embedding size and embedder name, written on first use, checked after."""
    meta_path = path / META_FILE
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            version, stored_dim = int(meta["schema_version"]), int(meta["embedding_dim"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StateFileError(f"{meta_path} is not a banditroute store file: {exc}") from None
        if version > SCHEMA_VERSION:
            raise StateFileError(
                f"{path} has store schema {version}; this banditroute reads up to "
                f"{SCHEMA_VERSION}: upgrade banditroute"
            )
        if stored_dim != dim:
            raise InvalidInput(
                f"{path} holds {stored_dim}-dim embeddings ({meta.get('embedder')}); "
                f"this engine's are {dim}-dim"
            )
        recorded = meta.get("embedder")
        if recorded is None and embedder is not None:
            _write_meta(meta_path, dim, embedder)
            return stored_dim, embedder
        return stored_dim, None if recorded is None else str(recorded)
    _write_meta(meta_path, dim, embedder)
    return dim, embedder


def _write_meta(meta_path: Path, dim: int, embedder: str | None) -> None:
    meta = {"schema_version": SCHEMA_VERSION, "embedding_dim": dim, "embedder": embedder}
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, meta_path)


class Tables:
    """The LanceDB connection to a store folder and its tables.

    Parameters
    ----------
    path : str or Path
        The folder (created when missing); its metadata file is written or checked.
    embedding_dim : int
        Length of the prompt embeddings (must match a folder written before).
    embedder : str or None
        Name of the embedder (the folder's own name wins when it has one); None leaves an
        unnamed folder unnamed until `name_embedder`.
    """

    def __init__(self, path: str | Path, embedding_dim: int, embedder: str | None) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")  # lance's Rust side warns on stderr otherwise
        drop_shadowing_datasets_module()
        import lancedb

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.embedding_dim, self.embedder = _check_meta(self.path, int(embedding_dim), embedder)
        self._db = lancedb.connect(str(self.path))
        self._tables: dict[str, Any] = {}

    def name_embedder(self, embedder: str) -> None:
        """Record the embedder's name in an unnamed folder (a named one keeps its name)."""
        if self.embedder is None:
            _write_meta(self.path / META_FILE, self.embedding_dim, embedder)
            self.embedder = embedder

    def names(self) -> list[str]:
        """The tables that exist on disk."""
        return list(self._db.list_tables().tables)

    def get(self, name: str) -> Any:
        """The LanceDB table ``name`` (created, empty, with its schema when missing)."""
        if name not in self._tables:
            schema = {
                "decisions": decision_schema(self.embedding_dim),
                "registry": registry_schema(),
                "drift": drift_schema(),
            }[name]
            self._tables[name] = self._db.create_table(name, schema=schema, exist_ok=True)
        return self._tables[name]

    def next_snapshot(self) -> int:
        """The number of the next registry snapshot (one more than the last written)."""
        if "registry" not in self.names():
            return 0
        table = self.get("registry")
        if table.count_rows() == 0:
            return 0
        return int(table.search().select(["snapshot"]).to_arrow()["snapshot"].to_numpy().max()) + 1

    def add_decisions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append decision rows (dicts keyed by column; missing columns are null)."""
        table = self.get("decisions")
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
        table.add(pa.Table.from_pydict(columns, schema=schema))

    def add_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows to the ``registry`` or ``drift`` table."""
        table = self.get(name)
        schema = registry_schema() if name == "registry" else drift_schema()
        table.add(pa.Table.from_pylist(list(rows), schema=schema))
