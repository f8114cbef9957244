"""The shortcuts that keep `Engine.choose` fast give the same answers as the full computation:
the deferred propensity, the constraint checks skipped when no list or limit is set, the
price arrays kept between calls."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute import Engine, HashingEmbedder, Registry, example_registry_path
from banditroute.constraints import (
    ArmEstimate,
    Constraints,
    _estimate_reason,
    _lifecycle_reason,
    _listed_reason,
    split_feasible,
)
from banditroute.decision import Candidate, Decision
from banditroute.estimates import CallEstimator
from banditroute.policies import LinearThompsonSampling
from banditroute.policies.thompson import probability_of_max

MODELS = list(Registry.load(example_registry_path()))
IDS = [m.id for m in MODELS]


def _engine() -> Engine:
    return Engine(Registry.load(example_registry_path()), embedder=HashingEmbedder(64), seed=3)


def test_deferred_propensity_is_the_exact_one_and_does_not_move_with_later_learning() -> None:
    engine, rng = _engine(), np.random.default_rng(0)
    decisions = []
    for i in range(60):
        d = engine.choose(f"prompt {i} about {rng.integers(1000)}")
        decisions.append(d)
        engine.feedback(d, quality=float(rng.random()), cost_usd=1e-4, latency_ms=500.0)
    # read only now, after 60 updates: each is still the probability at its own decision
    policy = engine.policy
    assert isinstance(policy, LinearThompsonSampling)
    for d in decisions[-5:]:
        ranked = d.candidates
        centre = np.array([c.expected_quality for c in ranked])
        sd = np.array([c.quality_sd for c in ranked])
        exact = probability_of_max(centre, policy.exploration * sd, 0)
        assert d.propensity == pytest.approx(exact, abs=1e-12)  # the default tradeoff: λ = 0
        assert isinstance(d.propensity, float) and 0.0 < d.propensity <= 1.0


def test_a_decision_with_a_deferred_propensity_copies_compares_and_pickles() -> None:
    calls = []

    def later() -> float:
        calls.append(1)
        return 0.25

    cand = (Candidate("a", 0.5, 0.5, 0.1, 0.001, 900.0),)
    d = Decision(
        id="d1", model="a", fallbacks=(), propensity=later, policy="t", prompt_tokens=3,
        candidates=cand,
    )  # fmt: skip
    assert calls == []  # nothing computed until read
    assert d.propensity == 0.25 and d.propensity == 0.25 and calls == [1]  # computed once
    again = Decision(**{**vars(d), "id": "d2"})
    assert again.propensity == 0.25 and again.id == "d2"
    assert pickle.loads(pickle.dumps(d)) == d
    eager = Decision(
        id="d1", model="a", fallbacks=(), propensity=0.25, policy="t", prompt_tokens=3,
        candidates=cand,
    )  # fmt: skip
    assert eager == d and "propensity=0.25" in repr(d)


def _reference_reason(m, c: Constraints, tokens: int, estimate: ArmEstimate) -> str | None:  # type: ignore[no-untyped-def]
    """Every check, none skipped."""
    return (
        _listed_reason(m, c)
        or _lifecycle_reason(m, c, tokens, 1e9)
        or _estimate_reason(estimate, c)
    )


names = st.sets(st.sampled_from([*IDS, "ghost"]), max_size=3)
providers = st.sets(st.sampled_from(sorted({m.provider for m in MODELS})), max_size=2)
capabilities = st.sets(st.sampled_from(["code", "json", "vision", "tools"]), max_size=2)


@settings(max_examples=150, deadline=None)
@given(
    deny=names,
    allow=st.none() | names,
    deny_p=providers,
    allow_p=st.none() | providers,
    caps=capabilities,
    force=st.none() | st.sampled_from(IDS),
    max_cost=st.none() | st.floats(0, 0.01),
    min_quality=st.none() | st.floats(0, 1),
    tokens=st.integers(0, 300_000),
)
def test_skipping_checks_for_unset_constraints_never_changes_the_split(
    deny, allow, deny_p, allow_p, caps, force, max_cost, min_quality, tokens
) -> None:  # type: ignore[no-untyped-def]
    c = Constraints(
        deny_models=deny, allow_models=allow, deny_providers=deny_p, allow_providers=allow_p,
        capabilities=caps, force_model=force, max_cost_usd=max_cost, min_quality=min_quality,
    )  # fmt: skip
    rng = np.random.default_rng(tokens)
    estimates = {
        m: ArmEstimate(float(rng.random() * 0.01), 900.0, float(rng.random())) for m in IDS
    }
    feasible, reasons = split_feasible(MODELS, c, tokens, estimates, now=1e9)
    for m in MODELS:
        expected = _reference_reason(m, c, tokens, estimates[m.id])
        assert reasons.get(m.id) == expected
        assert (m in feasible) == (expected is None)


def test_estimates_are_not_needed_when_no_limit_is_set() -> None:
    feasible, reasons = split_feasible(MODELS, Constraints(deny_models={IDS[0]}), 10, {}, now=0)
    assert [m.id for m in feasible] == IDS[1:] and list(reasons) == [IDS[0]]


def test_cost_estimates_follow_a_price_change() -> None:
    registry = Registry.load(example_registry_path())
    estimator, x = CallEstimator(), np.ones(4)
    before = estimator.costs_usd(list(registry), 1000, x, 0)
    registry.update(IDS[0], input_usd_per_mtok=registry[IDS[0]].input_usd_per_mtok * 10 + 1)
    after = estimator.costs_usd(list(registry), 1000, x, 0)
    assert after[0] > before[0] and np.array_equal(after[1:], before[1:])
