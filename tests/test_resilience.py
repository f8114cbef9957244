"""Retry back-off, circuit breaker, rate limiter and budgets of the gateway, on fake clocks."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput
from banditroute.gateway.breaker import BreakerStatus, CircuitBreaker
from banditroute.gateway.budget import Budget, BudgetAlert, BudgetBook, Reservation
from banditroute.gateway.ratelimit import RateLimiter, RateLimitStatus
from banditroute.gateway.retry import RetryPolicy, fits


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Err:
    retryable: bool = True
    retry_after_s: float | None = None


def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# -- retry ----------------------------------------------------------------------------------------


def test_retry_defaults_and_validation() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay_s, policy.max_delay_s) == (2, 0.2, 5.0)
    assert (policy.jitter, policy.max_retry_after_s) == (0.5, 30.0)
    with pytest.raises(InvalidInput, match="max_delay_s"):
        RetryPolicy(base_delay_s=2.0, max_delay_s=1.0)
    with pytest.raises(InvalidInput, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidInput, match="jitter"):
        RetryPolicy(jitter=1.5)
    with pytest.raises(InvalidInput, match="attempt == 0"):
        policy.delay(0, Err(), rng())


def test_should_retry_only_retryable_errors_with_attempts_left() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, Err()) and policy.should_retry(2, Err())
    assert not policy.should_retry(3, Err())
    assert not policy.should_retry(1, Err(retryable=False))
    assert policy.should_retry(1, Err(retry_after_s=30.0))
    assert not policy.should_retry(1, Err(retry_after_s=30.5))  # too long: fall back


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens() -> None:
    plain = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=3.0, jitter=0.0)
    assert [plain.delay(a, Err(), rng()) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert plain.delay(10**6, Err(), rng()) == 3.0
    jittery = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=8.0, jitter=0.5)
    gen = rng()
    draws = [jittery.delay(3, Err(), gen) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in draws) and len(set(draws)) > 100
    again = rng()
    assert draws[:5] == [jittery.delay(3, Err(), again) for _ in range(5)]  # seeded: repeats


def test_delay_honours_retry_after_and_refuses_permanent_errors() -> None:
    policy = RetryPolicy(jitter=0.0, max_retry_after_s=10.0)
    assert policy.delay(1, Err(retry_after_s=7.5), rng()) == 7.5
    assert policy.delay(1, Err(retry_after_s=0.01), rng()) == 0.2  # back-off is longer
    assert policy.delay(1, Err(retry_after_s=-3.0), rng()) == 0.2
    assert policy.delay(1, Err(retry_after_s=11.0), rng()) == math.inf
    assert policy.delay(1, Err(retryable=False), rng()) == math.inf


def test_provider_errors_fit_the_retry_protocol() -> None:
    errors = pytest.importorskip("banditroute.gateway.errors")
    policy = RetryPolicy(jitter=0.0)
    limited = errors.ProviderRateLimited("slow down", model="m", status=429, retry_after_s=2.0)
    assert policy.should_retry(1, limited) and policy.delay(1, limited, rng()) == 2.0
    denied = errors.ProviderAuthError("bad key", model="m", status=401)
    assert not policy.should_retry(1, denied) and policy.delay(1, denied, rng()) == math.inf
    assert policy.should_retry(1, errors.ProviderTimeout("slow", model="m"))


def test_fits_never_sleeps_past_the_deadline() -> None:
    assert fits(1.0, deadline=10.0, now=8.0)
    assert not fits(2.0, deadline=10.0, now=8.0)  # ends exactly at the deadline: no time left
    assert not fits(math.inf, deadline=None, now=0.0)
    assert not fits(-1.0, deadline=10.0, now=0.0)
    assert fits(1e6, deadline=None, now=0.0)
    assert RetryPolicy().fits(0.5, 1.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(0, 5),
    extra=st.floats(0, 60),
    jitter=st.floats(0, 1),
    max_retry_after=st.floats(0, 120),
    attempt=st.integers(1, 200),
    retryable=st.booleans(),
    retry_after=st.none() | st.floats(-5, 300, allow_nan=False),
    seed=st.integers(0, 2**32 - 1),
    now=st.floats(0, 1e6),
    deadline_in=st.floats(-10, 100),
)
def test_retry_delay_properties(
    base: float,
    extra: float,
    jitter: float,
    max_retry_after: float,
    attempt: int,
    retryable: bool,
    retry_after: float | None,
    seed: int,
    now: float,
    deadline_in: float,
) -> None:
    policy = RetryPolicy(
        max_attempts=1000,
        base_delay_s=base,
        max_delay_s=base + extra,
        jitter=jitter,
        max_retry_after_s=max_retry_after,
    )
    error = Err(retryable=retryable, retry_after_s=retry_after)
    delay = policy.delay(attempt, error, np.random.default_rng(seed))
    assert delay >= 0
    too_long = retry_after is not None and retry_after > max_retry_after
    if not retryable or too_long:
        assert delay == math.inf and not policy.should_retry(attempt, error)
    else:
        assert delay <= max(policy.max_delay_s, retry_after or 0.0)
        assert delay >= (retry_after or 0.0)
        assert policy.should_retry(attempt, error)
    deadline = now + deadline_in
    if fits(delay, deadline, now):
        assert now + delay < deadline and math.isfinite(delay)


# -- circuit breaker ------------------------------------------------------------------------------


def test_breaker_opens_after_threshold_failures_within_the_window() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, window_s=10.0, cooldown_s=5.0, clock=clock)
    for _ in range(2):
        breaker.record_failure("m")
        clock.tick(6.0)
    breaker.record_failure("m")  # the first failure left the window 2 s ago
    assert breaker.state("m") == "closed" and breaker.acquire("m")
    breaker.record_failure("m")
    assert breaker.state("m") == "open" and not breaker.acquire("m")
    assert breaker.reason("m") == "cooled down for 5.0 s more after 3 failures in 10 s"
    assert breaker.state("other") == "closed" and breaker.reason("other") is None
    assert breaker.acquire("other")


def test_breaker_half_open_admits_one_probe_and_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, window_s=60.0, cooldown_s=30.0, clock=clock)
    breaker.record_failure("m")
    clock.tick(29.9)
    assert not breaker.due_for_probe("m") and not breaker.acquire("m")
    clock.tick(0.1)
    assert breaker.state("m") == "half_open" and breaker.due_for_probe("m")
    assert breaker.reason("m") is None  # pure read: nothing taken
    assert breaker.reason("m") is None
    assert breaker.acquire("m")
    assert not breaker.acquire("m") and not breaker.due_for_probe("m")
    assert breaker.reason("m") == "half-open: a probe call is in flight"
    breaker.record_success("m")
    assert breaker.state("m") == "closed"
    assert all(breaker.acquire("m") for _ in range(3))


def test_breaker_failed_probe_reopens_with_doubled_capped_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10.0, max_cooldown_s=25.0, clock=clock)
    breaker.record_failure("m")
    cooldowns = []
    for _ in range(3):
        clock.tick(100.0)
        assert breaker.acquire("m")
        breaker.record_failure("m")
        cooldowns.append(breaker.snapshot()[0].cooldown_s)
    assert cooldowns == [20.0, 25.0, 25.0]
    assert breaker.reason("m") == "cooled down for 25.0 s more after a failed probe call " + (
        "(cooldown 25 s)"
    )
    clock.tick(25.0)
    assert breaker.acquire("m")
    breaker.record_success("m")
    breaker.record_failure("m")  # closed again, with the base cooldown
    clock.tick(10.0)
    assert breaker.state("m") == "half_open"


def test_breaker_ignores_outcomes_while_open_and_frees_a_lost_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5.0, probe_timeout_s=20.0, clock=clock)
    breaker.record_failure("m")
    breaker.record_success("m")  # a straggler that started before the breaker opened
    assert breaker.state("m") == "open"
    clock.tick(5.0)
    assert breaker.acquire("m") and not breaker.acquire("m")
    clock.tick(20.0)  # the probe never reported
    assert breaker.acquire("m") and not breaker.acquire("m")


def test_breaker_snapshot_and_reset() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, window_s=60.0, cooldown_s=30.0, clock=clock)
    breaker.record_failure("b")
    breaker.record_failure("a")
    breaker.record_failure("a")
    clock.tick(10.0)
    a, b = breaker.snapshot()
    assert a == BreakerStatus("a", "open", 0, 30.0, 20.0, False, 1)
    assert b == BreakerStatus("b", "closed", 1, 30.0, 0.0, False, 0)
    breaker.reset("a")
    assert breaker.state("a") == "closed" and [s.model for s in breaker.snapshot()] == ["b"]
    breaker.reset()
    assert breaker.snapshot() == []
    with pytest.raises(InvalidInput, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(InvalidInput, match="max_cooldown_s"):
        CircuitBreaker(cooldown_s=10.0, max_cooldown_s=5.0)


def test_breaker_lets_exactly_one_of_many_threads_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=1.0, clock=clock)
    breaker.record_failure("m")
    clock.tick(1.0)
    start = threading.Barrier(8)
    admitted: list[bool] = []

    def worker() -> None:
        start.wait()
        admitted.extend(breaker.acquire("m") for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted.count(True) == 1 and len(admitted) == 400


breaker_ops = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.floats(0, 200)),
        st.tuples(st.sampled_from(["acquire", "success", "failure"]), st.just(0.0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=breaker_ops,
    threshold=st.integers(1, 4),
    window=st.floats(1, 100),
    cooldown=st.floats(1, 50),
)
def test_breaker_state_machine(
    ops: list[tuple[str, float]], threshold: int, window: float, cooldown: float
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        threshold, window, cooldown, max_cooldown_s=4 * cooldown, probe_timeout_s=None, clock=clock
    )
    probe_out = False
    for op, dt in ops:
        before = breaker.state("m")
        if op == "tick":
            clock.tick(dt)
        elif op == "acquire":
            ok = breaker.acquire("m")
            if before == "half_open":
                assert ok != probe_out  # never two probes at once
                probe_out = True
            else:
                assert ok == (before == "closed")
        else:
            (breaker.record_success if op == "success" else breaker.record_failure)("m")
            if before == "half_open":
                assert breaker.state("m") == ("closed" if op == "success" else "open")
            if before == "open":
                assert breaker.state("m") == "open"
            probe_out = False
        assert (breaker.reason("m") is None) == (breaker.state("m") != "open" and not probe_out)
    if not probe_out:
        clock.tick(4 * cooldown)
        if breaker.state("m") == "half_open":
            assert breaker.acquire("m")
    breaker.record_success("m")
    assert breaker.state("m") == "closed" and breaker.acquire("m")


# -- rate limiter ---------------------------------------------------------------------------------


def test_unconfigured_models_are_never_limited() -> None:
    limiter = RateLimiter(clock=FakeClock())
    assert all(limiter.try_acquire("free", 10**7) for _ in range(1000))
    assert limiter.reason("free", 10**9) is None and limiter.snapshot() == []
    limiter.configure("m", requests_per_minute=1, tokens_per_minute=None)
    limiter.configure("m", requests_per_minute=None, tokens_per_minute=None)
    assert all(limiter.try_acquire("m", 5) for _ in range(100))


def test_requests_per_minute_burst_then_rolling_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.configure("m", requests_per_minute=60, tokens_per_minute=None)
    assert sum(limiter.try_acquire("m", 0) for _ in range(100)) == 60
    assert limiter.reason("m", 0) == "rate-limited for 60.0 s (requests_per_minute 60)"
    clock.tick(59.9)  # the bucket has refilled, but 60 calls are still within the last minute
    assert limiter.reason("m", 0) == "rate-limited for 0.1 s (requests_per_minute 60)"
    assert not limiter.try_acquire("m", 0)
    clock.tick(0.1)
    assert sum(limiter.try_acquire("m", 0) for _ in range(100)) == 60


def test_steady_traffic_at_the_rate_is_never_refused() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.configure("m", requests_per_minute=60, tokens_per_minute=6000)
    for _ in range(300):
        assert limiter.reason("m", 100) is None and limiter.try_acquire("m", 100)
        clock.tick(1.0)


def test_tokens_per_minute_and_oversized_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.configure("m", requests_per_minute=None, tokens_per_minute=1000)
    assert limiter.try_acquire("m", 700) and not limiter.try_acquire("m", 400)
    assert limiter.try_acquire("m", 300) and limiter.try_acquire("m", 0)
    assert limiter.reason("m", 1) == "rate-limited for 60.0 s (tokens_per_minute 1000)"
    assert limiter.reason("m", 1001) == "needs 1001 tokens, more than tokens_per_minute 1000"
    clock.tick(1000.0)
    assert not limiter.try_acquire("m", 1001) and limiter.try_acquire("m", 1000)
    with pytest.raises(InvalidInput, match="tokens == -1"):
        limiter.try_acquire("m", -1)
    with pytest.raises(InvalidInput, match="requests_per_minute == 0"):
        limiter.configure("m", requests_per_minute=0, tokens_per_minute=None)


def test_penalize_blocks_until_retry_after_and_recovers_additively() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, decrease=0.5, recovery_per_minute=0.1)
    limiter.configure("m", requests_per_minute=600, tokens_per_minute=None)
    limiter.penalize("m", retry_after_s=5.0)
    limiter.penalize("m", retry_after_s=5.0)  # a burst of concurrent 429s cuts the rate once
    (status,) = limiter.snapshot()
    assert status.rate_factor == 0.5 and status.blocked_for_s == 5.0
    assert status.requests_available == 0.0
    reason = limiter.reason("m", 0)
    assert reason == (  # Retry-After, then 0.2 s to refill one request at the halved rate
        "rate-limited for 5.2 s (requests_per_minute 600, reduced to 300 after a 429)"
    )
    clock.tick(5.0)
    assert not limiter.try_acquire("m", 0)  # the bucket refills only after the Retry-After
    clock.tick(60.0)
    admitted = sum(limiter.try_acquire("m", 0) for _ in range(1000))
    assert 300 <= admitted <= 370  # about half the rate, plus the recovery of the last minute
    clock.tick(5 * 60.0)
    assert limiter.snapshot()[0].rate_factor == 1.0
    clock.tick(60.0)
    assert sum(limiter.try_acquire("m", 0) for _ in range(1000)) == 600


def test_penalize_holds_back_an_unconfigured_model_until_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.penalize("free", retry_after_s=2.0)
    assert not limiter.try_acquire("free", 1)
    assert limiter.snapshot() == [RateLimitStatus("free", None, None, 0.5, None, None, 2.0)]
    clock.tick(2.0)
    assert limiter.try_acquire("free", 1) and limiter.try_acquire("free", 1)


def test_rate_limiter_threads_never_overshoot() -> None:
    limiter = RateLimiter(clock=FakeClock())
    limiter.configure("m", requests_per_minute=100, tokens_per_minute=None)
    counts: list[int] = []

    def worker() -> None:
        counts.append(sum(limiter.try_acquire("m", 1) for _ in range(100)))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 100


limiter_ops = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.floats(0, 0.5), st.floats(0, 70)),
        st.integers(0, 60),
        st.sampled_from(["acquire"] * 6 + ["penalize"]),
        st.none() | st.floats(0, 20),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=limiter_ops, rpm=st.integers(1, 15), tpm=st.none() | st.integers(60, 300))
def test_rate_limiter_never_admits_more_than_capacity_in_any_minute(
    ops: list[tuple[float, int, str, float | None]], rpm: int, tpm: int | None
) -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(clock=clock)
    limiter.configure("m", requests_per_minute=rpm, tokens_per_minute=tpm)
    admitted: list[tuple[float, int]] = []
    for dt, tokens, op, retry_after in ops:
        clock.tick(dt)
        if op == "penalize":
            limiter.penalize("m", retry_after)
            continue
        allowed = limiter.reason("m", tokens) is None
        assert limiter.try_acquire("m", tokens) == allowed
        if allowed:
            admitted.append((clock.now, tokens))
    for t, _ in admitted:
        inside = [n for s, n in admitted if t - 60.0 < s <= t]
        assert len(inside) <= rpm
        assert tpm is None or sum(inside) <= tpm


# -- budgets --------------------------------------------------------------------------------------

DAY = 86_400.0
MAY_3 = datetime(2024, 5, 3, 12, tzinfo=UTC).timestamp()


def test_budget_validation() -> None:
    with pytest.raises(InvalidInput, match="limit_usd"):
        Budget(name="x", limit_usd=0, period="day")
    with pytest.raises(InvalidInput, match="tags"):
        Budget(name="x", limit_usd=1, period="day", tags="team-a")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="period"):
        Budget(name="x", limit_usd=1, period="week")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="alert"):
        Budget(name="x", limit_usd=1, period="day", alert_at=(0.5, -1.0))
    assert Budget(name="x", limit_usd=1, period="day", alert_at=(1.0, 0.5, 1.0)).alert_at == (
        0.5,
        1.0,
    )
    one = Budget(name="x", limit_usd=1, period="day")
    with pytest.raises(InvalidInput, match="distinct names"):
        BudgetBook([one, one])
    with pytest.raises(InvalidInput, match="estimated_cost_usd"):
        BudgetBook([one]).reserve(set(), -0.1)
    with pytest.raises(InvalidInput, match="tags"):
        BudgetBook([one]).reason("team-a", 0.1)


def test_budget_applies_to_requests_carrying_all_its_tags() -> None:
    everyone = Budget(name="all", limit_usd=100, period="total")
    team = Budget(name="team", limit_usd=1, period="total", tags={"team-a", "prod"})
    book = BudgetBook([everyone, team], clock=lambda: MAY_3)
    only_all = book.reserve({"team-a"}, 0.1)
    both = book.reserve({"team-a", "prod", "x"}, 0.1)
    assert only_all is not None and only_all.budgets == ("all",)
    assert both is not None and both.budgets == ("all", "team")
    assert [s.reserved_usd for s in book.status()] == pytest.approx([0.2, 0.1])


def test_hard_stop_counts_in_flight_reservations() -> None:
    book = BudgetBook([Budget(name="daily", limit_usd=1.0, period="day")], clock=lambda: MAY_3)
    first = book.reserve(set(), 0.6)
    second = book.reserve(set(), 0.6)  # 0.6 < 1: admitted, overshoot at most one call
    assert first is not None and second is not None
    assert book.reserve(set(), 0.01) is None
    assert book.reason(set(), 0.01) == (
        "budget daily is used up: spent 0 USD + 1.2 USD reserved of 1 USD "
        "(period from 2024-05-03 UTC)"
    )
    book.settle(first, 0.0)  # a failed call costs nothing
    assert book.reason(set(), 0.01) is None
    book.settle(second, 0.5)
    (status,) = book.status()
    assert (status.spent_usd, status.reserved_usd, status.fraction) == (0.5, 0.0, 0.5)
    assert status.period_start == datetime(2024, 5, 3, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="open reservation"):
        book.settle(second, 0.5)
    with pytest.raises(InvalidInput, match="open reservation"):
        book.settle(Reservation(id=99, budgets=("daily",), estimated_cost_usd=1.0), 0.5)


def test_soft_budget_only_alerts(caplog: pytest.LogCaptureFixture) -> None:
    alerts: list[BudgetAlert] = []
    soft = Budget(name="soft", limit_usd=1.0, period="total", hard_stop=False)
    book = BudgetBook([soft], on_alert=alerts.append, clock=lambda: MAY_3)
    with caplog.at_level(logging.WARNING, logger="banditroute.budget"):
        for _ in range(3):
            reservation = book.reserve(set(), 1.0)
            assert reservation is not None
            book.settle(reservation, 0.45)
    assert book.reason(set(), 1.0) is None
    assert [a.threshold for a in alerts] == [0.5, 0.8, 1.0]  # each once
    assert str(alerts[0]) == "budget soft reached 50% of 1 USD: spent 0.9 USD (in total)"
    assert [r.getMessage() for r in caplog.records] == [str(a) for a in alerts]


def test_new_utc_day_and_month_start_from_zero() -> None:
    clock = FakeClock(datetime(2024, 5, 31, 23, 59, tzinfo=UTC).timestamp())
    alerts: list[BudgetAlert] = []
    daily = Budget(name="daily", limit_usd=1.0, period="day", alert_at=(0.5,))
    monthly = Budget(name="monthly", limit_usd=10.0, period="month", alert_at=(0.05,))
    book = BudgetBook([daily, monthly], on_alert=alerts.append, clock=clock)
    held = book.reserve(set(), 0.5)
    in_flight = book.reserve(set(), 0.3)  # admitted in May, settled in June
    assert held is not None and in_flight is not None
    book.settle(held, 1.0)
    assert book.reason(set(), 0.1) is not None
    clock.tick(120.0)  # 2024-06-01 00:01 UTC
    assert book.reason(set(), 0.1) is None
    daily_status, monthly_status = book.status()
    assert daily_status.spent_usd == 0.0 and daily_status.reserved_usd == pytest.approx(0.3)
    assert monthly_status.period_start == datetime(2024, 6, 1, tzinfo=UTC)
    book.settle(in_flight, 0.6)
    assert [(a.budget, a.period_start) for a in alerts] == [
        ("daily", datetime(2024, 5, 31, tzinfo=UTC)),
        ("monthly", datetime(2024, 5, 1, tzinfo=UTC)),
        ("daily", datetime(2024, 6, 1, tzinfo=UTC)),
        ("monthly", datetime(2024, 6, 1, tzinfo=UTC)),
    ]
    assert [s.spent_usd for s in book.status()] == [0.6, 0.6]


def test_a_failing_alert_callback_does_not_lose_the_spend(caplog: pytest.LogCaptureFixture) -> None:
    def broken(alert: BudgetAlert) -> None:
        raise RuntimeError("pager down")

    book = BudgetBook([Budget(name="b", limit_usd=1, period="total")], on_alert=broken)
    reservation = book.reserve(set(), 0.1)
    assert reservation is not None
    with caplog.at_level(logging.WARNING, logger="banditroute.budget"):
        book.settle(reservation, 0.9)
    assert book.status()[0].spent_usd == 0.9
    assert any("on_alert failed" in r.getMessage() for r in caplog.records)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.floats(0.01, 10),
    max_cost=st.floats(0.001, 2),
    calls=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=80),
)
def test_sequential_spend_overshoots_by_at_most_one_call(
    limit: float, max_cost: float, calls: list[tuple[float, float]]
) -> None:
    book = BudgetBook([Budget(name="b", limit_usd=limit, period="total")])
    for estimate, actual in calls:  # estimates need not bound the actual cost here
        reservation = book.reserve({"t"}, estimate * max_cost)
        if reservation is not None:
            book.settle(reservation, actual * max_cost)
    (status,) = book.status()
    assert status.spent_usd <= limit + max_cost and status.reserved_usd == 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit_in_calls=st.floats(1, 20),
    max_cost=st.floats(0.001, 1),
    seed=st.integers(0, 2**32 - 1),
    in_flight=st.integers(1, 4),
)
def test_concurrent_spend_overshoots_by_at_most_one_call(
    limit_in_calls: float, max_cost: float, seed: int, in_flight: int
) -> None:
    limit = limit_in_calls * max_cost
    hard = Budget(name="hard", limit_usd=limit, period="day", tags={"a"})
    watch = Budget(name="watch", limit_usd=limit, period="month", hard_stop=False)
    book = BudgetBook([hard, watch], clock=lambda: MAY_3)
    start = threading.Barrier(4)

    def worker(index: int) -> None:
        gen = np.random.default_rng([seed, index])
        start.wait()
        for _ in range(40):
            held = []
            for _ in range(in_flight):
                estimate = float(gen.uniform(0, max_cost))
                reservation = book.reserve({"a", "b"}, estimate)
                if reservation is not None:
                    held.append(reservation)
            for reservation in held:  # actual ≤ estimate ≤ max_cost
                book.settle(reservation, float(gen.uniform(0, reservation.estimated_cost_usd)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hard_status, watch_status = book.status()
    assert hard_status.spent_usd <= limit + max_cost + 1e-12
    assert hard_status.reserved_usd == pytest.approx(0.0, abs=1e-9)
    assert watch_status.spent_usd == pytest.approx(hard_status.spent_usd)
