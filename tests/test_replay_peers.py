"""ParetoBandit as a replay router: driven through its package, seeded, λ mapped, optional."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from banditroute.features import HashingEmbedder
from banditroute.registry import ModelProfile
from banditroute.replay import runner
from banditroute.replay.paretobandit_peer import cost_penalty_for
from banditroute.replay.runner import ReplaySettings, prepare, replay
from banditroute.synthetic import make_workload


def _stream(width: int = 384, n: int = 300):  # type: ignore[no-untyped-def]
    log, models = make_workload(n, seed=3)
    return prepare(log, HashingEmbedder(width), f"hashing{width}", None, progress=False), models


def test_cost_penalty_charges_the_cheapest_and_dearest_apart_as_our_reward_does():
    costs, normalised = [2e-4, 1e-3, 8e-3], [0.1, 0.3, 0.6]
    for weight in (0.5, 10.0, 300.0):
        penalty = cost_penalty_for(weight, costs, normalised)
        assert penalty * (0.6 - 0.1) == pytest.approx(weight * (8e-3 - 2e-4))
    assert cost_penalty_for(0.0, costs, normalised) == 0.0
    assert cost_penalty_for(5.0, costs, [0.4, 0.4, 0.4]) == 0.0  # no price signal to scale


def test_its_features_are_pca25_plus_bias_of_minilm_wide_vectors():
    pytest.importorskip("pareto_bandit")
    from banditroute.replay.paretobandit_peer import paretobandit_features

    rng = np.random.default_rng(0)
    features = paretobandit_features(rng.normal(size=(7, 384)))
    assert features is not None and features.shape == (7, 26)
    assert np.all(features[:, -1] == 1.0) and np.isfinite(features).all()
    assert paretobandit_features(rng.normal(size=(7, 64))) is None


def test_paretobandit_routes_a_replay_seeded_and_cost_aware():
    pytest.importorskip("pareto_bandit")
    stream, models = _stream()
    settings = ReplaySettings(lambdas=(0.0, 50.0), seeds=2, policies=("paretobandit",))
    result = replay(stream, models, settings, progress=False)
    chosen = result.choices["paretobandit"]
    assert chosen.shape == (2, 2, 300) and "paretobandit" not in result.skipped
    again = replay(stream, models, settings, progress=False).choices["paretobandit"]
    np.testing.assert_array_equal(chosen, again)  # seeded per replay seed
    cost = stream.log.cost
    spent = [cost[np.arange(300), chosen[li, 0]].mean() for li in range(2)]
    assert spent[1] < spent[0]  # a high λ buys cheaper models


def test_other_embeddings_fall_back_to_our_context_vectors():
    pytest.importorskip("pareto_bandit")
    stream, models = _stream(width=64, n=120)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("paretobandit",))
    chosen = replay(stream, models, settings, progress=False).choices["paretobandit"]
    assert chosen.shape == (1, 1, 120) and chosen.min() >= 0


def test_skipped_with_a_clear_message_when_the_package_is_missing(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "pareto_bandit" else real(name, *args)

    monkeypatch.setattr(runner.importlib.util, "find_spec", find_spec)
    stream, models = _stream(n=60)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("thompson", "paretobandit"))
    result = replay(stream, models, settings, progress=False)
    assert "paretobandit" not in result.choices and "thompson" in result.choices
    assert "paretobandit is not installed" in result.skipped["paretobandit"]
    assert "pip install paretobandit" in result.skipped["paretobandit"]


def test_skipped_for_a_warm_start():
    stream, models = _stream(n=60)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("paretobandit",))
    result = replay(stream, models, settings, warm=stream, progress=False)
    assert "cold only" in result.skipped["paretobandit"]


def test_prices_reach_its_registry():
    pytest.importorskip("pareto_bandit")
    from banditroute.replay.paretobandit_peer import normalised_prices, tabula_rasa_router

    models = [
        ModelProfile(id="cheap", provider="p", input_usd_per_mtok=0.1, output_usd_per_mtok=0.1),
        ModelProfile(id="dear", provider="p", input_usd_per_mtok=10, output_usd_per_mtok=30),
    ]
    low, high = normalised_prices(models)
    assert low == pytest.approx(0.0) and 0 < high < 1
    router = tabula_rasa_router(models, dim=5, cost_penalty=0.2, seed=1)
    assert set(router.registry) == {"cheap", "dear"} and router.cost_penalty == 0.2


def test_its_default_settings_run_as_a_second_router():
    pytest.importorskip("pareto_bandit")
    stream, models = _stream(n=150)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("paretobandit_default",))
    result = replay(stream, models, settings, progress=False)
    assert result.choices["paretobandit_default"].shape == (1, 1, 150)
