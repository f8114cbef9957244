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


def test_its_shipped_priors_router_is_skipped_for_a_warm_start():
    stream, models = _stream(n=60)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("paretobandit_default",))
    result = replay(stream, models, settings, warm=stream, progress=False)
    assert "cold only" in result.skipped["paretobandit_default"]


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


# --- warm start: its own warm-up-prior tooling (generate_warmup_priors) on the warm labels ---


def _split(log, at: int):  # type: ignore[no-untyped-def]
    from banditroute.outcome_log import OutcomeLog

    def rows(idx: np.ndarray) -> OutcomeLog:
        return OutcomeLog(
            [log.prompts[i] for i in idx], [log.tasks[i] for i in idx], log.models,
            log.quality[idx], log.cost[idx],
        )  # fmt: skip

    return rows(np.arange(at)), rows(np.arange(at, log.n_prompts))


def _easy(n: int, width: int):  # type: ignore[no-untyped-def]
    """Two models at one price: "good" always right, "bad" always wrong."""
    from banditroute.outcome_log import OutcomeLog

    prompts = [f"question {i} about topic {i % 7}" for i in range(n)]
    quality = np.tile([0.0, 1.0], (n, 1))
    log = OutcomeLog(prompts, ["t"] * n, ["bad", "good"], quality, np.full((n, 2), 1e-3))
    models = [
        ModelProfile(id=m, provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)
        for m in ("bad", "good")
    ]
    return prepare(log, HashingEmbedder(width), f"hashing{width}", None, progress=False), models


@pytest.mark.parametrize("width", [384, 64])  # its shipped PCA; a PCA fitted on the warm rows
def test_warm_paretobandit_picks_the_model_the_warm_rows_favour_from_the_start(width):
    pytest.importorskip("pareto_bandit")
    warm, models = _easy(200, width)
    test, _ = _easy(120, width)
    settings = ReplaySettings(lambdas=(0.0,), seeds=2, policies=("paretobandit",))
    warmed = replay(test, models, settings, warm=warm, progress=False).choices["paretobandit"]
    cold = replay(test, models, settings, progress=False).choices["paretobandit"]
    assert (warmed == 1).all()  # every decision, the first ones included
    assert (cold == 0).any()  # cold, it has to find out


def test_warm_paretobandit_runs_in_a_replay_seeded_and_unlike_cold():
    pytest.importorskip("pareto_bandit")
    log, models = make_workload(360, seed=5)
    train, test = _split(log, 240)
    embed = HashingEmbedder(384)
    warm = prepare(train, embed, "h384", None, progress=False)
    routed = prepare(test, embed, "h384", None, progress=False)
    settings = ReplaySettings(lambdas=(0.0, 20.0), seeds=2, policies=("paretobandit", "knn"))
    result = replay(routed, models, settings, warm=warm, progress=False)
    chosen = result.choices["paretobandit"]
    assert "paretobandit" not in result.skipped and chosen.shape == (2, 2, 120)
    again = replay(routed, models, settings, warm=warm, progress=False).choices["paretobandit"]
    np.testing.assert_array_equal(chosen, again)  # seeded runs repeat
    cold = replay(routed, models, settings, progress=False).choices["paretobandit"]
    assert (chosen != cold).mean() > 0.05  # the warm rows changed its decisions
    spent = [test.cost[np.arange(120), chosen[li, 0]].mean() for li in range(2)]
    assert spent[1] < spent[0]  # λ still reaches its cost penalty


def test_its_priors_are_fitted_on_the_features_it_routes_with(tmp_path):
    pytest.importorskip("pareto_bandit")
    import joblib

    from banditroute.replay.paretobandit_peer import paretobandit_features
    from banditroute.replay.paretobandit_warm import build_priors

    for width in (384, 48):
        stream, _ = _stream(width=width, n=80)
        folder = tmp_path / str(width)
        folder.mkdir()
        priors = build_priors(stream, folder)
        state = joblib.load(priors.path)
        x = paretobandit_features(stream.embeddings, priors.pca_path)
        assert x is not None and x.shape == (80, 26) and priors.n_prompts == 80
        plasticity = state["plasticity"]
        for j, model in enumerate(stream.log.models):  # its LinUCB statistics, scaled
            a = plasticity * (np.eye(26) + x.T @ x)
            np.testing.assert_allclose(state["A"][model], a, atol=1e-9)
            b = plasticity * x.T @ stream.log.quality[:, j]
            np.testing.assert_allclose(state["b"][model], b, atol=1e-9)


def test_priors_are_built_once_per_warm_stream(monkeypatch):
    pytest.importorskip("pareto_bandit")
    from banditroute.replay import paretobandit_warm

    built: list[int] = []
    real = paretobandit_warm.build_priors

    def counting(warm, folder):  # type: ignore[no-untyped-def]
        built.append(1)
        return real(warm, folder)

    monkeypatch.setattr(paretobandit_warm, "build_priors", counting)
    monkeypatch.setattr(paretobandit_warm, "_BUILT", paretobandit_warm._Built())
    warm, models = _easy(60, 32)
    test, _ = _easy(30, 32)
    settings = ReplaySettings(lambdas=(0.0, 1.0), seeds=2, policies=("paretobandit",))
    replay(test, models, settings, warm=warm, progress=False)
    assert len(built) == 1  # 4 runs, one warm stream
    other, _ = _easy(60, 32)
    replay(test, models, settings, warm=other, progress=False)
    assert len(built) == 2
