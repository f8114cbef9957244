"""A model's probation, its pre-drop posterior and the drift detectors survive save / load."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from banditroute import DriftMonitor, Engine, HashingEmbedder
from banditroute.engine_state import STATE_FILE
from banditroute.errors import StateFileError
from banditroute.policies.tracking import ArmStatistics
from banditroute.probation import PreDrift, Probation
from banditroute.state import read_state, write_state
from tests.conftest import make_model

PROMPTS = [f"summarise report number {i}" for i in range(13)]
Decisions = list[tuple[str, float, str]]


def two_models(drift: DriftMonitor | None = None, dim: int = 32) -> Engine:
    models = [make_model("best"), make_model("other")]
    return Engine(models, embedder=HashingEmbedder(dim=dim), seed=0, drift=drift)


def quality(step: int, model: str, back_at: int) -> float:
    """``best`` is the better model but for a degradation from step 300 to ``back_at``."""
    if model == "best":
        return 0.2 if 300 <= step < back_at else 0.9
    return 0.6


def drive(engine: Engine, steps: range, back_at: int, rng: np.random.Generator) -> Decisions:
    """Route and answer ``steps`` prompts; what was decided at each."""
    decided = []
    for step in steps:
        d = engine.choose(PROMPTS[step % len(PROMPTS)])
        noisy = quality(step, d.model, back_at) + rng.normal(0, 0.05)
        engine.feedback(d, quality=float(np.clip(noisy, 0.0, 1.0)))
        decided.append((d.model, d.propensity, d.policy))
    return decided


def on_probation(back_at: int = 10**6) -> tuple[Engine, int]:
    """An engine driven (seeded) until ``best`` is on probation and three probes were judged;
    the next step."""
    engine = two_models(DriftMonitor(probe_every=5))
    rng = np.random.default_rng(1)
    assert engine.drift is not None
    for step in range(2000):
        drive(engine, range(step, step + 1), back_at, rng)
        entries = dict(engine.drift.probations.entries())
        if "best" in entries and entries["best"].probes >= 3:
            return engine, step + 1
    raise AssertionError("best was never put on probation")


def posteriors(engine: Engine) -> np.ndarray:
    contexts = [engine.context.build(engine.embedder.embed_one(p), 5) for p in PROMPTS]
    return np.array([engine.policy.posterior(x, ["best", "other"]) for x in contexts])


def events(engine: Engine) -> list[tuple[str, str, int, float, float]]:
    return [(e.model, e.signal, e.step, e.mean_before, e.mean_after) for e in engine.drift_events]


def test_a_restart_during_probation_changes_nothing(tmp_path: Path) -> None:
    never_saved, start = on_probation()
    saved_at = len(never_saved.drift_events)
    back_at = start + 60  # best recovers after the restart: the probes must notice it
    engine, _ = on_probation()
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    assert loaded.drift is not None and "best" in loaded.drift.probations
    assert np.array_equal(posteriors(loaded), posteriors(never_saved))

    steps = range(start, start + 400)
    expected = drive(never_saved, steps, back_at, np.random.default_rng(7))
    got = drive(loaded, steps, back_at, np.random.default_rng(7))
    assert got == expected
    assert any(policy.endswith("+probe") for _, _, policy in got)
    rises = [e for e in events(never_saved)[saved_at:] if e[4] > e[3]]
    assert rises and rises[0][0] == "best"  # recovered after the restart: posterior given back
    assert events(loaded) == events(never_saved)
    assert np.array_equal(posteriors(loaded), posteriors(never_saved))
    assert loaded.feedback_count == never_saved.feedback_count
    assert [m for m, *_ in got[-100:]].count("best") > 80  # traffic won back


def test_without_the_saved_probation_the_restart_would_forget_it(tmp_path: Path) -> None:
    """The property above is not vacuous: dropping the new parts changes the decisions."""
    never_saved, start = on_probation()
    engine, _ = on_probation()
    engine.save(tmp_path)
    strip_drift_state(tmp_path / STATE_FILE)
    old = Engine.load(tmp_path)
    assert old.drift is not None and old.drift.probations.entries() == []
    steps = range(start, start + 200)
    expected = drive(never_saved, steps, start + 60, np.random.default_rng(7))
    got = drive(old, steps, start + 60, np.random.default_rng(7))
    assert not any(policy.endswith("+probe") for _, _, policy in got)
    assert got != expected


def strip_drift_state(path: Path) -> None:
    """Rewrite a state file as the previous version wrote it: no drift_state, no drift arrays,
    no probe flags on pending decisions."""
    header, arrays = read_state(path)
    header.pop("drift_state")
    for item in header["pending"]:
        item.pop("probe", None)
    header = {k: v for k, v in header.items() if k not in ("format", "version")}
    write_state(path, header, {k: v for k, v in arrays.items() if not k.startswith("drift_")})


def test_an_old_state_file_loads_with_no_probation(tmp_path: Path) -> None:
    engine, _ = on_probation()
    assert engine.learner._pre_drift  # the degraded model's posterior was kept
    engine.save(tmp_path)
    strip_drift_state(tmp_path / STATE_FILE)
    old = Engine.load(tmp_path)
    assert old.drift is not None
    assert "best" not in old.drift.probations and old.learner._pre_drift == {}
    assert old.learner._latest == {} and old.drift._tracks == {}
    assert old.feedback_count == engine.feedback_count
    assert np.array_equal(posteriors(old), posteriors(engine))
    assert old.choose("summarise").model in ("best", "other")


def test_the_kept_posterior_and_latest_outcomes_are_saved_exactly(tmp_path: Path) -> None:
    engine, _ = on_probation()
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    before, after = engine.learner._pre_drift["best"], loaded.learner._pre_drift["best"]
    assert np.array_equal(after.statistics.gram, before.statistics.gram)
    assert np.array_equal(after.statistics.targets, before.statistics.targets)
    assert np.array_equal(after.weights, before.weights)
    assert (after.statistics.counts, after.statistics.sse, after.change) == (
        before.statistics.counts,
        before.statistics.sse,
        before.change,
    )
    for model, rows in engine.learner._latest.items():
        again = loaded.learner._latest[model]
        assert len(again) == len(rows) and again.maxlen == rows.maxlen
        assert all(
            np.array_equal(x, y) and q == r for (x, q), (y, r) in zip(rows, again, strict=True)
        )


def test_a_young_track_gets_the_very_detector_it_had(tmp_path: Path) -> None:
    """A track that saw no more than its kept values is replayed into the same detector state;
    an older one keeps its figures and is warm-started from its latest values."""
    monitor = DriftMonitor(min_observations=10)
    engine = two_models(monitor)
    rng = np.random.default_rng(3)
    for step in range(150):
        monitor.observe("best", step, residual=float(rng.normal(0, 0.1)))
    for step in range(400):
        monitor.observe("other", step, residual=float(rng.normal(0, 0.1)), error=False)
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path).drift
    assert loaded is not None
    for key, track in monitor._tracks.items():
        again = loaded._tracks[key]
        assert (again.count, again.total, again.squares) == (
            track.count,
            track.total,
            track.squares,
        )
        assert list(again.history) == list(track.history)
        assert list(again.recent) == list(track.recent)
        assert again.means() == track.means() and again.variance() == track.variance()
    young, old = monitor._tracks["best", "quality"], monitor._tracks["other", "quality"]
    same = loaded._tracks["best", "quality"].detector
    assert (same.width, same.estimation, same.variance) == (
        young.detector.width,
        young.detector.estimation,
        young.detector.variance,
    )
    assert loaded._tracks["other", "quality"].detector.width <= 256 < old.detector.width
    # both go on detecting: the same drop is seen by the replayed detector
    found = []
    for step in range(150, 600):
        found += loaded.observe("best", step, residual=-0.6 + float(rng.normal(0, 0.1)))
    assert found and found[0].signal == "quality"


def test_a_pending_probe_stays_a_probe(tmp_path: Path) -> None:
    engine, start = on_probation()
    for step in range(start, start + 10):
        d = engine.choose(PROMPTS[step % len(PROMPTS)])
        if d.policy.endswith("+probe"):
            break
        engine.feedback(d, quality=0.6)
    else:
        raise AssertionError("no probe within 10 decisions (probe_every=5)")
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    before = posteriors(loaded)
    loaded.feedback(d.id, quality=0.2)  # judged by the probation, not learned
    assert np.array_equal(posteriors(loaded), before)
    assert dict(loaded.drift.probations.entries())["best"].probes == (  # type: ignore[union-attr]
        dict(engine.drift.probations.entries())["best"].probes + 1  # type: ignore[union-attr]
    )
    header, arrays = read_state(tmp_path / STATE_FILE)
    assert [item.get("probe") for item in header["pending"]] == [True]
    header["pending"][0]["probe"] = "yes"
    write_state(tmp_path / STATE_FILE, header, arrays)
    with pytest.raises(StateFileError, match=r"pending\[0\]\.probe == 'yes'"):
        Engine.load(tmp_path)


_numbers = st.floats(-1e6, 1e6, allow_nan=False)
_probations = st.builds(
    Probation,
    left=st.none() | st.integers(1, 10**9),
    countdown=st.integers(-(10**9), 10**9),
    shift=st.floats(0.1, 10.0),
    variance=st.floats(0.01, 0.25),
)


@settings(max_examples=40, deadline=None)
@given(
    probation=_probations,
    running=st.tuples(st.floats(0.0, 6.9), _numbers, st.integers(0, 10**6), _numbers),
    squares=st.floats(0.0, 1e6),
    extra=st.integers(0, 1000),
    root=hnp.arrays(np.float64, (10, 10), elements=st.floats(-10, 10)),
    targets=hnp.arrays(np.float64, (10,), elements=_numbers),
    sums=st.tuples(st.floats(0.0, 1e6), st.floats(0.0, 1e6), st.floats(-1.0, 0.0)),
)
def test_probation_and_pre_drift_values_round_trip(
    probation: Probation,
    running: tuple[float, float, int, float],
    squares: float,
    extra: int,
    root: np.ndarray,
    targets: np.ndarray,
    sums: tuple[float, float, float],
) -> None:
    probation.statistic, probation.total, probation.count, probation.mean = running
    probation.probes, probation.squares = probation.count + extra, squares
    gram = root @ root.T + np.eye(10)  # positive definite, as a posterior's gram is
    kept = PreDrift.from_statistics(ArmStatistics(gram, targets, sums[0], sums[1]), sums[2])
    engine = two_models(DriftMonitor(), dim=8)
    assert engine.context.dim == 10 and engine.drift is not None
    engine.policy.update("best", np.ones(10), 0.5)  # "best" has a posterior
    engine.drift.probations.put("best", probation)
    engine.learner._pre_drift["best"] = kept
    with tempfile.TemporaryDirectory() as folder:
        engine.save(folder)
        loaded = Engine.load(folder)
    assert loaded.drift is not None
    [(model, again)] = loaded.drift.probations.entries()
    assert model == "best" and vars(again) == vars(probation)
    back = loaded.learner._pre_drift["best"]
    assert np.array_equal(back.statistics.gram, gram)
    assert np.array_equal(back.statistics.targets, targets)
    assert np.array_equal(back.weights, kept.weights)
    assert (back.statistics.counts, back.statistics.sse, back.change) == sums


def corrupt(path: Path, edit: Any) -> None:
    header, arrays = read_state(path)
    edit(header["drift_state"], arrays)
    header = {k: v for k, v in header.items() if k not in ("format", "version")}
    write_state(path, json.loads(json.dumps(header)), arrays)


def _set(part: str, field: str, value: object) -> Any:
    return lambda state, arrays: state[part][0].__setitem__(field, value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("probation", "variance", "high"), "drift_state.probation[0].variance == 'high'"),
        (_set("probation", "shift", -1.0), "drift_state.probation[0].shift == -1.0"),
        (_set("probation", "left", 0), "drift_state.probation[0].left == 0"),
        (_set("probation", "count", 10**6), "drift_state.probation[0].count"),
        (_set("probation", "model", "gone"), "'gone' is not a model of the registry"),
        (_set("probation", "colour", 1), "drift_state.probation[0] has unknown field(s)"),
        (_set("pre_drift", "change", 0.5), "drift_state.pre_drift[0].change == 0.5"),
        (_set("pre_drift", "sse", float("nan")), "drift_state.pre_drift[0].sse == nan"),
        (_set("latest", "n", 10**6), "drift_state.latest[0].n"),
        (_set("tracks", "signal", "mood"), "drift_state.tracks[0].signal == 'mood'"),
        (_set("tracks", "n", 3), "drift_state.tracks[0].n == 3"),
        (
            lambda state, arrays: state["probation"].append(state["probation"][0]),
            "drift_state.probation[1].model == 'best' appears twice",
        ),
        (lambda state, arrays: state.pop("tracks"), "drift_state lacks the field(s) ['tracks']"),
        (
            lambda state, arrays: arrays.__setitem__("drift_pre_gram", np.zeros((1, 3, 3))),
            "'drift_pre_gram' has shape (1, 3, 3)",
        ),
        (
            lambda state, arrays: arrays["drift_pre_gram"].fill(0.0),
            "'drift_pre_gram'[0] is singular",
        ),
        (
            lambda state, arrays: arrays["drift_latest_quality"].fill(np.inf),
            "'drift_latest_quality' holds infinite or NaN values",
        ),
        (
            lambda state, arrays: arrays.pop("drift_track_values"),
            "lacks the array 'drift_track_values'",
        ),
    ],
)
def test_a_corrupted_part_is_refused_by_name(tmp_path: Path, edit: Any, message: str) -> None:
    engine, _ = on_probation_cached()
    engine.save(tmp_path)
    corrupt(tmp_path / STATE_FILE, edit)
    with pytest.raises(StateFileError) as caught:
        Engine.load(tmp_path)
    assert message in str(caught.value)


def test_a_drift_state_without_a_drift_monitor_is_refused(tmp_path: Path) -> None:
    engine, _ = on_probation_cached()
    engine.save(tmp_path)
    header, arrays = read_state(tmp_path / STATE_FILE)
    header["drift"] = None
    write_state(tmp_path / STATE_FILE, header, arrays)
    with pytest.raises(StateFileError, match="no drift monitor"):
        Engine.load(tmp_path)


_CACHE: list[tuple[Engine, int]] = []


def on_probation_cached() -> tuple[Engine, int]:
    """`on_probation`, driven once for the tests that only save it."""
    if not _CACHE:
        _CACHE.append(on_probation())
    return _CACHE[0]
