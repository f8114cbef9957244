"""Embeddings for a whole log, computed once and kept on disk, so a second run does not re-embed.

One ``.npz`` per embedder name in the cache folder maps a hash of each text to its vector; an
embedder whose own name differs from the name asked for is refused.

>>> import tempfile
>>> from banditroute.features import HashingEmbedder
>>> from banditroute.embedding_cache import embed_cached
>>> folder = tempfile.mkdtemp()
>>> first = embed_cached(["a b", "c d"], HashingEmbedder(16), "hashing16", folder, progress=False)
>>> again = embed_cached(["c d"], HashingEmbedder(16), "hashing16", folder, progress=False)
>>> bool((first[1] == again[0]).all())
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .embedders import Embedder
from .embedders import embedder_name as name_of
from .errors import invalid
from .state import write_arrays_atomically

__all__ = ["embed_cached"]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def embed_cached(
    texts: Sequence[str],
    embedder: Embedder,
    embedder_name: str,
    cache_dir: str | Path,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """Embeddings of ``texts`` (rows in order), reading and extending ``cache_dir``."""
    actual = name_of(embedder)
    if not actual.startswith("custom") and actual != embedder_name:
        raise invalid("embedder_name", embedder_name, f"the embedder's own name {actual!r}")
    path = Path(cache_dir) / f"embeddings-{embedder_name}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                known = dict(zip(npz["keys"].tolist(), npz["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}  # a damaged cache is rebuilt, never trusted
    keys = [_digest(t) for t in texts]
    todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        bar = tqdm(total=len(todo), desc="embedding", unit="prompt", disable=not progress)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            vectors = embedder.embed([t for _, t in chunk])
            known.update(zip((k for k, _ in chunk), np.asarray(vectors, np.float32), strict=True))
            bar.update(len(chunk))
        bar.close()
        write_arrays_atomically(
            path, {"keys": np.array(list(known)), "vectors": np.stack(list(known.values()))}
        )
    return np.stack([known[k] for k in keys]).astype(np.float64)
