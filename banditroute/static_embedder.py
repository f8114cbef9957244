"""The default prompt encoder: static token vectors distilled locally from the shipped MiniLM.

`StaticEmbedder` tokenizes a prompt with MiniLM's own tokenizer and averages distilled token
vectors (model2vec), L2-normalised: thousands of prompts per second on a CPU, against tens for
MiniLM on long prompts. The token vectors are built once (by ``make``'s set-up, or at first use)
from the local MiniLM and cached (`banditroute.static_build`); nothing is downloaded. It reads
the whole prompt (no 256-token window to fit in; past `MAX_CHARS`, `clip_prompt`'s first and last
half of it); ``clip=True`` reads `clip_prompt`'s 200 + 500 characters as MiniLM does (name suffix
``-clip200-500``).

`default_embedder` is what `Engine`, the CLI and ``banditroute serve`` use when no encoder is
named: the static encoder `DEFAULT_STATIC_NAME`, unless a saved state or decision log records
another built-in one (then that one, so vectors stay comparable). MiniLM stays selectable by
name: ``MiniLMEmbedder()``, ``make_embedder("minilm-clip200-500")``, ``--embedder minilm``.
`main` (``make``'s set-up step) builds the default encoder into the cache when it is missing.

>>> from banditroute.static_embedder import StaticEmbedder, default_embedder
>>> embedder = StaticEmbedder()  # nothing is built until first use
>>> embedder.name, embedder.dim
('minilm-static-64-flat', 64)
>>> default_embedder().name, default_embedder("minilm-clip200-500").name
('minilm-static-64-flat', 'minilm-clip200-500')
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .embedders import MINILM_NAME, Embedder, clip_prompt, make_embedder
from .errors import InvalidInput, invalid
from .static_build import Builder, StaticModelFiles, StaticRecipe, load_or_build
from .text import clean_text

__all__ = [
    "CLIP_SUFFIX",
    "DEFAULT_STATIC_NAME",
    "EMBEDDER_CHOICES",
    "MAX_CHARS",
    "StaticEmbedder",
    "default_embedder",
    "ensure_default_built",
    "logged_embedder",
    "main",
    "parse_static_name",
]

DEFAULT_STATIC_NAME = "minilm-static-64-flat"  #: chosen on the *_train files (bench_encoder.py)
#: What ``--embedder`` and ``[serve] embedder`` name: the short choice → the encoder's name.
EMBEDDER_CHOICES = {"static": DEFAULT_STATIC_NAME, "minilm": MINILM_NAME, "hashing": "hashing384"}
CLIP_SUFFIX = "-clip200-500"
MAX_CHARS = 200_000  #: longest text read whole; a longer one is read as its head and tail


def parse_static_name(name: str) -> StaticEmbedder | None:
    """The `StaticEmbedder` called ``name`` (nothing is built yet), or None if it is not one.

    >>> parse_static_name("minilm-static-128-flat-clip200-500").name
    'minilm-static-128-flat-clip200-500'
    """
    clip = isinstance(name, str) and name.endswith(CLIP_SUFFIX)
    recipe = StaticRecipe.parse(name[: -len(CLIP_SUFFIX)] if clip else name)
    return None if recipe is None else StaticEmbedder(recipe.dims, recipe.weighting, clip)


class StaticEmbedder:
    """Mean of distilled MiniLM token vectors over the prompt (whole or clipped), L2-normalised.

    Parameters
    ----------
    dims : int
        PCA dimensions of the build (2 to 384); the embedding size. Default 64.
    weighting : {"sif", "flat"}
        Token weighting of the build (see `StaticRecipe`). Default ``flat``.
    clip : bool
        Read only `clip_prompt`'s head and tail of a long prompt, as `MiniLMEmbedder` does.
    cache_dir : path, optional
        Cache folder (default ``$BANDITROUTE_CACHE`` or ``~/.cache/banditroute``).
    builder : callable, optional
        ``builder(folder, recipe)`` that writes a build (default: distil the local MiniLM);
        for tests.
    """

    def __init__(
        self,
        dims: int = 64,
        weighting: Literal["sif", "flat"] = "flat",
        clip: bool = False,
        cache_dir: str | Path | None = None,
        builder: Builder | None = None,
    ) -> None:
        self.recipe = StaticRecipe(dims, weighting)
        if not isinstance(clip, bool):
            raise invalid("clip", clip, "True or False")
        self.clip = clip
        self.cache_dir = cache_dir
        self._builder = builder
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._vectors: np.ndarray | None = None
        self._unk: int | None = None
        self.files: StaticModelFiles | None = None  #: the loaded build, after first use

    @property
    def dim(self) -> int:
        return self.recipe.dims

    @property
    def name(self) -> str:
        """``minilm-static-<dims>-<weighting>``, plus ``-clip200-500`` when clipping."""
        return self.recipe.name + (CLIP_SUFFIX if self.clip else "")

    def __repr__(self) -> str:
        return f"StaticEmbedder({self.name!r})"

    def load(self) -> StaticModelFiles:
        """Read the cached build (building it on first use); idempotent."""
        with self._lock:
            if self.files is None:
                from tokenizers import Tokenizer

                files = load_or_build(self.recipe, self.cache_dir, self._builder)
                tokenizer = Tokenizer.from_str(files.tokenizer_json)
                tokenizer.no_padding()
                tokenizer.no_truncation()
                unk = getattr(tokenizer.model, "unk_token", None)
                self._unk = tokenizer.token_to_id(unk) if isinstance(unk, str) else None
                self._vectors = np.asarray(files.vectors, dtype=np.float32)
                self._tokenizer = tokenizer
                self.files = files
            return self.files

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        assert self._vectors is not None
        cleaned = (clean_text(t, "text") for t in texts)
        if self.clip:
            clipped = [clip_prompt(t) for t in cleaned]
        else:
            clipped = [clip_prompt(t, MAX_CHARS // 2, MAX_CHARS // 2) for t in cleaned]
        out = np.zeros((len(clipped), self.dim), dtype=np.float32)
        if not clipped:
            return out
        encodings = self._tokenizer.encode_batch_fast(clipped, add_special_tokens=False)
        ids = [np.asarray(e.ids, dtype=np.intp) for e in encodings]
        if self._unk is not None:
            ids = [row[row != self._unk] for row in ids]
        lengths = np.array([len(row) for row in ids])
        rows = np.flatnonzero(lengths)
        if rows.size:
            flat = np.concatenate([ids[i] for i in rows])
            starts = np.concatenate([[0], np.cumsum(lengths[rows])[:-1]])
            sums = np.add.reduceat(self._vectors[flat], starts, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            out[rows] = sums / np.where(norms > 0, norms, 1.0)
        return out


def default_embedder(recorded: str | None = None) -> Embedder:
    """The encoder used when none is named: the built-in one called ``recorded`` (the name a
    saved state or decision log holds, see `logged_embedder`), else the static encoder
    `DEFAULT_STATIC_NAME` (nothing is built until first use).

    A name that is not a built-in encoder (``custom<dim>``) gives the static default: the log's
    own check then says which encoder it needs.

    >>> default_embedder("hashing32").name, default_embedder("custom7").name
    ('hashing32', 'minilm-static-64-flat')
    """
    if isinstance(recorded, str) and recorded:
        from .embedders import _LEGACY_NAMES

        try:
            return make_embedder(_LEGACY_NAMES.get(recorded, recorded))
        except InvalidInput:
            pass
    static = parse_static_name(DEFAULT_STATIC_NAME)
    assert static is not None
    return static


def logged_embedder(store: object) -> str | None:
    """The encoder name the decision log ``store`` records (a `DecisionStore` or its folder),
    or None: no store, no log in that folder yet, or a log that names none.

    >>> logged_embedder(None), logged_embedder("/nonexistent/log")
    (None, None)
    """
    if store is None:
        return None
    if not isinstance(store, str | Path):
        name = getattr(store, "embedder", None)
        return name if isinstance(name, str) and name else None
    from .store.tables import META_FILE  # lazy: pyarrow

    try:
        meta = json.loads((Path(store) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None  # the store's own checks report a damaged file
    name = meta.get("embedder") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name else None


def ensure_default_built(cache_dir: str | Path | None = None) -> StaticModelFiles:
    """Build the default static encoder into the cache unless it is there (set-up's step)."""
    static = parse_static_name(DEFAULT_STATIC_NAME)
    assert static is not None
    return load_or_build(static.recipe, cache_dir)


def main() -> int:
    """``make``'s set-up step: build the default encoder into the cache unless it is there,
    saying which happened."""
    import logging

    logging.basicConfig(format="%(message)s")
    started = time.perf_counter()
    files = ensure_default_built()
    if files.built:
        took = time.perf_counter() - started
        print(f"built the static encoder {DEFAULT_STATIC_NAME} in {took:.0f} s: {files.folder}")
    else:
        print(f"static encoder {DEFAULT_STATIC_NAME}: already built in {files.folder}")
    return 0
