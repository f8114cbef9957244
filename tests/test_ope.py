"""Off-policy evaluation: estimators against known truths, the log reader, targets, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_model
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute import Engine, HashingEmbedder
from banditroute.cli import main
from banditroute.errors import InvalidInput
from banditroute.ope import (
    CrossFitRidge,
    FixedModel,
    FrozenLearner,
    GivenProbabilities,
    LoggedBandit,
    Uniform,
    choose_cap,
    clipped_dr,
    dr,
    evaluate,
    from_spec,
    ips,
    open_log,
    parse_spec,
    snips,
    switch_dr,
)
from banditroute.policies import LinearThompsonSampling, LinUCB
from banditroute.store import DecisionStore

# -- a simulated contextual bandit whose value is known analytically -----------------------------
# z ~ U(-1, 1); mean reward of model k is A[k] + B[k]·z, so a fixed model's value is A[k]; the
# logging policy picks by a known softmax of z (every model always possible).
A, B = np.array([0.6, 0.4, 0.7]), np.array([0.3, -0.5, 0.1])


def simulate(n: int, seed: int, noise: float = 0.2) -> tuple[LoggedBandit, np.ndarray, np.ndarray]:
    """(log, logging probabilities, mean rewards (n, K))."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, n)
    logits = np.c_[z, -z, 0.3 * np.ones(n)]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    actions = np.array([rng.choice(3, p=p) for p in probs])
    means = A + np.outer(z, B)
    rewards = means[np.arange(n), actions] + rng.normal(0, noise, n)
    contexts = np.c_[np.ones(n), z]
    logged = LoggedBandit.from_arrays(
        contexts, actions, probs[np.arange(n), actions], rewards, ["a", "b", "c"]
    )
    return logged, probs, means


@pytest.mark.parametrize("model", ["a", "b", "c"])
def test_estimators_recover_an_analytic_truth(model: str) -> None:
    logged, _, _ = simulate(4000, seed=1)
    truth = float(A[["a", "b", "c"].index(model)])
    result = evaluate(logged, FixedModel(model), alpha=0.05)
    for e in result.estimates:
        assert abs(e.value - truth) < 0.05, (e.method, e.value, truth)
        assert e.covers(truth), (e.method, e.low, e.high, truth)
        assert e.n_used == 4000 and e.n_left_out == 0
    assert result.get("dr").std_error < result.get("ips").std_error  # DR: less variance


def test_intervals_cover_at_about_their_level() -> None:
    covered = []
    for seed in range(40):
        logged, _, _ = simulate(300, seed=100 + seed)
        result = evaluate(logged, FixedModel("a"), methods=("dr",), alpha=0.1)
        covered.append(result.get("dr").covers(float(A[0])))
    assert 0.8 <= np.mean(covered) <= 1.0


def test_dr_with_a_perfect_reward_model_has_zero_error() -> None:
    logged, _, means = simulate(500, seed=2, noise=0.0)  # rewards are exactly the means
    target = np.tile([0.2, 0.5, 0.3], (500, 1))
    truth = float((target * means).mean(axis=0).sum())
    estimate = dr(logged, target, predictions=means)
    assert estimate.value == pytest.approx(truth, abs=1e-12)
    assert estimate.std_error < 0.1  # only the spread of the per-row truths remains


def test_a_target_equal_to_the_logging_policy_gives_the_logged_mean() -> None:
    logged, probs, _ = simulate(300, seed=3)
    target = GivenProbabilities(probs, name="logging")
    result = evaluate(logged, target)
    mean = float(logged.rewards.mean())
    assert result.get("ips").value == pytest.approx(mean)
    assert result.get("snips").value == pytest.approx(mean)
    assert result.effective_sample_size == pytest.approx(300)
    assert result.match_rate == 1.0


def test_rows_left_out_are_counted() -> None:
    logged = LoggedBandit.from_arrays(
        np.ones((5, 1)),
        [0, 1, 0, 1, 0],
        [0.5, 0.0, np.nan, 0.5, 1.5],
        [1.0, 1.0, 1.0, np.nan, 1.0],
        ["a", "b"],
    )
    assert logged.n == 1
    assert (logged.left_out.no_propensity, logged.left_out.no_outcome) == (3, 1)
    estimate = ips(logged, np.array([[1.0, 0.0]]))
    assert estimate.n_left_out == 4 and estimate.n_used == 1
    assert "4 rows left out" in logged.left_out.describe()
    with pytest.raises(InvalidInput, match="no usable rows"):
        ips(LoggedBandit.from_arrays(np.ones((1, 1)), [0], [0.0], [1.0], ["a"]), np.ones((0, 1)))


def test_snips_is_left_out_when_the_log_never_supports_the_target() -> None:
    logged = LoggedBandit.from_arrays(np.ones((3, 1)), [0, 0, 0], [0.9] * 3, [1.0] * 3, ["a", "b"])
    result = evaluate(logged, FixedModel("b"))
    assert [e.method for e in result.estimates] == ["ips", "dr", "switch_dr", "clipped_dr"]
    assert result.get("clipped_dr").uncovered == 1.0  # nothing the log did reaches the target
    assert result.get("ips").value == 0.0 and "snips" in result.notes[0]
    assert "effective sample size 0.0" in result.notes[1]  # a warning comes with it
    with pytest.raises(InvalidInput):
        snips(logged, FixedModel("b").probabilities(logged))


def test_cross_fitted_predictions_never_see_their_own_row() -> None:
    x = np.ones((10, 1))  # no features: each prediction is the mean of the other rows
    actions = np.zeros(10, dtype=np.int64)
    rewards = np.zeros(10)
    rewards[3] = 90.0  # an outlier: its own prediction must not contain it
    predicted = CrossFitRidge(folds=10, prior_rows=0.0).predict(x, actions, rewards, 1)
    assert predicted[3, 0] == pytest.approx(0.0)
    assert np.allclose(np.delete(predicted[:, 0], 3), 10.0)


# -- targets -----------------------------------------------------------------------------------
def test_frozen_thompson_matches_its_draws_and_greedy_is_the_argmax() -> None:
    policy = LinearThompsonSampling(seed=0)
    x = np.array([1.0, 0.5])
    for q in (0.6, 0.7, 0.5):
        policy.update("a", x, q).update("b", x, q - 0.05)
    logged = LoggedBandit.from_arrays([x], [0], [0.5], [0.6], ["a", "b"])
    exact = FrozenLearner(policy).probabilities(logged)
    drawn = FrozenLearner(policy, samples=20_000).probabilities(logged)
    greedy = FrozenLearner(policy, greedy=True).probabilities(logged)
    assert 0.5 < exact[0, 0] < 0.99 and np.allclose(exact, drawn, atol=0.02)
    assert greedy.tolist() == [[1.0, 0.0]]
    assert policy.counts() == {"a": 3, "b": 3}  # the original is not touched
    with pytest.raises(InvalidInput, match="models="):
        FrozenLearner(policy, tradeoff=__import__("banditroute").Tradeoff(cost_weight=1.0))


def test_spec_language() -> None:
    assert parse_spec("thompson-frozen,samples=64,seed=3").samples == 64
    assert parse_spec("state:some/folder,cost_weight=2,greedy=1").greedy is True
    bad_specs = ["", "nope", "fixed", "uniform:x", "fixed:a,greedy=1", "state:f,alpha=1"]
    bad_specs += [
        "linucb-frozen,cost_weight=1",
        "thompson-frozen,samples=0",
        "linucb-frozen,seed=x",
    ]
    for bad in bad_specs:
        with pytest.raises(InvalidInput):
            parse_spec(bad)
    assert isinstance(from_spec("uniform"), Uniform)
    with pytest.raises(InvalidInput, match="logged="):
        from_spec("linucb-frozen")


# -- a real decision log -----------------------------------------------------------------------
def write_log(folder: Path, n: int = 60, unanswered: int = 4) -> Engine:
    models = [make_model("small", input_usd_per_mtok=0.1), make_model("big"), make_model("mid")]
    store = DecisionStore(folder, embedding_dim=64, embedder="hashing64", background=False)
    engine = Engine(models, embedder=HashingEmbedder(64), store=store, seed=0)
    quality = {"small": 0.4, "big": 0.9, "mid": 0.7}
    for k in range(n):
        d = engine.choose(f"question {k} about {'code' if k % 2 else 'poems'}")
        if k >= unanswered:
            engine.feedback(d, quality=quality[d.model], cost_usd=0.001)
    engine.close()
    return engine


def test_from_store_reads_what_an_engine_logged(tmp_path: Path) -> None:
    engine = write_log(tmp_path / "log")
    logged = LoggedBandit.from_store(open_log(tmp_path / "log"))
    assert logged.n == 56 and logged.left_out.no_outcome == 4
    assert logged.models == ("big", "mid", "small")
    assert logged.candidates.all() and logged.embeddings is not None
    assert logged.contexts.shape == (56, engine.context.dim)
    assert np.all((logged.propensities > 0) & (logged.propensities <= 1))
    expected = {"small": 0.4, "big": 0.9, "mid": 0.7}
    assert [expected[logged.models[a]] for a in logged.actions] == logged.rewards.tolist()
    quality = LoggedBandit.from_store(open_log(tmp_path / "log"), reward="quality")
    assert quality.rewards.tolist() == logged.rewards.tolist()  # λ = 0: reward = quality
    only_big = LoggedBandit.from_store(open_log(tmp_path / "log"), where="model = 'big'")
    assert set(only_big.actions.tolist()) == {0} and only_big.models[0] == "big"
    frozen = FrozenLearner(engine)  # the engine's own posterior, rebuilt from the embeddings
    p = frozen.probabilities(logged)
    assert np.allclose(p.sum(axis=1), 1.0)
    with pytest.raises(InvalidInput, match="reward"):
        LoggedBandit.from_store(open_log(tmp_path / "log"), reward="prompt")


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = write_log(tmp_path / "log")
    engine.save(tmp_path / "state")
    out = tmp_path / "ope.json"
    argv = ["ope", "--store", str(tmp_path / "log"), "--policy", "fixed:big", "--policy",
            "uniform", "--policy", "linucb-frozen,greedy=true", "--policy",
            f"state:{tmp_path / 'state'},cost_weight=10", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "### fixed:big" in printed and "| dr |" in printed and "4 rows left out" in printed
    assert "| clipped_dr |" in printed and "| switch_dr |" in printed
    figures = json.loads(out.read_text())
    assert [p["spec"] for p in figures["policies"]] == argv[4:11:2]
    for row in figures["policies"]:
        assert row["n_used"] == 56 and row["left_out"]["no_outcome"] == 4
        for e in row["estimates"]:
            assert np.isfinite(e["value"]) and e["low"] <= e["value"] <= e["high"]
    wide = ["ope", "--store", str(tmp_path / "log"), "--policy", "uniform", "--reward-range"]
    assert main([*wide, "-1000000", "1000000", "--methods", "clipped_dr", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["policies"]
    assert row["estimates"][0]["low"] >= -1e6 and row["estimates"][0]["cap"] >= 0
    assert main([*wide, "5", "6"]) == 2  # a range that leaves out logged rewards is refused
    capsys.readouterr()
    assert main(["ope", "--store", str(tmp_path / "log"), "--policy", "bogus"]) == 2
    assert "unknown kind 'bogus'" in capsys.readouterr().err
    assert main(["ope", "--store", str(tmp_path / "nowhere"), "--policy", "uniform"]) == 2
    assert "no decision log" in capsys.readouterr().err


# -- properties --------------------------------------------------------------------------------
@st.composite
def logs(draw: st.DrawFn) -> LoggedBandit:
    n = draw(st.integers(1, 25))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n, k)) < 0.6
    actions = rng.integers(0, k, n)
    mask[np.arange(n), actions] = True
    p = rng.uniform(1e-4, 1.0, n)
    rewards = rng.uniform(-5, 5, n) * draw(st.sampled_from([0.0, 1.0, 1e3]))
    x = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    return LoggedBandit.from_arrays(
        x, actions, p, rewards, [f"m{j}" for j in range(k)], candidates=mask
    )


@settings(max_examples=40, deadline=None)
@given(logs(), st.integers(0, 3))
def test_probabilities_are_distributions_and_estimates_finite(
    logged: LoggedBandit, which: int
) -> None:
    policy = LinUCB() if which == 3 else LinearThompsonSampling(seed=0)
    for x, a, r in zip(logged.contexts[:5], logged.actions, logged.rewards, strict=False):
        policy.update(logged.models[int(a)], x, float(np.clip(r, -10, 10)))
    targets = [
        FixedModel("m0"),
        Uniform(),
        FrozenLearner(policy),
        FrozenLearner(policy, greedy=True),
    ]
    target = targets[which]
    p = target.probabilities(logged)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.all(p[~logged.candidates] == 0.0) and np.all(p >= 0)
    result = evaluate(logged, target)
    for e in result.estimates:
        assert np.isfinite(e.value)
        if logged.n > 1:
            assert np.isfinite(e.low) and np.isfinite(e.high) and e.low <= e.value <= e.high


# -- switch-DR and clipped DR (capped.py) ----------------------------------------------------------
def bernoulli_log(n: int, seed: int, sharpness: float) -> tuple[LoggedBandit, np.ndarray]:
    """A log with rewards in {0, 1}: (log, mean rewards (n, K)); ``sharpness`` cuts overlap."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, n)
    logits = sharpness * np.c_[z, -z, -np.ones(n)]  # model c rarely chosen when sharp
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    actions = (rng.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    means = np.clip(np.c_[0.5 + 0.3 * z, 0.4 - 0.3 * z, 0.8 + 0.1 * z], 0, 1)
    rewards = (rng.random(n) < means[np.arange(n), actions]).astype(float)
    contexts = np.c_[np.ones(n), z]
    rows = np.arange(n)
    logged = LoggedBandit.from_arrays(contexts, actions, probs[rows, actions], rewards, list("abc"))
    return logged, probs


def test_capped_estimators_are_unbiased_when_the_target_is_the_logger() -> None:
    errors = {"switch_dr": [], "clipped_dr": []}
    for seed in range(30):
        logged, probs = bernoulli_log(200, seed, sharpness=1.0)
        z = logged.contexts[:, 1]
        means = np.c_[0.5 + 0.3 * z, 0.4 - 0.3 * z, 0.8 + 0.1 * z]
        truth = float((probs * means).sum(axis=1).mean())
        for method, estimator in (("switch_dr", switch_dr), ("clipped_dr", clipped_dr)):
            e = estimator(logged, probs, reward_range=(0.0, 1.0))
            assert e.cap == 1.0 and e.uncovered == pytest.approx(0.0)  # every weight is 1
            errors[method].append(e.value - truth)
    for method, found in errors.items():
        bias, se = np.mean(found), np.std(found, ddof=1) / np.sqrt(len(found))
        assert abs(bias) < 3 * se + 1e-3, (method, bias, se)


def test_switch_dr_spans_dr_and_the_direct_method() -> None:
    logged, _, _ = simulate(300, seed=4)
    target = np.tile([0.1, 0.2, 0.7], (300, 1))
    q = CrossFitRidge().predict(logged.contexts, logged.actions, logged.rewards, 3)
    direct = float((target * q).sum(axis=1).mean())
    doubly = dr(logged, target, predictions=q).value
    assert switch_dr(logged, target, threshold=np.inf, predictions=q).value == pytest.approx(doubly)
    assert switch_dr(logged, target, threshold=0.0, predictions=q).value == pytest.approx(direct)
    assert clipped_dr(logged, target, cap=np.inf, predictions=q).value == pytest.approx(doubly)
    assert switch_dr(logged, target, threshold=0.0, predictions=q).uncovered == 1.0
    assert direct != pytest.approx(doubly)  # the two ends differ on this log
    with pytest.raises(InvalidInput):
        clipped_dr(logged, target, cap=-1.0, predictions=q)
    with pytest.raises(InvalidInput, match="reward_range"):
        clipped_dr(logged, target, predictions=q, reward_range=(0.0, 0.1))


@pytest.mark.parametrize("estimator", [switch_dr, clipped_dr])
def test_capped_intervals_cover_with_poor_overlap_and_a_wrong_reward_model(
    estimator: object,
) -> None:
    for sharpness, widest in ((1.0, 0.5), (4.0, 1.0)):  # 4: c has p ≈ 0.0003 – 0.05
        covered, dr_covered, widths = [], [], []
        for seed in range(60):
            logged, _ = bernoulli_log(300, seed=500 + seed, sharpness=sharpness)
            z = logged.contexts[:, 1]
            target = np.tile([0.0, 0.0, 1.0], (300, 1))
            truth = float(np.mean(0.8 + 0.1 * z))
            wrong = np.full((300, 3), 0.3)  # the reward model is far off where it matters
            e = estimator(logged, target, predictions=wrong, reward_range=(0.0, 1.0))  # type: ignore[operator]
            covered.append(e.covers(truth))
            widths.append(e.high - e.low)
            assert 0.0 <= e.low <= e.value <= e.high <= 1.0
            dr_covered.append(dr(logged, target, predictions=wrong).covers(truth))
        assert np.mean(covered) >= 0.85 and np.mean(widths) < widest
        if sharpness > 1:  # the plain DR interval does not hold up; the bias bound does
            assert np.mean(dr_covered) < 0.7 < np.mean(covered)


def test_choose_cap_trades_bias_for_variance() -> None:
    rewards = np.linspace(0, 1, 400)
    good = choose_cap(np.ones(400), rewards)  # all weights equal: no bias at cap 1
    assert good == 1.0
    heavy = np.r_[np.full(398, 0.75), np.full(2, 50.0)]  # two huge weights: cap them
    assert choose_cap(heavy, rewards) < 50.0
    assert choose_cap(np.zeros(5), rewards[:5]) == 0.0


@settings(max_examples=40, deadline=None)
@given(logs(), st.sampled_from([None, 0.0, 1.0, 10.0]))
def test_capped_intervals_stay_in_the_reward_range(logged: LoggedBandit, cap: float | None) -> None:
    target = Uniform().probabilities(logged)
    low, high = float(logged.rewards.min()), float(logged.rewards.max())
    for estimator in (switch_dr, clipped_dr):
        e = estimator(logged, target, 0.1, cap, np.zeros((logged.n, len(logged.models))) + low)
        assert e.low <= e.value <= e.high and e.cap is not None and e.uncovered is not None
        if logged.n > 1:
            assert low <= e.low and e.high <= high
