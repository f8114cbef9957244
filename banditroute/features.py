"""Prompt → `Features`: its embedding, token estimate and the policy's context vector.

`Featurizer` is the one place where prompts become numbers, for the engine, replay routers and
the evaluator study alike. Embedders live in `banditroute.embedders` (re-exported here).

>>> from banditroute.features import Featurizer, ContextBuilder, HashingEmbedder
>>> featurizer = Featurizer(HashingEmbedder(dim=64), ContextBuilder(64, n_components=8, seed=0))
>>> f = featurizer.features("Write a Python function that merges two sorted lists")
>>> f.embedding.shape, f.tokens, f.context.shape
((64,), 13, (10,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .embedders import (
    MAX_EMBEDDING_DIM,
    CachedEmbedder,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    clip_prompt,
    make_embedder,
)
from .errors import check_seed, invalid
from .params import Configurable
from .static_embedder import default_embedder
from .text import clean_text

__all__ = [
    "MAX_CONTEXT_DIM",
    "MAX_PROJECTION",
    "CachedEmbedder",
    "ContextBuilder",
    "Embedder",
    "Features",
    "Featurizer",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "clip_prompt",
    "estimate_tokens",
    "make_embedder",
    "validate_prompt",
]


MAX_CONTEXT_DIM = 4098  #: longest context vector (each model's posterior is d × d)
MAX_PROJECTION = 2**24  #: embedding_dim × n_components of the context projection


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def validate_prompt(prompt: object) -> str:
    """The prompt, cleaned (`banditroute.text.clean_text`: lone surrogates become U+FFFD), if it
    is a non-blank string, else raise `InvalidInput`."""
    prompt = clean_text(prompt, "prompt")
    if not prompt.strip():
        raise invalid("prompt", prompt, "a non-empty, non-blank string")
    return prompt


def estimate_tokens(text: str) -> int:
    """Rough token count of a text: one token per 4 characters (OpenAI's rule of thumb), >= 1.

    >>> estimate_tokens("hello world!")
    3
    """
    return max(1, (len(text) + 3) // 4)


class Features(NamedTuple):
    """What the decision step needs to know about one prompt."""

    embedding: np.ndarray  #: the embedder's vector (read-only when cached)
    tokens: int  #: estimated prompt tokens
    context: np.ndarray  #: the policy's context vector


class ContextBuilder(Configurable):
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
        if not _is_int(embedding_dim) or not 1 <= embedding_dim <= MAX_EMBEDDING_DIM:
            raise invalid("embedding_dim", embedding_dim, f"an int from 1 to {MAX_EMBEDDING_DIM}")
        if n_components is not None and (not _is_int(n_components) or n_components < 1):
            raise invalid("n_components", n_components, "an int >= 1 or None")
        if check_seed(seed) is None:
            raise invalid("seed", seed, "an int >= 0")
        embedding_dim, seed = int(embedding_dim), int(seed)
        n_components = None if n_components is None else int(n_components)
        projected = embedding_dim if n_components is None else min(n_components, embedding_dim)
        if projected + 2 > MAX_CONTEXT_DIM or (
            projected < embedding_dim and embedding_dim * projected > MAX_PROJECTION
        ):
            raise invalid(
                "n_components",
                n_components,
                f"such that contexts are at most {MAX_CONTEXT_DIM} long and the projection "
                f"at most {MAX_PROJECTION} numbers (embedding_dim {embedding_dim})",
            )
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
        try:
            embedding = np.asarray(embedding, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise invalid("embedding", embedding, "an array of numbers") from None
        if embedding.shape != (self.embedding_dim,):
            raise invalid("embedding.shape", embedding.shape, f"({self.embedding_dim},)")
        if not np.isfinite(embedding).all():
            raise invalid("embedding", "non-finite values", "finite")
        context = np.empty(self.dim)
        context[0] = 1.0  # the bias
        context[1] = math.log1p(max(prompt_tokens, 0)) / 8.0  # length: ~0..1 for 0..3000 tokens
        if self._projection is None:
            context[2:] = embedding
        else:
            np.matmul(embedding, self._projection, out=context[2:])
        return context


class Featurizer:
    """Prompt → `Features`: a cached embedder plus the context projection.

    Parameters
    ----------
    embedder : Embedder, optional
        Default: `banditroute.static_embedder.default_embedder` (the static encoder distilled
        from MiniLM). Wrapped in an LRU cache.
    context : ContextBuilder, optional
        Default: 32-dim seeded projection of the embedding, plus bias and length.
    """

    def __init__(self, embedder: Embedder | None = None, context: ContextBuilder | None = None):
        inner = embedder if embedder is not None else default_embedder()
        self.embedder = inner if isinstance(inner, CachedEmbedder) else CachedEmbedder(inner)
        if context is not None and not isinstance(context, ContextBuilder):
            raise invalid("context", context, "a ContextBuilder or None")
        self.context = context if context is not None else ContextBuilder(self.embedder.dim)
        if self.context.embedding_dim != self.embedder.dim:
            raise invalid(
                "context.embedding_dim",
                self.context.embedding_dim,
                f"{self.embedder.dim} (the embedder's dim)",
            )

    @property
    def embedder_name(self) -> str:
        """The name of the embedder (see `banditroute.embedders.embedder_name`)."""
        return self.embedder.name

    def features(self, prompt: str, embedding: np.ndarray | None = None) -> Features:
        """Features of one prompt; a given ``embedding`` skips the embedder (replays)."""
        prompt = validate_prompt(prompt)
        vector = self.embedder.embed_one(prompt) if embedding is None else embedding
        tokens = estimate_tokens(prompt)
        return Features(vector, tokens, self.context.build(vector, tokens))

    def contexts(self, prompts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Context vectors of many prompts whose embeddings are already known (rows aligned)."""
        pairs = zip(embeddings, prompts, strict=True)
        return np.array([self.context.build(e, estimate_tokens(p)) for e, p in pairs])
