"""Per-model drift detection with river: when a model degrades, say so and let it be re-explored.

Three signals per model: the quality residual (observed quality minus what the posterior
predicted for that very prompt, so a change in the traffic mix is not taken for degradation),
the latency, and the error indicator. Each signal has its own river detector (ADWIN by default;
PageHinkley and KSWIN selectable). A detection yields a `DriftEvent`; the engine then resets or
softens that model's posterior.

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
from .probation import Probation

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
    action: Literal["reset", "soften", "set_latency"]
    value: float = 0.0  #: the shrink factor (soften) or the new latency in ms (set_latency)


_MAX_COUNT = 10**9  # observations, probes: beyond this a setting is a mistake (and overflows)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Track:
    """One detector plus the running figures needed to describe a change."""

    def __init__(self, detector: Any, recent: int) -> None:
        self.detector = detector
        self.recent: deque[float] = deque(maxlen=recent)
        self.total = 0.0
        self.count = 0

    def update(self, value: float) -> bool:
        self.detector.update(value)
        self.recent.append(value)
        self.total += value
        self.count += 1
        return bool(self.detector.drift_detected)

    def means(self) -> tuple[float, float]:
        recent_sum = sum(self.recent)
        older = self.count - len(self.recent)
        before = (self.total - recent_sum) / older if older > 0 else float("nan")
        return before, recent_sum / max(len(self.recent), 1)


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
        their residuals, sized to the drop that was detected, reports the recovery, and the
        engine then resets the model so it is learned afresh. 0 turns probation off.
    probation : int
        Decisions a probation lasts at most.
    seed : int, optional
        Seed of the KSWIN detector's sampling (an engine with a seed passes its own).
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
        probe_every: int = 20,
        probation: int = 1000,
        seed: int | None = None,
    ) -> None:
        if not isinstance(detector, str) or detector not in ("adwin", "page_hinkley", "kswin"):
            raise invalid("detector", detector, "'adwin', 'page_hinkley' or 'kswin'")
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
        if not _is_int(min_observations) or not 0 <= min_observations <= _MAX_COUNT:
            raise invalid("min_observations", min_observations, f"an int in [0, {_MAX_COUNT}]")
        if not isinstance(quality_drops_only, bool):
            raise invalid("quality_drops_only", quality_drops_only, "True or False")
        if not isinstance(response, str) or response not in ("reset", "shrink"):
            raise invalid("response", response, "'reset' or 'shrink'")
        if not 0 < check_number("shrink_factor", shrink_factor, 0, 1, above=True) < 1:
            raise invalid("shrink_factor", shrink_factor, "in (0, 1)")
        if not _is_int(probe_every) or not 0 <= probe_every <= _MAX_COUNT:
            raise invalid("probe_every", probe_every, f"an int in [0, {_MAX_COUNT}] (0: none)")
        if not _is_int(probation) or not 1 <= probation <= _MAX_COUNT:
            raise invalid("probation", probation, f"an int in [1, {_MAX_COUNT}]")
        seed = check_seed(seed)
        self.probe_every = probe_every
        self.probation = probation
        self._probation: dict[str, Probation] = {}
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
        """The constructor arguments (saved with the engine; detector state is not)."""
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
            self._tracks[key] = _Track(self._new_detector(), recent=max(self.min_observations, 20))
        return self._tracks[key]

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
        if event.signal == "latency":
            reaction = Reaction(event.model, "set_latency", event.mean_after)
        elif event.signal == "quality" and event.mean_after > event.mean_before:
            reaction = Reaction(event.model, "reset")  # recovered (seen by probes): learn afresh
        else:
            if self.response == "reset":
                reaction = Reaction(event.model, "reset")
            else:
                reaction = Reaction(event.model, "soften", self.shrink_factor)
            self.start_probation(event)
        self.forget(event.model, event.signal)
        return reaction

    def start_probation(self, event: DriftEvent) -> None:
        """Put the model of a quality / error degradation on probation (if probation is on)."""
        if self.probe_every:
            drop = abs(event.mean_before - event.mean_after)
            self._probation[event.model] = Probation(self.probation, self.probe_every, drop)

    def next_probe(self, feasible: list[str]) -> str | None:
        """Count one decision; return the model on probation to probe with it, if one is due."""
        due = None
        for model, p in list(self._probation.items()):
            p.left -= 1
            p.countdown -= 1
            if p.left <= 0:
                del self._probation[model]
            elif p.countdown <= 0 and due is None and model in feasible:
                p.countdown = self.probe_every
                due = model
        return due

    def probe_result(self, model: str, step: int, residual: float) -> DriftEvent | None:
        """Feed a probe's quality residual; a `DriftEvent` (a rise) when the model recovered."""
        p = self._probation.get(model)
        if p is None:
            return None
        if p.update(residual):
            del self._probation[model]
            return DriftEvent(model, "quality", step, 0.0, p.total / p.count)
        return None

    def forget(self, model: str, signal: Signal | None = None) -> None:
        """Start a model's detectors afresh (after its posterior was reset)."""
        for key in [k for k in self._tracks if k[0] == model and signal in (None, k[1])]:
            del self._tracks[key]
