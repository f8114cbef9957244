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
