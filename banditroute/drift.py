"""Per-model drift detection with river: when a model degrades, say so and let it be re-explored.

Three signals per model: the quality residual (observed quality minus what the posterior
predicted for that very prompt, so a change in the traffic mix is not taken for degradation),
the latency, and the error indicator. Each signal has its own river detector (ADWIN by default;
PageHinkley and KSWIN selectable). A detection yields a `DriftEvent`; the engine then resets or
softens that model's posterior and puts it on probation (`banditroute.probation`): probes
notice its recovery, on which its former posterior is given back.

>>> from banditroute.drift import DriftMonitor
>>> monitor = DriftMonitor(min_observations=10)
>>> events = []
>>> for step in range(400):
...     residual = 0.0 if step < 200 else -0.5
...     events += monitor.observe("m", step, residual=residual + 0.05 * (step % 3 - 1))
>>> [(e.model, e.signal, e.step > 200) for e in events]
[('m', 'quality', True)]
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import check_number, check_seed, invalid
from .params import Configurable
from .probation import HISTORY, ProbationBook, change_point

__all__ = ["DriftEvent", "DriftMonitor", "Reaction", "Signal"]

Signal = Literal["quality", "latency", "errors"]
_SIGNALS = ("quality", "latency", "errors")
DetectorName = Literal["adwin", "page_hinkley", "kswin"]


@dataclass(frozen=True)
class DriftEvent:
    """One detected change of one model's signal."""

    model: str
    signal: Signal
    step: int  # the engine's feedback counter (or the replay position) at detection
    mean_before: float
    mean_after: float
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Reaction:
    """What the learner must do to one model after a drift event."""

    model: str
    action: Literal["reset", "soften", "set_latency", "restore"]
    #: the shrink factor (soften), the new latency in ms (set_latency), or the size of the
    #: change detected (reset, restore): negative for a degradation, positive for a recovery
    value: float = 0.0
    #: (reset) the model's latest outcomes that came after the change, as far as they tell
    since: int = 0


_MAX_COUNT = 10**9  # observations, probes: beyond this a setting is a mistake (and overflows)


def _count(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= _MAX_COUNT:
        raise invalid(name, value, f"an int in [{low}, {_MAX_COUNT}]")


def _choice(name: str, value: object, options: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in options:
        raise invalid(name, value, "one of " + ", ".join(map(repr, options)))


class _Track:
    """One detector plus the running figures needed to describe a change."""

    def __init__(self, detector: Any, recent: int) -> None:
        self.detector = detector
        self.recent: deque[float] = deque(maxlen=recent)
        self.history: deque[float] = deque(maxlen=HISTORY)
        self.total = 0.0
        self.squares = 0.0
        self.count = 0

    def update(self, value: float) -> bool:
        self.detector.update(value)
        self.recent.append(value)
        self.history.append(value)
        self.total += value
        self.squares += value * value
        self.count += 1
        return bool(self.detector.drift_detected)

    def latest(self) -> list[float]:
        """Its latest values: the longer of its two windows (what a saved state keeps)."""
        return list(self.history if len(self.history) >= len(self.recent) else self.recent)

    def restore(self, values: list[float], count: int, total: float, squares: float) -> None:
        """A fresh track back to a saved one: its detector fed ``values`` (`latest`), the
        running figures as saved."""
        for value in values:
            self.detector.update(value)
        self.recent.extend(values)
        self.history.extend(values)
        self.count, self.total, self.squares = count, total, squares

    def means(self) -> tuple[float, float]:
        recent_sum = sum(self.recent)
        older = self.count - len(self.recent)
        before = (self.total - recent_sum) / older if older > 0 else float("nan")
        return before, recent_sum / max(len(self.recent), 1)

    def variance(self) -> float:
        """The larger of the values' variance before and within the recent window."""
        n, recent, (before, after) = len(self.recent), sum(v * v for v in self.recent), self.means()
        spread = recent / max(n, 1) - after * after
        older = self.count - n
        return max(spread, (self.squares - recent) / older - before**2) if older > 1 else spread


class DriftMonitor(Configurable):
    """River detectors per model and signal.

    Parameters
    ----------
    detector : {"adwin", "page_hinkley", "kswin"}
        Which river detector watches each signal.
    delta : float
        ADWIN's confidence (smaller: fewer false alarms, later detections).
    signals : tuple of str
        Signals to watch, among "quality", "latency", "errors".
    min_observations : int
        Observations of a model before its detectors may fire (the posterior is still moving).
    quality_drops_only : bool
        Report quality changes only when the residual falls (an improvement is not a fault).
    response : {"reset", "shrink"}
        What the engine does to the model's quality posterior on a quality or error drift:
        back to the prior, or the same mean with its precision multiplied by ``shrink_factor``.
    shrink_factor : float in (0, 1)
        Used by ``response="shrink"``.
    probe_every : int
        After a quality or error degradation the model is on probation: every
        ``probe_every``-th decision is routed to it (when feasible; propensity 1, the decision's
        policy says "+probe"). Probe outcomes do not update its posterior; a one-sided CUSUM of
        their residuals against the model's former level, sized to the drop that was detected,
        reports the recovery (see `banditroute.probation`). 0 turns probation off.
    probation : int
        Decisions a probation lasts at most (0: until the recovery is seen).
    recovery : {"restore", "reset"}
        What the engine does to a recovered model's posterior: give back the one it had before
        the drop ("restore") or learn it afresh from the prior ("reset").
    seed : int, optional
        Seed of the KSWIN detector's sampling (an engine with a seed passes its own).

    Notes
    -----
    ``probe_every=50``, ``probation=0`` and ``recovery="restore"`` were chosen with
    ``benchmarks/bench_drift.py --tuning`` (synthetic workload; RouterBench's and MMLU-Pro's
    ``*_train`` files), against every 20th decision for 1,000 decisions (the earlier default),
    every 20th, 25th or 100th until the recovery, and re-learning a recovered model afresh:
    least regret over drifted and restored streams together but for every 100th (0.3% less),
    which wins back much less traffic on RouterBench. Detector settings: the first session's.
    """

    def __init__(
        self,
        detector: DetectorName = "adwin",
        delta: float = 0.0005,
        signals: tuple[Signal, ...] = ("quality", "latency", "errors"),
        min_observations: int = 30,
        quality_drops_only: bool = True,
        response: Literal["reset", "shrink"] = "reset",
        shrink_factor: float = 0.05,
        probe_every: int = 50,
        probation: int = 0,
        recovery: Literal["restore", "reset"] = "restore",
        seed: int | None = None,
    ) -> None:
        _choice("detector", detector, ("adwin", "page_hinkley", "kswin"))
        if not 0 < check_number("delta", delta, 0, 1, above=True) < 1:
            raise invalid("delta", delta, "in (0, 1)")
        if isinstance(signals, str) or not isinstance(signals, Iterable):
            raise invalid("signals", signals, "a tuple of signal names")
        try:
            signals = tuple(signals)
        except TypeError:  # iterable in name only (a 0-d array, ...)
            raise invalid("signals", signals, "a tuple of signal names") from None
        if not all(isinstance(s, str) and s in _SIGNALS for s in signals):
            raise invalid("signals", list(signals), "among 'quality', 'latency', 'errors'")
        _count("min_observations", min_observations, 0)
        if not isinstance(quality_drops_only, bool):
            raise invalid("quality_drops_only", quality_drops_only, "True or False")
        _choice("response", response, ("reset", "shrink"))
        if not 0 < check_number("shrink_factor", shrink_factor, 0, 1, above=True) < 1:
            raise invalid("shrink_factor", shrink_factor, "in (0, 1)")
        _count("probe_every", probe_every, 0)  # 0: no probation
        _count("probation", probation, 0)  # 0: until the recovery
        _choice("recovery", recovery, ("restore", "reset"))
        seed = check_seed(seed)
        self.probe_every = probe_every
        self.probation = probation
        self.recovery = recovery
        self._probation = ProbationBook()
        self.response = response
        self.shrink_factor = shrink_factor
        self.detector = detector
        self.delta = delta
        self.signals = tuple(signals)
        self.min_observations = min_observations
        self.quality_drops_only = quality_drops_only
        self.seed = seed
        self._tracks: dict[tuple[str, str], _Track] = {}

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (saved with the engine; the running state, probations
        and tracks, is saved beside them by `banditroute.drift_state`)."""
        params = super().get_params()
        params["signals"] = list(self.signals)
        return params

    def _new_detector(self) -> Any:
        from river import drift  # lazy: keeps `import banditroute` light

        if self.detector == "adwin":
            return drift.ADWIN(delta=self.delta)  # type: ignore[no-untyped-call,unused-ignore]
        if self.detector == "page_hinkley":
            return drift.PageHinkley()
        return drift.KSWIN(seed=0 if self.seed is None else self.seed)

    def _track(self, model: str, signal: str) -> _Track:
        key = (model, signal)
        if key not in self._tracks:
            self._tracks[key] = _Track(self._new_detector(), recent=self._recent_window())
        return self._tracks[key]

    def _recent_window(self) -> int:
        return max(self.min_observations, 20)

    @property
    def track_window(self) -> int:
        """The most values a track keeps (its longer window)."""
        return max(HISTORY, self._recent_window())

    def observe(
        self,
        model: str,
        step: int,
        residual: float | None = None,
        latency_ms: float | None = None,
        error: bool | None = None,
    ) -> list[DriftEvent]:
        """Feed one call's signals; return the changes detected by it (usually none)."""
        values: list[tuple[Signal, float | None]] = [
            ("quality", residual),
            ("latency", latency_ms),
            ("errors", None if error is None else float(error)),
        ]
        events = []
        for signal, value in values:
            if value is None or signal not in self.signals:
                continue
            track = self._track(model, signal)
            fired = track.update(float(value))
            if not fired or track.count < self.min_observations:
                continue
            before, after = track.means()
            if signal == "quality" and self.quality_drops_only and not after < before:
                continue
            if signal in ("latency", "errors") and not after > before:
                continue  # faster or fewer errors is not a degradation
            events.append(DriftEvent(model, signal, step, before, after))
        return events

    def outcome(
        self,
        model: str,
        step: int,
        residual: float,
        latency_ms: float | None = None,
        failed: bool = False,
        probe: bool = False,
    ) -> list[tuple[DriftEvent, Reaction]]:
        """Feed one outcome (a probe's, or an ordinary one); return each change detected with
        what the learner must do about it. Probation and detector resets are handled here."""
        if probe:
            rise = self.probe_result(model, step, residual)
            events = [] if rise is None else [rise]
        else:
            events = self.observe(model, step, residual, latency_ms, failed)
        return [(event, self._react(event)) for event in events]

    def _react(self, event: DriftEvent) -> Reaction:
        change = event.mean_after - event.mean_before
        if event.signal == "latency":
            reaction = Reaction(event.model, "set_latency", event.mean_after)
        elif event.signal == "quality" and change > 0:  # recovered (seen by the probes)
            action: Literal["restore", "reset"] = self.recovery
            reaction = Reaction(event.model, action, change)
        else:
            track = self._tracks.get((event.model, "quality"))
            if self.response == "reset":
                since = 0 if track is None else change_point(track.history)
                reaction = Reaction(event.model, "reset", -abs(change), since)
            else:
                reaction = Reaction(event.model, "soften", self.shrink_factor)
            self.start_probation(event, 0.25 if track is None else track.variance())
        self.forget(event.model, event.signal)
        return reaction

    def start_probation(self, event: DriftEvent, variance: float = 0.25) -> None:
        """Put the model of a quality / error degradation on probation (if probation is on);
        ``variance``: of its residuals, which sizes the recovery test."""
        if self.probe_every:
            drop = abs(event.mean_before - event.mean_after)
            book = self._probation
            lasts = self.probation or None
            book.start(event.model, drop, variance, lasts, self.probe_every)

    @property
    def probations(self) -> ProbationBook:
        """The models on probation now."""
        return self._probation

    def end_probation(self, model: str) -> None:
        """Take ``model`` off probation (it was removed, say)."""
        self._probation.end(model)

    def next_probe(self, feasible: list[str]) -> str | None:
        """Count one decision; return the model on probation to probe with it, if one is due."""
        return self._probation.next_probe(feasible, self.probe_every)

    def probe_result(self, model: str, step: int, residual: float) -> DriftEvent | None:
        """Feed a probe's quality residual; a `DriftEvent` (a rise, by the mean residual of the
        probes that made the test fire) when the model recovered."""
        rise = self._probation.result(model, residual)
        return None if rise is None else DriftEvent(model, "quality", step, 0.0, rise)

    def forget(self, model: str, signal: Signal | None = None) -> None:
        """Start a model's detectors afresh (after its posterior was reset)."""
        for key in [k for k in self._tracks if k[0] == model and signal in (None, k[1])]:
            del self._tracks[key]
