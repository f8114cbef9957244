"""An engine whose evaluator learned a text signal saves and loads it (real state files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from banditroute import Engine, HashingEmbedder, ModelProfile
from banditroute.engine_state import STATE_FILE
from banditroute.errors import StateFileError
from banditroute.evaluation.evaluator import Evaluator


def _fitted(embedder: HashingEmbedder) -> Evaluator:
    """Fitted on 240 labels where the word "thorough" marks the preferred responses."""
    rng = np.random.default_rng(0)
    prompts, responses, labels = [], [], []
    for i in range(240):
        good = bool(rng.integers(2))
        word = "thorough" if good else "vague"
        prompts.append(f"question {i // 4}")
        responses.append(f"a {word} answer number {i} with some text {rng.integers(100)}")
        labels.append(0.9 if good else 0.1)
    return Evaluator(embedder=embedder).fit(prompts, responses, labels)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Engine, Path]:
    embedder = HashingEmbedder(32)
    models = [ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)]
    engine = Engine(models, embedder=embedder, seed=0)
    engine.evaluator = _fitted(embedder)
    assert engine.evaluator.text_columns == 1
    engine.save(tmp_path / "state")
    return engine, tmp_path / "state"


def test_text_signal_survives_save_and_load(saved: tuple[Engine, Path]) -> None:
    engine, folder = saved
    loaded = Engine.load(folder, embedder=HashingEmbedder(32))
    pairs = (["q"] * 3, ["a thorough reply", "a vague reply", ""])
    before = [e.total for e in engine.evaluator.evaluate_many(*pairs)]
    after = [e.total for e in loaded.evaluator.evaluate_many(*pairs)]
    assert loaded.evaluator.text_columns == 1
    assert after == pytest.approx(before, abs=1e-12)
    assert after[0] > after[1]  # the planted word still ranks first


def test_damaged_text_part_is_a_state_file_error(saved: tuple[Engine, Path]) -> None:
    _, folder = saved
    path = folder / STATE_FILE
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    names = [k for k in arrays if k.startswith("evaluator_text")]
    assert names, "the state holds the text model's arrays"
    coef = next(k for k in names if "coef" in k)
    arrays[coef] = np.full_like(arrays[coef], np.nan)
    np.savez(path, **arrays)
    with pytest.raises(StateFileError, match="evaluator"):
        Engine.load(folder, embedder=HashingEmbedder(32))
