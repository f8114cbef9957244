from __future__ import annotations

import sys

import numpy as np
import pytest

from banditroute import (
    CachedEmbedder,
    ContextBuilder,
    HashingEmbedder,
    InvalidInput,
    MiniLMEmbedder,
)
from banditroute.features import clip_prompt, validate_prompt
from tests.conftest import requires_minilm


@pytest.mark.parametrize("prompt", ["", "   \n\t", None, 42, b"bytes"])
def test_bad_prompts_are_refused(prompt: object) -> None:
    with pytest.raises(InvalidInput, match="prompt"):
        validate_prompt(prompt)


def test_clip_prompt_keeps_head_and_tail() -> None:
    text = "HEAD" + "x" * 5000 + "QUESTION?"
    clipped = clip_prompt(text)
    assert clipped.startswith("HEAD") and clipped.endswith("QUESTION?")
    assert len(clipped) < 1000
    assert clip_prompt("short") == "short"


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    a = HashingEmbedder(dim=128).embed(["merge two sorted lists", "hello"])
    b = HashingEmbedder(dim=128).embed(["merge two sorted lists", "hello"])
    assert a.shape == (2, 128) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_cache_counts_hits_and_misses() -> None:
    cache = CachedEmbedder(HashingEmbedder(dim=32), max_entries=2)
    cache.embed(["a b", "c d", "a b"])
    assert (cache.hits, cache.misses) == (1, 2)  # the repeat within the batch is a hit
    cache.embed_one("a b")
    assert cache.hits == 2
    cache.embed_one("e f")  # evicts the least recently used ("c d")
    cache.embed_one("c d")
    assert cache.misses == 4


def test_cached_vectors_are_read_only() -> None:
    vector = CachedEmbedder(HashingEmbedder(dim=32)).embed_one("x y")
    with pytest.raises(ValueError):
        vector[0] = 1.0


def test_context_builder_shape_and_errors() -> None:
    builder = ContextBuilder(embedding_dim=64, n_components=16, seed=1)
    x = builder.build(np.ones(64) / 8, prompt_tokens=100)
    assert x.shape == (18,) == (builder.dim,) and x[0] == 1.0
    assert np.array_equal(x, ContextBuilder(64, 16, seed=1).build(np.ones(64) / 8, 100))
    with pytest.raises(InvalidInput, match=r"embedding\.shape"):
        builder.build(np.ones(10), 5)
    with pytest.raises(InvalidInput, match="finite"):
        builder.build(np.full(64, np.nan), 5)
    assert ContextBuilder(embedding_dim=8, n_components=None).dim == 10


def test_import_does_not_load_torch_or_sklearn() -> None:
    import subprocess

    code = "import sys, banditroute; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@requires_minilm
def test_minilm_embeds_offline_and_separates_shared_prefix_prompts() -> None:
    embedder = MiniLMEmbedder()
    prefix = "Question: which is heavier?\nA) x\nB) y\nAnswer: A\n\n" * 40
    vectors = embedder.embed(
        [
            prefix + "What gas do plants absorb?",
            prefix + "Write a Python function that reverses a string.",
        ]
    )
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) < 0.95  # the questions at the end still differ
