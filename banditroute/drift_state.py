"""Drift handling's running state in a saved engine: probations, kept posteriors, detector tracks.

`drift_state` reads what a `Learner` with a `DriftMonitor` holds beyond the monitor's settings,
as a JSON header part plus plain arrays named ``drift_*``; `load_drift_state` checks them as
untrusted input (`StateFileError` naming the field) and puts them back:

- each model on probation: its `Probation` (schedule, CUSUM, the probes' running figures), in
  the order probes are served;
- each degraded model's `PreDrift`: the kept sums (gram, targets, count, squared residuals) and
  the detected change (its weights are recomputed from the sums, as when it was made);
- each model's latest outcomes (context, quality), from which a later reset places its change;
- each detector track's figures and its latest values (the longer of its ``history`` and
  ``recent`` windows).

River detectors are not written (their state is only reachable through pickle, which a file
must never be read with): on load each track gets a fresh detector fed the saved latest values.
When those are all the track saw (at most 256 since the detector started) this is the very
state the detector had; an older track's detector is warm-started from its latest 256 values.

>>> import numpy as np
>>> from banditroute import DriftMonitor, ModelProfile
>>> from banditroute.drift import DriftEvent
>>> from banditroute.learner import Learner
>>> m = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)
>>> learner = Learner.seeded([m], drift=DriftMonitor(probe_every=3), seed=0)
>>> learner.drift.start_probation(DriftEvent("m", "quality", 9, 0.8, 0.4), variance=0.04)
>>> saved = drift_state(learner, dim=2)
>>> fresh = Learner.seeded([m], drift=DriftMonitor(probe_every=3), seed=0)
>>> load_drift_state(fresh, saved.header, saved.arrays, dim=2)
>>> [(model, p.countdown, p.variance) for model, p in fresh.drift.probations.entries()]
[('m', 3, 0.04)]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .drift import DriftMonitor
from .errors import StateFileError
from .policies.tracking import ArmStatistics
from .probation import HISTORY, MAX_VARIANCE, MIN_VARIANCE, PreDrift, Probation
from .untrusted import as_float, as_int, as_list, as_str, exact_table, float_array

if TYPE_CHECKING:
    from .learner import Learner

__all__ = ["DriftState", "drift_state", "load_drift_state"]

_PARTS = ("probation", "pre_drift", "latest", "tracks")
_PROBATION = (
    "model",
    "left",
    "countdown",
    "shift",
    "variance",
    "statistic",
    "total",
    "count",
    "probes",
    "mean",
    "squares",
)
_PRE_DRIFT = ("model", "counts", "sse", "change")
_LATEST = ("model", "n")
_TRACK = ("model", "signal", "n", "count", "total", "squares")
_MAX_COUNT = 10**9  # probation lengths (as `DriftMonitor` bounds them)
_INT64 = 2**63


@dataclass
class DriftState:
    """The running state, as a saved engine holds it: a JSON-able header part and arrays."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray]


def _monitor(learner: Learner) -> DriftMonitor:
    if learner.drift is None:
        raise StateFileError("saved drift_state, but the saved engine has no drift monitor")
    return learner.drift


def drift_state(learner: Learner, dim: int) -> DriftState:
    """What ``learner``'s drift handling holds now (``dim``: the context length)."""
    monitor = _monitor(learner)
    probation = [
        {"model": model, **{k: getattr(p, k) for k in _PROBATION[1:]}}
        for model, p in monitor.probations.entries()
    ]
    kept = list(learner._pre_drift.items())
    pre_drift = [
        {"model": m, "counts": k.statistics.counts, "sse": k.statistics.sse, "change": k.change}
        for m, k in kept
    ]
    latest = [(m, list(rows)) for m, rows in learner._latest.items()]
    tracks = []
    values: list[float] = []
    for (model, signal), track in monitor._tracks.items():
        longer = track.latest()
        values.extend(longer)
        row = {"model": model, "signal": signal, "n": len(longer), "count": track.count}
        tracks.append({**row, "total": track.total, "squares": track.squares})
    contexts = [x for _, rows in latest for x, _ in rows]
    arrays = {
        "drift_pre_gram": np.array([k.statistics.gram for _, k in kept]).reshape(-1, dim, dim),
        "drift_pre_targets": np.array([k.statistics.targets for _, k in kept]).reshape(-1, dim),
        "drift_latest_contexts": np.array(contexts).reshape(-1, dim),
        "drift_latest_quality": np.array([y for _, rows in latest for _, y in rows], dtype=float),
        "drift_track_values": np.array(values, dtype=float),
    }
    header = {
        "probation": probation,
        "pre_drift": pre_drift,
        "latest": [{"model": m, "n": len(rows)} for m, rows in latest],
        "tracks": tracks,
    }
    return DriftState(header, arrays)


def _model(name: str, value: object, known: set[str], seen: set[str]) -> str:
    """A model id of the registry, not seen before in this part."""
    model = as_str(name, value)
    if model not in known:
        raise StateFileError(f"saved {name} == {model!r:.60} is not a model of the registry")
    if model in seen:
        raise StateFileError(f"saved {name} == {model!r:.60} appears twice")
    seen.add(model)
    return model


def load_drift_state(
    learner: Learner, saved: object, arrays: dict[str, np.ndarray], dim: int
) -> None:
    """Check what `drift_state` wrote and put it back into ``learner`` (its registry, policy
    and drift monitor already loaded); `StateFileError` names the first bad field."""
    monitor = _monitor(learner)
    spec = exact_table("drift_state", saved, _PARTS)
    known = set(learner.registry.ids)
    seen: set[str] = set()
    probations = [
        _probation(i, item, known, seen) for i, item in enumerate(_rows(spec, "probation"))
    ]
    kept = _pre_drift(_rows(spec, "pre_drift"), arrays, dim, known, set(learner.policy.arms))
    latest = _latest(_rows(spec, "latest"), arrays, dim, known)
    tracks = _tracks(_rows(spec, "tracks"), arrays, monitor)
    for model, probation in probations:
        monitor.probations.put(model, probation)
    learner._pre_drift.update(kept)
    learner._latest.update(latest)
    for (model, signal), saved_track in tracks.items():
        monitor._track(model, signal).restore(*saved_track)


def _rows(spec: dict[str, Any], part: str) -> list[Any]:
    return as_list(f"drift_state.{part}", spec[part])


def _probation(i: int, item: object, known: set[str], seen: set[str]) -> tuple[str, Probation]:
    where = f"drift_state.probation[{i}]"
    p = exact_table(where, item, _PROBATION)
    model = _model(f"{where}.model", p["model"], known, seen)
    left = None if p["left"] is None else as_int(f"{where}.left", p["left"], 1, _MAX_COUNT)
    probation = Probation(
        left,
        as_int(f"{where}.countdown", p["countdown"], -_INT64, _INT64 - 1),
        as_float(f"{where}.shift", p["shift"], 0.1),
        as_float(f"{where}.variance", p["variance"], MIN_VARIANCE, MAX_VARIANCE),
    )
    probation.statistic = as_float(f"{where}.statistic", p["statistic"], 0.0)
    probation.total = as_float(f"{where}.total", p["total"])
    probation.probes = as_int(f"{where}.probes", p["probes"])
    probation.count = as_int(f"{where}.count", p["count"], 0, probation.probes)
    probation.mean = as_float(f"{where}.mean", p["mean"])
    probation.squares = as_float(f"{where}.squares", p["squares"], 0.0)
    return model, probation


def _pre_drift(
    rows: list[Any], arrays: dict[str, np.ndarray], dim: int, known: set[str], arms: set[str]
) -> dict[str, PreDrift]:
    k = len(rows)
    seen: set[str] = set()
    grams = float_array("drift_pre_gram", arrays, (k, dim, dim))
    targets = float_array("drift_pre_targets", arrays, (k, dim))
    kept = {}
    for i, item in enumerate(rows):
        where = f"drift_state.pre_drift[{i}]"
        p = exact_table(where, item, _PRE_DRIFT)
        model = _model(f"{where}.model", p["model"], known, seen)
        if model not in arms:
            raise StateFileError(f"saved {where}.model == {model!r:.60} has no posterior")
        statistics = ArmStatistics(
            grams[i].copy(),
            targets[i].copy(),
            as_float(f"{where}.counts", p["counts"], 0.0),
            as_float(f"{where}.sse", p["sse"], 0.0),
        )
        try:
            kept[model] = PreDrift.from_statistics(
                statistics, as_float(f"{where}.change", p["change"], high=0.0)
            )
        except np.linalg.LinAlgError:
            raise StateFileError(f"saved array 'drift_pre_gram'[{i}] is singular") from None
    return kept


def _latest(
    rows: list[Any], arrays: dict[str, np.ndarray], dim: int, known: set[str]
) -> dict[str, deque[tuple[np.ndarray, float]]]:
    seen: set[str] = set()
    counts = []
    for i, item in enumerate(rows):
        where = f"drift_state.latest[{i}]"
        p = exact_table(where, item, _LATEST)
        model = _model(f"{where}.model", p["model"], known, seen)
        counts.append((model, as_int(f"{where}.n", p["n"], 1, HISTORY)))
    total = sum(n for _, n in counts)
    contexts = float_array("drift_latest_contexts", arrays, (total, dim))
    quality = float_array("drift_latest_quality", arrays, (total,))
    latest, start = {}, 0
    for model, n in counts:
        rows_ = zip(contexts[start : start + n], quality[start : start + n], strict=True)
        latest[model] = deque(((x.copy(), float(y)) for x, y in rows_), maxlen=HISTORY)
        start += n
    return latest


def _tracks(
    rows: list[Any], arrays: dict[str, np.ndarray], monitor: DriftMonitor
) -> dict[tuple[str, str], tuple[list[float], int, float, float]]:
    keep = monitor.track_window
    found: dict[tuple[str, str], tuple[int, int, float, float]] = {}
    for i, item in enumerate(rows):
        where = f"drift_state.tracks[{i}]"
        p = exact_table(where, item, _TRACK)
        model, signal = as_str(f"{where}.model", p["model"]), p["signal"]
        if signal not in monitor.signals:
            raise StateFileError(
                f"saved {where}.signal == {signal!r:.40}, must be a watched signal "
                f"({', '.join(monitor.signals)})"
            )
        if (model, signal) in found:
            raise StateFileError(f"saved {where} repeats the track {model!r:.60}, {signal!r}")
        count = as_int(f"{where}.count", p["count"])
        n = as_int(f"{where}.n", p["n"], min(count, keep), min(count, keep))
        total = as_float(f"{where}.total", p["total"])
        squares = as_float(f"{where}.squares", p["squares"], 0.0)
        found[model, signal] = (n, count, total, squares)
    values = float_array("drift_track_values", arrays, (sum(f[0] for f in found.values()),))
    tracks, start = {}, 0
    for key, (n, count, total, squares) in found.items():
        tracks[key] = ([float(v) for v in values[start : start + n]], count, total, squares)
        start += n
    return tracks
