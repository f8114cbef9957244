from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from banditroute import (
    Constraints,
    DriftMonitor,
    Engine,
    HashingEmbedder,
    InvalidInput,
    LinearThompsonSampling,
)
from tests.conftest import make_model


def run_stream(engine: Engine, rounds: int, quality_of, latency_of=None, seed: int = 0):
    rng = np.random.default_rng(seed)
    picks = []
    for step in range(rounds):
        d = engine.choose(f"summarise report number {step % 13}")
        q = float(np.clip(quality_of(step, d.model) + rng.normal(0, 0.05), 0, 1))
        latency = None if latency_of is None else latency_of(step, d.model)
        engine.feedback(d, quality=q, latency_ms=latency)
        picks.append(d.model)
    return picks


def two_models(**kwargs) -> Engine:
    models = [make_model("best"), make_model("other")]
    return Engine(models, embedder=HashingEmbedder(dim=32), seed=0, **kwargs)


def test_a_degraded_model_is_detected_reset_and_loses_its_traffic() -> None:
    engine = two_models(drift=DriftMonitor())

    def quality(step: int, model: str) -> float:
        if model == "best":
            return 0.9 if step < 400 else 0.3
        return 0.6

    picks = run_stream(engine, 900, quality)
    events = [e for e in engine.drift_events if e.signal == "quality"]
    assert events and events[0].model == "best" and events[0].step > 300
    assert events[0].mean_after < events[0].mean_before
    assert picks[-200:].count("other") > 180
    assert picks[200:400].count("best") > 180  # before the change it had the traffic


def test_without_drift_handling_nothing_is_reported() -> None:
    engine = two_models()
    run_stream(engine, 300, lambda s, m: 0.8 if m == "best" else 0.5)
    assert engine.drift_events == []


def test_a_stationary_stream_gives_no_false_resets() -> None:
    engine = two_models(drift=DriftMonitor())
    run_stream(engine, 2000, lambda s, m: 0.8 if m == "best" else 0.5)
    assert engine.drift_events == []


def test_latency_drift_updates_the_estimate() -> None:
    engine = two_models(drift=DriftMonitor(signals=("latency",)))
    run_stream(
        engine,
        600,
        lambda s, m: 0.8 if m == "best" else 0.5,
        latency_of=lambda s, m: 500.0 if s < 300 else 3000.0,
    )
    event = next(e for e in engine.drift_events if e.signal == "latency")
    assert event.mean_after > 2000
    assert engine.estimator.latencies_ms([engine.registry["best"]])[0] > 2000
    d = engine.choose("summarise", Constraints(max_latency_ms=1000))
    assert d.model == "other"


def test_shrink_keeps_the_mean_and_widens_the_posterior() -> None:
    policy = LinearThompsonSampling(seed=0)
    x = np.r_[1.0, 0.2]
    for _ in range(50):
        policy.update("a", x, 0.9)
    mean, sd = policy.posterior(x, ["a"])
    policy.soften_arm("a", 0.05)
    mean2, sd2 = policy.posterior(x, ["a"])
    assert mean2[0] == pytest.approx(mean[0]) and sd2[0] > 3 * sd[0]


def test_discounting_follows_a_changing_model() -> None:
    x = np.r_[1.0, 0.0]
    forgetful, stubborn = LinearThompsonSampling(discount=0.98), LinearThompsonSampling()
    for policy in (forgetful, stubborn):
        for step in range(600):
            policy.update("a", x, 0.9 if step < 300 else 0.3)
    assert forgetful.posterior(x, ["a"])[0][0] < 0.35 < stubborn.posterior(x, ["a"])[0][0]


def test_drift_events_and_settings_survive_save_and_load(tmp_path: Path) -> None:
    engine = two_models(drift=DriftMonitor(response="shrink"))
    run_stream(engine, 900, lambda s, m: (0.9 if s < 400 else 0.3) if m == "best" else 0.6)
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    assert loaded.drift is not None and loaded.drift.response == "shrink"
    assert loaded.drift_events == engine.drift_events and loaded.feedback_count == 900


def test_bad_settings() -> None:
    with pytest.raises(InvalidInput, match="detector"):
        DriftMonitor(detector="magic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="signals"):
        DriftMonitor(signals=("mood",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="discount"):
        LinearThompsonSampling(discount=0)


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley", "kswin"])
def test_every_detector_finds_a_large_drop(detector: str) -> None:
    monitor = DriftMonitor(detector=detector)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    events = []
    for step in range(1500):
        residual = (0.0 if step < 700 else -0.6) + rng.normal(0, 0.1)
        events += monitor.observe("m", step, residual=residual)
    assert events and events[0].step >= 700


def test_a_restored_model_is_probed_and_wins_its_traffic_back() -> None:
    engine = two_models(drift=DriftMonitor(probe_every=20))

    def quality(step: int, model: str) -> float:
        if model == "best":
            return 0.3 if 400 <= step < 900 else 0.9
        return 0.6

    picks = run_stream(engine, 1700, quality)
    drops = [e for e in engine.drift_events if e.mean_after < e.mean_before]
    rises = [e for e in engine.drift_events if e.mean_after > e.mean_before]
    assert drops and 400 < drops[0].step < 600
    assert rises and 900 < rises[0].step < 1300  # seen by the probes after the restoration
    assert picks[700:900].count("best") <= 20  # degraded: only the probes go there
    assert picks[-200:].count("best") > 150  # restored and relearned: traffic back


def test_probes_are_scheduled_marked_and_do_not_move_the_posterior() -> None:
    engine = two_models(drift=DriftMonitor(probe_every=5))
    run_stream(engine, 600, lambda step, m: (0.9 if step < 300 else 0.2) if m == "best" else 0.6)
    assert any(e.model == "best" for e in engine.drift_events)
    probes = []
    for step in range(40):
        d = engine.choose(f"summarise report number {step % 13}")
        if d.policy.endswith("+probe"):
            probes.append(step)
            assert d.model == "best" and d.propensity == 1.0
            x = engine.context.build(engine.embedder.embed_one("summarise report number 0"), 5)
            before = engine.policy.posterior(x, ["best"])
            engine.feedback(d, quality=0.2)  # still degraded: no recovery, no reset
            assert engine.policy.posterior(x, ["best"])[0] == pytest.approx(before[0])
        else:
            engine.feedback(d, quality=0.6)
    assert len(probes) >= 7 and set(np.diff(probes)) == {5}


def test_the_recovery_test_fires_on_a_rise_only() -> None:
    from banditroute.drift import DriftEvent

    rng = np.random.default_rng(0)
    for shift, expect in ((0.0, False), (0.45, True)):
        monitor = DriftMonitor(probe_every=1)
        monitor.start_probation(DriftEvent("m", "quality", 1, 0.0, -0.45))
        fired = [monitor.probe_result("m", k, shift + rng.normal(0, 0.3)) for k in range(200)]
        assert any(e is not None for e in fired) is expect


def _restored_quality(drop_at: int, back_at: int):
    def quality(step: int, model: str) -> float:
        if model == "best":
            return 0.3 if drop_at <= step < back_at else 0.9
        return 0.6

    return quality


def test_a_model_restored_long_after_its_drop_is_seen_and_wins_its_traffic_back() -> None:
    engine = two_models(drift=DriftMonitor(probe_every=25))  # probation until the recovery
    picks = run_stream(engine, 2100, _restored_quality(300, 1600))
    rises = [e for e in engine.drift_events if e.mean_after > e.mean_before]
    assert rises and 1600 < rises[0].step < 1700
    assert picks[1200:1600].count("best") <= 20  # degraded: only the probes went there
    assert picks[-200:].count("best") > 180


def test_a_probation_that_ends_misses_a_late_restoration() -> None:
    earlier = DriftMonitor(probe_every=20, probation=1000, recovery="reset")
    engine = two_models(drift=earlier)
    picks = run_stream(engine, 2100, _restored_quality(300, 1600))
    assert not [e for e in engine.drift_events if e.mean_after > e.mean_before]
    assert picks[-200:].count("best") < 20


@pytest.mark.parametrize("recovery", ["restore", "reset"])
def test_on_recovery_the_former_posterior_is_given_back(recovery: str) -> None:
    engine = two_models(drift=DriftMonitor(probe_every=5, recovery=recovery))  # type: ignore[arg-type]
    x = engine.context.build(engine.embedder.embed_one("summarise report number 0"), 5)
    quality = _restored_quality(300, 700)
    rng = np.random.default_rng(0)
    former = None
    for step in range(1200):
        d = engine.choose(f"summarise report number {step % 13}")
        engine.feedback(
            d, quality=float(np.clip(quality(step, d.model) + rng.normal(0, 0.05), 0, 1))
        )
        if step == 299:
            former = engine.policy.posterior(x, ["best"])
        if any(e.mean_after > e.mean_before for e in engine.drift_events):
            break
    assert former is not None and 700 < step < 800  # the recovery was seen
    mean, sd = engine.policy.posterior(x, ["best"])
    if recovery == "restore":  # what it knew before the drop (and a few degraded outcomes)
        assert mean[0] > 0.75 and sd[0] < 3 * former[1][0]
    else:  # back to the prior: uninformed
        assert abs(mean[0] - 0.5) < 0.1 and sd[0] > 10 * former[1][0]


def test_probes_are_judged_against_the_former_level() -> None:
    from banditroute.probation import PreDrift

    x = np.r_[1.0, 0.3, -0.2]
    for policy in (LinearThompsonSampling(seed=0), LinearThompsonSampling(common_part=True)):
        for _ in range(200):
            policy.update("a", x, 0.9)
            policy.update("b", x, 0.5)
        kept = PreDrift(policy, "a", change=-0.4)
        policy.reset_arm("a")
        predicted = float(policy.posterior(x, ["a"])[0][0])
        assert kept.expected(policy, "a", x, predicted) == pytest.approx(0.5, abs=0.02)
        kept.restore(policy, "a")
        assert policy.posterior(x, ["a"])[0][0] == pytest.approx(0.9, abs=0.02)


def test_the_probe_schedule() -> None:
    from banditroute.probation import ProbationBook

    book = ProbationBook()
    book.start("m", drop=0.4, variance=0.25, probation=None, probe_every=4)
    due = [t for t in range(1, 4001) if book.next_probe(["m"], probe_every=4) == "m"]
    assert due == list(range(4, 4001, 4))  # until the recovery: no end
    book.start("m", drop=0.4, variance=0.25, probation=10, probe_every=4)
    assert [book.next_probe(["m"], 4) for _ in range(12)].count("m") == 2 and "m" not in book
    book.start("m", drop=0.4, variance=0.25, probation=None, probe_every=2)
    assert [book.next_probe(["other"], 2) for _ in range(5)] == [None] * 5  # not feasible
    assert book.next_probe(["m"], 2) == "m"  # overdue: the first time it may be


@pytest.mark.parametrize("variance", [0.01, 0.05, 0.25])
def test_the_recovery_test_is_sized_to_the_residuals_variance(variance: float) -> None:
    from banditroute.probation import Probation

    rng = np.random.default_rng(1)
    sd, shift = np.sqrt(variance), 0.3
    still = Probation(None, 1, shift, variance)
    assert not any(still.update(rng.normal(0, sd)) for _ in range(3000))
    back = Probation(None, 1, shift, variance)
    needed = next(k for k in range(1, 500) if back.update(shift + rng.normal(0, sd)))
    expected = Probation.threshold / (shift**2 / (2 * variance))  # mean steps to the threshold
    assert needed <= 2 * expected + 2  # a smaller variance: fewer probes


def test_no_false_reset_on_an_unchanged_binary_stream() -> None:
    engine = two_models(drift=DriftMonitor())
    rng = np.random.default_rng(3)
    for step in range(3000):
        d = engine.choose(f"summarise report number {step % 13}")
        engine.feedback(d, quality=float(rng.random() < (0.8 if d.model == "best" else 0.5)))
    assert engine.drift_events == []


def test_probation_settings_are_checked_and_saved(tmp_path: Path) -> None:
    for bad in ({"probation": -1}, {"recovery": "magic"}, {"probe_every": -1}):
        with pytest.raises(InvalidInput, match=next(iter(bad))):
            DriftMonitor(**bad)  # type: ignore[arg-type]
    engine = two_models(drift=DriftMonitor(probation=0, recovery="reset", probe_every=7))
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path).drift
    assert loaded is not None and (loaded.probation, loaded.recovery) == (0, "reset")
    assert loaded.probe_every == 7


def test_a_removed_model_leaves_probation() -> None:
    engine = Engine(
        [make_model("best"), make_model("other"), make_model("third")],
        embedder=HashingEmbedder(dim=32),
        seed=0,
        drift=DriftMonitor(probe_every=3),
    )
    run_stream(engine, 600, lambda s, m: (0.9 if s < 300 else 0.2) if m == "best" else 0.6)
    assert engine.drift is not None and "best" in engine.drift._probation
    engine.remove_model("best")
    assert "best" not in engine.drift._probation
    assert all(engine.choose("summarise").model != "best" for _ in range(10))


def test_what_is_kept_leaves_out_the_outcomes_after_the_change() -> None:
    from banditroute.probation import PreDrift, change_point

    x = np.r_[1.0, 0.4]
    policy = LinearThompsonSampling(seed=0)
    rng = np.random.default_rng(0)
    residuals, since = [], []
    for step in range(250):
        quality = (0.9 if step < 200 else 0.3) + rng.normal(0, 0.05)
        residuals.append(quality - float(policy.posterior(x, ["a"])[0][0]))
        policy.update("a", x, quality)
        since.append((x, quality))
    assert 45 <= change_point(residuals) <= 55
    clean = PreDrift(policy, "a", -0.6, since[-change_point(residuals) :])
    blurred = PreDrift(policy, "a", -0.6)
    assert float(clean.weights @ x) == pytest.approx(0.9, abs=0.02)
    assert float(blurred.weights @ x) < 0.8
