"""Empirical-Bayes prior precision (`banditroute.policies.evidence`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput, StateFileError
from banditroute.linear import RidgeArms
from banditroute.policies.evidence import EvidenceThompson, log_evidence, set_prior_precision

D = 5


def _context(rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([[1.0], rng.standard_normal(D - 1)])


@pytest.mark.parametrize("true_alpha", [0.5, 4.0, 32.0])
def test_evidence_recovers_the_prior_precision(true_alpha: float) -> None:
    rng = np.random.default_rng(int(true_alpha * 10))
    noise_sd = 0.2
    # σ² known: the policy's estimate stays at noise_variance (a huge prior weight on it)
    policy = EvidenceThompson(
        seed=0, refit_every=10**9, noise_variance=noise_sd**2, noise_prior_weight=1e6
    )
    for arm in ("a", "b", "c", "d"):
        weights = rng.normal(0.0, noise_sd / np.sqrt(true_alpha), D)
        weights[0] = 0.5
        for _ in range(400):
            x = _context(rng)
            policy.update(arm, x, float(x @ weights + noise_sd * rng.normal()))
    alpha = policy.refit()  # the first refit searches the whole grid
    assert true_alpha / 2 <= alpha <= true_alpha * 2
    assert policy.alpha == alpha == policy._ridge.prior_precision
    grid = np.array([true_alpha / 8, true_alpha, true_alpha * 8])
    scores = log_evidence(policy._ridge, policy._sums, grid, np.full(4, noise_sd**2))
    assert int(np.argmax(scores)) == 1
    # learning σ² jointly finds the same order of magnitude
    joint = log_evidence(policy._ridge, policy._sums, grid, np.ones(4), (noise_sd**2, 1.0))
    assert int(np.argmax(joint)) == 1


def test_per_model_alphas_and_exact_rows() -> None:
    rng = np.random.default_rng(5)
    noise_sd, truth = 0.2, {"a": 0.5, "b": 32.0}
    kwargs = {"seed": 0, "refit_every": 10**9, "noise_variance": noise_sd**2}
    policy = EvidenceThompson(per_model=True, noise_prior_weight=1e6, **kwargs)  # type: ignore[arg-type]
    data: dict[str, list[tuple[np.ndarray, float]]] = {}
    for arm, alpha in truth.items():
        weights = rng.normal(0.0, noise_sd / np.sqrt(alpha), D)
        data[arm] = [
            (x, float(x @ weights + noise_sd * rng.normal()))
            for x in (_context(rng) for _ in range(500))
        ]
        for x, y in data[arm]:
            policy.update(arm, x, y)
    policy.refit()
    _, _, scale, held, _, _ = policy._sums.parts()
    for arm, alpha in truth.items():
        i = policy._ridge.index[arm]
        assert alpha / 2 <= held[i] / scale[i] <= alpha * 2
        fresh = EvidenceThompson(prior_precision=held[i] / scale[i], **kwargs)  # type: ignore[arg-type]
        for x, y in data[arm]:
            fresh.update(arm, x, y)
        np.testing.assert_allclose(policy._ridge.inv_gram[i], fresh._ridge.inv_gram[0], rtol=1e-6)
        np.testing.assert_allclose(policy._ridge.weights[i], fresh._ridge.weights[0], rtol=1e-6)
    assert policy._ridge.prior_precision == policy.alpha  # pooled: for new and reset models


def test_log_evidence_without_data_is_flat() -> None:
    policy = EvidenceThompson(seed=0)
    policy.posterior(np.ones(D), ["a", "b"])  # rows, no data
    assert log_evidence(policy._ridge, policy._sums, np.array([0.5, 8.0]), np.ones(2)).tolist() == [
        0.0,
        0.0,
    ]


def _play(policy: EvidenceThompson, ops: list[str], seed: int) -> None:
    """The same operations on any policy: updates of a, b, c, softens, resets, removals."""
    rng = np.random.default_rng(seed)
    for op in ops:
        x, y = _context(rng), float(rng.random())
        arms = policy.arms
        if op in ("a", "b", "c"):
            policy.update(op, x, y)
        elif op == "soften" and arms:
            policy.soften_arm(arms[0], 0.5)
        elif op == "reset" and arms:
            policy.reset_arm(arms[-1])
        elif op == "remove" and arms:
            policy.remove_arm(arms[len(arms) // 2])


def _assert_same_rows(a: RidgeArms, b: RidgeArms) -> None:
    assert list(a.index) == list(b.index)
    scale = max(1.0, float(np.abs(b.inv_gram).max(initial=0.0)))
    np.testing.assert_allclose(a.inv_gram, b.inv_gram, rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(a.targets, b.targets, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    ops=st.lists(
        st.sampled_from(["a", "b", "c", "a", "b", "soften", "reset", "remove"]), max_size=60
    ),
    old=st.floats(0.05, 50.0),
    new=st.floats(0.05, 50.0),
    discount=st.sampled_from([1.0, 0.97]),
    pooled=st.booleans(),
    intercept_precision=st.floats(0.1, 10.0),
)
def test_resetting_alpha_equals_fitting_from_scratch(
    seed: int,
    ops: list[str],
    old: float,
    new: float,
    discount: float,
    pooled: bool,
    intercept_precision: float,
) -> None:
    common = {
        "seed": 0,
        "refit_every": 10**9,
        "discount": discount,
        "pooled_prior": pooled,
        "intercept_precision": intercept_precision,
    }
    moved = EvidenceThompson(prior_precision=old, **common)  # type: ignore[arg-type]
    fresh = EvidenceThompson(prior_precision=new, **common)  # type: ignore[arg-type]
    for policy in (moved, fresh):
        policy.declare_prior("b", 0.9)  # a declared prior is part of the prior, kept
        _play(policy, ops, seed)
    set_prior_precision(moved._ridge, moved._sums, new)
    _assert_same_rows(moved._ridge, fresh._ridge)
    # and onwards: later rows, resets and updates start from the new α
    _play(moved, ["c", "reset", "a"], seed + 1)
    _play(fresh, ["c", "reset", "a"], seed + 1)
    _assert_same_rows(moved._ridge, fresh._ridge)


def test_borrowed_rows_keep_their_prior_mean() -> None:
    rng = np.random.default_rng(3)
    policy = EvidenceThompson(seed=0, refit_every=10**9, onboarding_widen=4.0)
    for _ in range(30):
        policy.update("a", _context(rng), float(rng.random()))
    policy.borrow_prior("new", ["a"])
    mean = policy._ridge.weights[policy._ridge.index["new"]].copy()
    assert np.abs(mean[1:]).max() > 0  # a non-zero prior mean on the context weights
    data = [(_context(rng), float(rng.random())) for _ in range(20)]
    for x, y in data:
        policy.update("new", x, y)
    set_prior_precision(policy._ridge, policy._sums, 6.0)
    # from scratch: the borrowed mean with the uniform prior at α = 6, widened 4×, then the data
    scratch = RidgeArms(0.5, 1.0, 6.0)
    scratch.ensure(["other"], D)
    scratch.set_prior_mean("new", mean, 4.0)
    for x, y in data:
        scratch.update(scratch.index["new"], x, y)
    i, j = policy._ridge.index["new"], scratch.index["new"]
    np.testing.assert_allclose(policy._ridge.inv_gram[i], scratch.inv_gram[j], rtol=1e-8)
    np.testing.assert_allclose(policy._ridge.targets[i], scratch.targets[j], rtol=1e-8)
    np.testing.assert_allclose(policy._ridge.weights[i], scratch.weights[j], rtol=1e-7)


def _route(policy: EvidenceThompson, steps: range, log: list[tuple[int, float]]) -> None:
    """A replay-like loop: choose by one Thompson draw, learn the chosen model's quality."""
    arms = ["m0", "m1", "m2", "m3"]
    truth = np.random.default_rng(99).normal(0, 0.3, (4, D))
    for t in steps:
        rng = np.random.default_rng(t)
        x = _context(rng)
        choice = int(policy.sample_utilities(x, arms).argmax())
        policy.update(arms[choice], x, float(truth[choice] @ x + 0.1 * rng.normal()))
        log.append((choice, policy.alpha))


def test_seeded_loop_repeats_exactly_and_resumes_from_a_saved_state() -> None:
    runs = []
    for _ in range(2):
        log: list[tuple[int, float]] = []
        policy = EvidenceThompson(seed=7, refit_every=25)
        _route(policy, range(500), log)
        runs.append((log, policy._ridge.weights.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert len({alpha for _, alpha in runs[0][0]}) > 1  # α did move
    # stopped half way, saved and loaded into a new policy: the same run
    log = []
    first = EvidenceThompson(seed=7, refit_every=25)
    _route(first, range(250), log)
    second = EvidenceThompson(seed=7, refit_every=25)
    second.set_state(first.get_state())
    _route(second, range(250, 500), log)
    assert log == runs[0][0]
    np.testing.assert_allclose(second._ridge.weights, runs[0][1], rtol=1e-12)


def test_refit_amortised_and_grid() -> None:
    policy = EvidenceThompson(seed=0, refit_every=10, alpha_low=1.0, alpha_high=8.0, grid_factor=2)
    assert policy._grid.tolist() == [1.0, 2.0, 4.0, 8.0]
    rng = np.random.default_rng(0)
    for _ in range(2 * D - 1):  # fewer than 2·d observations: no refit yet
        policy.update("a", _context(rng), float(rng.random()))
    assert policy._pending == 2 * D - 1
    policy.update("a", _context(rng), 0.5)
    assert policy._pending == 0 and policy.alpha in policy._grid


def test_refusals() -> None:
    with pytest.raises(InvalidInput, match="common_part"):
        EvidenceThompson(common_part=True)
    with pytest.raises(InvalidInput, match="alpha_high"):
        EvidenceThompson(alpha_low=4.0, alpha_high=1.0)
    with pytest.raises(InvalidInput, match="refit_every"):
        EvidenceThompson(refit_every=0)
    policy = EvidenceThompson(seed=0)
    policy.update("a", np.ones(D), 0.5)
    state = policy.get_state()
    del state.arrays["evidence_sums"]
    with pytest.raises(StateFileError, match="evidence_sums"):
        EvidenceThompson(seed=0).set_state(state)
    state = policy.get_state()
    state.arrays["evidence_alpha"] = np.array([0.0, 0.0, 0.0])
    with pytest.raises(StateFileError, match="evidence"):
        EvidenceThompson(seed=0).set_state(state)


def test_registered_as_an_opt_in_policy_and_refused_by_shared_replicas() -> None:
    from banditroute.policies import POLICIES
    from banditroute.replay.routers import ROUTERS
    from banditroute.shared.posterior import PolicyShare

    assert POLICIES["thompson_evidence"] is EvidenceThompson
    assert ROUTERS["thompson_evidence"].engine_policy
    assert EvidenceThompson().refit_every == 500
    with pytest.raises(InvalidInput, match="cannot share"):
        PolicyShare(EvidenceThompson(), "replica-a", None)  # type: ignore[arg-type]


def test_engine_with_it_saves_and_loads(tmp_path: Path) -> None:
    from banditroute import Engine, HashingEmbedder, ModelProfile

    models = [
        ModelProfile(id=m, provider="p", input_usd_per_mtok=p, output_usd_per_mtok=p)
        for m, p in (("big", 5.0), ("small", 0.2))
    ]
    engine = Engine(
        models,
        embedder=HashingEmbedder(16),
        policy=EvidenceThompson(refit_every=20, seed=0),
        seed=0,
    )
    for i in range(80):
        d = engine.choose(f"prompt {i % 7}")
        engine.feedback(d, quality=0.8 if d.model == "big" else 0.4, cost_usd=0.001)
    engine.save(tmp_path / "s")
    loaded = Engine.load(tmp_path / "s", embedder=HashingEmbedder(16))
    assert isinstance(loaded.learner.policy, EvidenceThompson)
    assert loaded.learner.policy.alpha == engine.learner.policy.alpha
    assert [loaded.choose(f"p{i}").model for i in range(20)] == [
        engine.choose(f"p{i}").model for i in range(20)
    ]
