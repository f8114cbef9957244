"""A saved state refuses an encoder other than the one it learned with (real state files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from banditroute import Engine, HashingEmbedder, ModelProfile
from banditroute.errors import StateFileError
from banditroute.serve import ServeSettings, build_service
from banditroute.static_embedder import default_embedder
from tests.fake_provider import FakeProvider
from tests.test_serve_startup_once import saved_state, write_config

MODELS = [ModelProfile(id="a", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)]


class Unnamed:
    """An encoder of the user's own (no name: recorded as ``custom64``)."""

    dim = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), self.dim)) / 8.0


def _saved(folder: Path, embedder: object) -> Path:
    engine = Engine(MODELS, embedder=embedder, seed=0)
    engine.feedback(engine.choose("hello"), quality=0.7, cost_usd=0.001)
    engine.save(folder)
    return folder


def test_another_named_encoder_of_the_same_size_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "s", HashingEmbedder(64))
    with pytest.raises(StateFileError, match="'hashing64', not 'minilm-static-64-flat'"):
        Engine.load(folder, embedder=default_embedder())


def test_the_same_encoder_given_again_loads(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "s", HashingEmbedder(64))
    assert Engine.load(folder, embedder=HashingEmbedder(64)).embedder.name == "hashing64"
    assert Engine.load(folder).embedder.name == "hashing64"


def test_an_encoder_of_ones_own_is_checked_by_size_only(tmp_path: Path) -> None:
    folder = _saved(tmp_path / "s", Unnamed())
    assert Engine.load(folder, embedder=Unnamed()).embedder.dim == 64
    named = _saved(tmp_path / "n", HashingEmbedder(64))
    assert Engine.load(named, embedder=Unnamed()).embedder.dim == 64  # the user's own call


def test_serve_with_a_mismatched_embedder_setting_fails_at_start(tmp_path: Path) -> None:
    with FakeProvider() as provider:
        config = write_config(tmp_path / "models.toml", provider)
        state = saved_state(tmp_path / "state", config, HashingEmbedder(64))
        settings = ServeSettings(config=str(config), state=str(state.parent), embedder="static")
        with pytest.raises(StateFileError, match="'hashing64'"):
            build_service(settings)
