"""CostPacer: the dual step, the hard guard, budgets, thread safety and a pacing property."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput
from banditroute.gateway.pacing import CostPacer, PacerStatus
from banditroute.reward import Tradeoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_usd_per_request": 0.0},
        {"target_usd_per_request": -1.0},
        {"target_usd_per_request": float("nan")},
        {"target_usd_per_request": "0.1"},
        {"target_usd_per_request": 0.1, "step": 0.0},
        {"target_usd_per_request": 0.1, "initial_cost_weight": -1.0},
        {"target_usd_per_request": 0.1, "max_penalty": 0.0},
        {"target_usd_per_request": 0.1, "budget_usd": 5.0},
        {"target_usd_per_request": 0.1, "period_s": 60.0},
        {"target_usd_per_request": 0.1, "budget_usd": 5.0, "period_s": 60.0, "n_requests": 9},
        {"target_usd_per_request": 0.1, "budget_usd": 5.0, "n_requests": 0},
        {"target_usd_per_request": 0.1, "budget_usd": 5.0, "n_requests": 2.5},
        {"target_usd_per_request": 0.1, "clock": 3.0},
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        CostPacer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [-0.1, float("nan"), float("inf"), None])
def test_rejects_bad_costs(cost: object) -> None:
    pacer = CostPacer(0.01)
    with pytest.raises(InvalidInput, match="cost_usd"):
        pacer.observe(cost)  # type: ignore[arg-type]
    assert pacer.status().requests == 0


def test_dual_step_moves_lambda_with_spend_and_stops_at_zero() -> None:
    pacer = CostPacer(0.002, step=0.01, initial_cost_weight=5.0)
    assert pacer.cost_weight == pytest.approx(5.0)
    pacer.observe(0.006)  # twice the target too much: u += 0.02, λ += 0.02 / 0.002
    assert pacer.cost_weight == pytest.approx(15.0)
    for _ in range(3):
        pacer.observe(0.0)  # each cheap request: u -= 0.01
    assert pacer.cost_weight == pytest.approx(0.0)
    for _ in range(50):
        pacer.observe(0.0)
    assert pacer.cost_weight == 0.0  # never negative, and underspend is not banked in λ
    pacer.observe(0.004)
    assert pacer.cost_weight == pytest.approx(5.0)


def test_cost_weight_is_capped_by_max_penalty() -> None:
    pacer = CostPacer(0.01, step=1.0, max_penalty=2.0, guard_margin=1e9)
    for _ in range(10):
        pacer.observe(0.1)
    assert pacer.cost_weight == pytest.approx(2.0 / 0.01)


def test_guard_engages_freezes_the_dual_and_releases_when_spend_is_back() -> None:
    pacer = CostPacer(1.0, step=0.01, guard_margin=5.0, guard_tolerance=0.0, credit=0.0)
    for _ in range(5):
        pacer.observe(2.0)  # debt 5 targets: at the margin, not above
    assert not pacer.status().guard_engaged
    assert pacer.cost_weight == pytest.approx(0.05)
    pacer.observe(2.0)
    status = pacer.status()
    assert status.guard_engaged and status.debt_targets == pytest.approx(6.0)
    assert status.cost_weight == pytest.approx(10.0)  # max_penalty / target
    pacer.observe(0.0)  # guarded: the debt falls, the dual does not move
    status = pacer.status()
    assert not status.guard_engaged and status.debt_targets == pytest.approx(5.0)
    assert status.cost_weight == pytest.approx(0.06)  # the six overspends before the guard
    pacer.observe(0.0)  # released: the dual moves again
    assert pacer.cost_weight == pytest.approx(0.05)


def test_a_dear_request_is_paid_back_once() -> None:
    pacer = CostPacer(1.0, step=0.01, guard_margin=5.0, guard_tolerance=0.0, credit=0.0)
    for _ in range(5):
        pacer.observe(2.0)
    pacer.observe(21.0)  # 20 targets over in one request: u jumps by 0.2, the guard engages
    assert pacer.status().guard_engaged
    for _ in range(20):
        pacer.observe(0.0)  # the guard pays 20 targets back; λ comes down with them...
    status = pacer.status()
    assert not status.guard_engaged and status.debt_targets == pytest.approx(5.0)
    assert status.cost_weight == pytest.approx(0.10)  # ...but keeps 5 targets of the excess
    for _ in range(5):
        pacer.observe(0.0)
    assert pacer.cost_weight == pytest.approx(0.05)  # as before the dear request
    assert pacer.status().debt_targets == pytest.approx(0.0)


def test_credit_limits_banked_underspend() -> None:
    pacer = CostPacer(1.0, guard_margin=2.0, guard_tolerance=0.0, credit=3.0)
    for _ in range(100):
        pacer.observe(0.0)
    assert pacer.status().debt_targets == -3.0
    for _ in range(5):
        pacer.observe(2.0)  # -3 + 5 = 2: still within the margin
    assert not pacer.status().guard_engaged
    pacer.observe(2.0)
    assert pacer.status().guard_engaged


def test_guard_margin_grows_with_requests() -> None:
    pacer = CostPacer(1.0, guard_margin=1.0, guard_tolerance=0.01, credit=0.0)
    for _ in range(1000):
        pacer.observe(1.0)
    for _ in range(9):
        pacer.observe(2.0)  # 9 targets over, tolerance 1% of 1009 requests
    assert not pacer.status().guard_engaged
    pacer.observe(3.0)
    assert pacer.status().guard_engaged


def test_status_reports_spend() -> None:
    pacer = CostPacer(0.5)
    assert pacer.status() == PacerStatus(
        ceiling_usd_per_request=0.5,
        target_usd_per_request=0.5,
        realised_mean_usd=0.0,
        cost_weight=0.0,
        requests=0,
        spend_usd=0.0,
        debt_targets=0.0,
        guard_engaged=False,
        budget_remaining_usd=None,
    )
    for cost in (0.25, 0.5, 0.75, 1.5):
        pacer.observe(cost)
    status = pacer.status()
    assert (status.requests, status.spend_usd, status.realised_mean_usd) == (4, 3.0, 0.75)
    assert status.debt_targets == pytest.approx(2.0)


def test_tradeoff_keeps_the_latency_weight() -> None:
    pacer = CostPacer(0.01, initial_cost_weight=3.0)
    assert pacer.tradeoff(Tradeoff(cost_weight=99.0, latency_weight=0.002)) == Tradeoff(
        cost_weight=3.0, latency_weight=0.002
    )
    assert pacer.tradeoff() == Tradeoff(cost_weight=3.0)


def test_budget_over_n_requests_spreads_what_remains() -> None:
    pacer = CostPacer(1.0, budget_usd=10.0, n_requests=20)
    assert pacer.status().target_usd_per_request == pytest.approx(0.5)
    for _ in range(10):
        pacer.observe(0.9)  # 9 of 10 USD gone, 10 requests to go
    status = pacer.status()
    assert status.target_usd_per_request == pytest.approx(0.1)
    assert status.budget_remaining_usd == pytest.approx(1.0)
    for _ in range(10):
        pacer.observe(0.0)
    status = pacer.status()  # a new period: the whole budget again
    assert status.budget_remaining_usd == 10.0 and status.target_usd_per_request == 0.5


def test_spent_budget_engages_the_guard() -> None:
    pacer = CostPacer(1.0, budget_usd=2.0, n_requests=10, guard_margin=1e9)
    pacer.observe(2.5)
    status = pacer.status()
    assert status.guard_engaged and status.target_usd_per_request == pytest.approx(0.01)
    assert status.cost_weight == pytest.approx(10.0 / 0.01)


def test_budget_over_a_period_uses_the_request_rate() -> None:
    clock = FakeClock()
    pacer = CostPacer(10.0, budget_usd=100.0, period_s=100.0, clock=clock)
    assert pacer.status().target_usd_per_request == 10.0  # no traffic seen: the ceiling
    clock.now += 10.0
    for _ in range(20):
        pacer.observe(0.5)  # 2 requests/s; 90 USD left for ~180 requests
    assert pacer.status().target_usd_per_request == pytest.approx(0.5)
    clock.now += 95.0  # next period: the budget is back, the last period's rate is known
    status = pacer.status()
    assert status.budget_remaining_usd == 100.0
    assert status.target_usd_per_request == pytest.approx(100.0 / (0.2 * 95.0))
    clock.now += 1000.0  # idle periods: no rate to go by, the ceiling applies
    assert pacer.status().target_usd_per_request == 10.0


def test_concurrent_observations_are_all_counted() -> None:
    pacer = CostPacer(0.001)

    def work() -> None:
        for _ in range(2000):
            pacer.observe(0.001)
            _ = pacer.cost_weight

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    status = pacer.status()
    assert status.requests == 8000
    assert status.spend_usd == pytest.approx(8.0)


def simulate(pacer: CostPacer, quality: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """A router picking argmax(quality − λ·cost) per request; returns the costs it paid."""
    paid = np.empty(len(cost))
    for i in range(len(cost)):
        j = int(np.argmax(quality[i] - pacer.cost_weight * cost[i]))
        paid[i] = cost[i, j]
        pacer.observe(paid[i])
    return paid


def workload(seed: int, n: int, k: int, target: float, spread: float, pattern: str) -> tuple:
    """Per-request options: option 0 costs at most half the target; the others up to
    ``spread`` targets, better on average; costs follow ``pattern`` over time."""
    rng = np.random.default_rng(seed)
    cost = target * spread * rng.uniform(0.0, 1.0, size=(n, k)) ** rng.uniform(0.5, 3.0, size=k)
    if pattern == "drift":
        cost *= np.linspace(0.2, 3.0, n)[:, None]
    elif pattern == "bursts":
        cost *= np.where(rng.random(n) < 0.05, 20.0, 1.0)[:, None]
    cost[:, 0] = target * rng.uniform(0.0, 0.5, size=n)
    quality = np.clip(rng.uniform(0.0, 1.0, size=(n, k)) + np.arange(k) * 0.1, 0.0, 1.0)
    return quality, cost


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(500, 2000),
    k=st.integers(2, 5),
    target=st.floats(1e-6, 10.0),
    spread=st.floats(1.0, 500.0),
    pattern=st.sampled_from(["iid", "drift", "bursts"]),
    step=st.floats(1e-4, 0.1),
)
def test_realised_mean_ends_within_one_percent_of_the_target(
    seed: int, n: int, k: int, target: float, spread: float, pattern: str, step: float
) -> None:
    quality, cost = workload(seed, n, k, target, spread, pattern)
    pacer = CostPacer(target, step=step, guard_margin=0.01 * n / 2)
    paid = simulate(pacer, quality, cost)
    assert paid.mean() <= target * 1.01 + cost.max() / n


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pattern=st.sampled_from(["iid", "drift", "bursts"]))
def test_defaults_end_within_one_percent_over_a_long_run(seed: int, pattern: str) -> None:
    quality, cost = workload(seed, 6000, 3, 0.001, 50.0, pattern)
    paid = simulate(CostPacer(0.001), quality, cost)
    assert paid.mean() <= 0.001 * 1.01 + cost.max() / 6000


def test_spends_up_to_the_target_when_quality_pays() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    cost = np.column_stack([rng.uniform(0.0, 0.4, n), rng.uniform(2.0, 4.0, n)]) * 1e-3
    quality = np.column_stack([rng.uniform(0.3, 0.6, n), rng.uniform(0.6, 1.0, n)])
    pacer = CostPacer(1e-3)
    paid = simulate(pacer, quality, cost)
    assert 0.98e-3 <= paid[1000:].mean() <= 1.01e-3  # tracks the ceiling once λ has settled
    assert 0.0 < pacer.cost_weight < 10.0 / 1e-3


def test_lambda_ratchets_up_across_guard_episodes_when_spend_creeps() -> None:
    rng = np.random.default_rng(1)
    n = 6000  # close costs, wide quality gaps: λ must reach ~0.8 per target
    cost = np.column_stack([rng.uniform(0.7, 0.9, n), rng.uniform(1.1, 1.4, n)])
    quality = np.column_stack([rng.uniform(0.0, 0.5, n), rng.uniform(0.2, 1.0, n)])
    pacer = CostPacer(1.0)
    paid = simulate(pacer, quality, cost)
    # far above what step · (guard_margin + credit) = 0.12 could hold if each guard episode
    # undid the rise that led to it
    assert pacer.cost_weight > 0.5
    assert 0.98 <= paid[n // 2 :].mean() <= 1.01
