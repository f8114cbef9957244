"""Semantic response cache: serve a stored answer when a new prompt's embedding is close enough.

`SemanticCache` keeps (prompt embedding, model, `CachedResponse`, time stored) rows, in a LanceDB
table in a folder (it survives restarts) or, with ``folder=None``, in a numpy matrix searched by
brute force (fine up to ~50k entries); the backends are in `banditroute.gateway.semantic_index`.
`get` returns the nearest unexpired prompt by cosine similarity if it reaches ``threshold``, from
the same model when ``per_model`` (else any model).

Pass the prompt as ``text=`` to both `put` and `get`: then only stored prompts with the same
`content_signature` (the same content words, politeness and form aside) can be served. Embeddings
alone cannot tell "sort ascending" from "sort descending": on AlpacaEval-made pairs
(``benchmarks/bench_cache.py``, MiniLM) the guarded cache served no near miss (precision 1.00,
recall 0.69 of paraphrases), while similarity alone served a third of the near misses even at
0.995 (precision ≤ 0.91 at every threshold). The default threshold is the one chosen there for the
guarded mode; another embedder needs its own. Serve only deterministic requests
(`banditroute.gateway.cache.is_deterministic`).

>>> import numpy as np
>>> from banditroute.gateway.cache import CachedResponse
>>> from banditroute.gateway.semantic_cache import SemanticCache
>>> cache = SemanticCache(None, dim=3, threshold=0.9, clock=lambda: 0.0)
>>> cache.put(np.array([1.0, 0.0, 0.0]), "m1", CachedResponse("4", "m1", 0.0, 5, 1))
>>> hit = cache.get(np.array([0.99, 0.1, 0.0]), "m1")
>>> hit.response.text, round(hit.similarity, 3)
('4', 0.995)
>>> cache.get(np.array([0.0, 1.0, 0.0]), "m1") is None, cache.get(np.array([1.0, 0, 0]), "m2")
(True, None)
>>> z = np.array([0.0, 0.0, 1.0])
>>> cache.put(z, "m1", CachedResponse("[1, 2]", "m1", 0.0, 9, 3), text="Sort [2, 1] ascending")
>>> cache.get(z, "m1", text="Can you sort [2, 1] ascending, please?").response.text
'[1, 2]'
>>> cache.get(z, "m1", text="Sort [2, 1] descending") is None
True
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..embedders import MAX_EMBEDDING_DIM
from ..errors import check_callable, check_number, check_path, invalid
from .cache import CachedResponse, CacheStats
from .semantic_index import Index, LanceIndex, MemoryIndex

__all__ = ["DEFAULT_SEMANTIC_THRESHOLD", "SemanticCache", "SemanticHit", "content_signature"]

#: Chosen by ``benchmarks/bench_cache.py`` for ``get(..., text=prompt)`` with MiniLM: the lowest
#: threshold keeping precision ≥ 0.97 on one half of the pairs (it held at every grid value).
DEFAULT_SEMANTIC_THRESHOLD = 0.80


# Words whose presence or absence does not change what is asked: articles, politeness, the
# auxiliaries of "can you / would you / how do I". Negations, numbers and every other word count.
_FILLERS = frozenset(
    {"a", "an", "the", "please", "pls", "plz", "kindly", "thanks", "thank", "thx", "hi", "hello"}
    | {"hey", "dear", "can", "could", "would", "will", "you", "u", "me", "i", "do", "does", "is"}
    | {"are", "am", "be", "s", "d", "ll", "ve", "re", "m"}
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")
_SENTENCE_MARKS = frozenset(".,!?;:\"'“”‘’…¿¡")


def content_signature(text: str) -> str:
    """Hash of the bag of a prompt's content tokens: case, sentence punctuation, spacing and
    filler words (articles, "please", "thanks", "can you", ...) ignored; numbers, negations,
    symbols (``C++``) and every other word kept. Two prompts share it when they differ only in
    politeness and form; a changed number, antonym or name changes it. The text is not kept.

    >>> content_signature("Can you sort a list ascending, please?") == content_signature(
    ...     "sort   the LIST ascending. Thanks!")
    True
    >>> content_signature("Sort a list ascending") == content_signature("Sort a list descending")
    False
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"n['’]t\b", " not", text.replace("cannot", "can not"))
    words = Counter(
        t for t in _TOKEN.findall(text) if t not in _FILLERS and t not in _SENTENCE_MARKS
    )
    bag = "\x1f".join(f"{word}\x1e{count}" for word, count in sorted(words.items()))
    return hashlib.blake2b(bag.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A semantic cache hit: the stored response and how close its prompt was."""

    response: CachedResponse
    similarity: float  #: cosine similarity of the query and the stored prompt embeddings
    model: str  #: the model the entry was stored under


class SemanticCache:
    """Nearest-prompt response cache over embeddings; thread-safe.

    Parameters
    ----------
    folder : str, Path or None
        LanceDB folder (made if missing; reopened as is), or None to keep entries in memory.
    dim : int
        Embedding size.
    threshold : float
        Least cosine similarity in [0, 1] that counts as a hit.
    ttl_s : float or None
        Seconds an entry stays servable after `put` (None: until evicted).
    per_model : bool
        Serve only entries stored under the requested model (a `get` with ``model=None`` still
        searches every model); False: any model's answer may be served.
    max_entries : int
        Size bound; the oldest entries are evicted past it.
    clock : callable
        Seconds now (``time.time``, wall clock: stored with the rows of a folder).
    table : str
        LanceDB table name.
    """

    def __init__(
        self,
        folder: str | Path | None,
        dim: int,
        threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
        ttl_s: float | None = 24 * 3600.0,
        per_model: bool = True,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.time,
        table: str = "semantic_cache",
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_EMBEDDING_DIM:
            raise invalid("dim", dim, f"an int from 1 to {MAX_EMBEDDING_DIM}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise invalid("max_entries", max_entries, "an int >= 1")
        self.dim = dim
        self.threshold = check_number("threshold", threshold, 0, 1)
        self.ttl_s = None if ttl_s is None else check_number("ttl_s", ttl_s, 0, above=True)
        if not isinstance(per_model, bool | np.bool_):
            raise invalid("per_model", per_model, "True or False")
        if not isinstance(table, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", table):
            raise invalid("table", table, "a table name (up to 128 letters, digits and _)")
        self.per_model = bool(per_model)
        self.max_entries = max_entries
        self.clock = check_callable("clock", clock)
        self.folder = None if folder is None else check_path("folder", folder)
        self._index: Index = (
            MemoryIndex(dim, max_entries)
            if self.folder is None
            else LanceIndex(self.folder, dim, max_entries, table)
        )
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def _unit(self, embedding: object) -> np.ndarray:
        vector = np.asarray(embedding, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise invalid("embedding.shape", vector.shape, f"({self.dim},)")
        norm = float(np.linalg.norm(vector))
        if not (math.isfinite(norm) and norm > 0):
            raise invalid("embedding", "a zero or non-finite vector", "finite and non-zero")
        return vector / np.float32(norm)

    def get(
        self, embedding: object, model: str | None, *, text: str | None = None
    ) -> SemanticHit | None:
        """The nearest unexpired entry at or above ``threshold``, or None (a miss).

        With ``text`` (the prompt), only entries stored with the same `content_signature` are
        candidates: the guard that keeps "sort ascending" from being served "sort descending"
        (embeddings alone cannot tell them apart). Without it, similarity alone decides.
        """
        sign = None if text is None else content_signature(text)
        vector = self._unit(embedding)
        wanted = model if self.per_model else None
        fresh_after = -math.inf if self.ttl_s is None else self.clock() - self.ttl_s
        with self._lock:
            found = self._index.nearest(vector, wanted, fresh_after, sign)
            if found is None or found[0] < self.threshold:
                self._misses += 1
                return None
            self._hits += 1
        similarity, stored_model, value = found
        return SemanticHit(value, min(similarity, 1.0), stored_model)

    def put(
        self, embedding: object, model: str, value: CachedResponse, *, text: str | None = None
    ) -> None:
        """Store ``value`` for a prompt embedding under ``model``, evicting the oldest past the
        size bound; with ``text``, its `content_signature` is stored for guarded `get` calls."""
        if not isinstance(model, str) or not model:
            raise invalid("model", model, "a non-empty str")
        if not isinstance(value, CachedResponse):
            raise invalid("value", value, "a CachedResponse")
        sign = "" if text is None else content_signature(text)
        vector = self._unit(embedding)
        with self._lock:
            self._evictions += self._index.add(vector, model, value, self.clock(), sign)

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._index.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters (``expirations`` stays 0: expired rows are skipped, then
        evicted as the oldest)."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, 0, len(self._index))

    def __repr__(self) -> str:
        where = "memory" if self.folder is None else str(self.folder)
        return f"SemanticCache({where}, dim={self.dim}, threshold={self.threshold})"
