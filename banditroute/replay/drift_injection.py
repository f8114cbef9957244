"""Inject a model's degradation into a replay and measure how each drift strategy copes.

Spec grammar: ``MODEL@START[-END]:SIGNAL OP VALUE`` where positions are in the routed stream,
``SIGNAL OP VALUE`` is ``quality*0.5`` (scale), ``quality=OTHER_MODEL`` (take another model's
column), ``latency*3`` (needs a log with latencies) or ``errors=0.3`` (that share of calls
fail: quality 0 and an error reported). END, when given, restores the model from there on.

>>> spec = DriftSpec.parse("gpt-4-1106-preview@900-1400:quality*0.5")
>>> spec.model, spec.start, spec.end, spec.signal, spec.op, spec.value
('gpt-4-1106-preview', 900, 1400, 'quality', '*', '0.5')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..drift import DriftEvent, DriftMonitor
from ..errors import InvalidInput
from ..outcome_log import OutcomeLog
from ..policies import LinearThompsonSampling, Policy
from ..registry import ModelProfile
from .drift_result import DriftDetection, DriftReport, TrafficShare
from .metrics import regret_per_prompt
from .routers import Stream, run_engine

__all__ = [
    "DRIFT_VARIANTS",
    "DriftDetection",
    "DriftReport",
    "DriftSpec",
    "TrafficShare",
    "drift_report",
    "inject",
]

_SPEC = re.compile(
    r"^(?P<model>[^@]+)@(?P<start>\d+)(?:-(?P<end>\d+))?:(?P<signal>quality|latency|errors)"
    r"(?P<op>[*=])(?P<value>.+)$"
)

# What each strategy is, as an engine configuration.
DRIFT_VARIANTS: dict[str, Callable[[int], tuple[Policy, DriftMonitor | None]]] = {
    "no_handling": lambda seed: (LinearThompsonSampling(seed=seed), None),
    "detect_reset": lambda seed: (LinearThompsonSampling(seed=seed), DriftMonitor()),
    "discount": lambda seed: (LinearThompsonSampling(seed=seed, discount=0.995), None),
}


@dataclass(frozen=True)
class DriftSpec:
    model: str
    start: int
    end: int | None
    signal: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> DriftSpec:
        match = _SPEC.match(text.strip())
        if not match:
            raise InvalidInput(
                f"drift == {text!r}, must look like MODEL@START[-END]:quality*0.5, "
                "quality=OTHER_MODEL, latency*3 or errors=0.3"
            )
        g = match.groupdict()
        spec = cls(
            g["model"],
            int(g["start"]),
            int(g["end"]) if g["end"] else None,
            g["signal"],
            g["op"],
            g["value"],
        )
        if spec.end is not None and spec.end <= spec.start:
            raise InvalidInput(f"drift == {text!r}: END must be after START")
        if spec.signal == "errors" and spec.op != "=":
            raise InvalidInput(f"drift == {text!r}: errors takes '=' and a rate in [0, 1]")
        if spec.signal == "latency" and spec.op != "*":
            raise InvalidInput(f"drift == {text!r}: latency takes '*' and a factor")
        return spec


def inject(
    log: OutcomeLog, order: np.ndarray, spec: DriftSpec, seed: int
) -> tuple[OutcomeLog, np.ndarray]:
    """The log as the routed stream sees it, and the (prompt, model) error mask."""
    if spec.model not in log.models:
        raise InvalidInput(f"drift names model {spec.model!r}, which the log does not have")
    j = log.models.index(spec.model)
    position = np.empty(log.n_prompts, dtype=np.intp)
    position[order] = np.arange(log.n_prompts)
    end = spec.end if spec.end is not None else log.n_prompts
    rows = np.nonzero((position >= spec.start) & (position < end))[0]
    quality, latency = log.quality.copy(), None if log.latency is None else log.latency.copy()
    errors = np.zeros(log.quality.shape, dtype=bool)
    if spec.signal == "quality" and spec.op == "*":
        quality[rows, j] = np.clip(quality[rows, j] * float(spec.value), 0, 1)
    elif spec.signal == "quality":
        if spec.value not in log.models:
            raise InvalidInput(f"drift replaces quality with unknown model {spec.value!r}")
        quality[rows, j] = log.quality[rows, log.models.index(spec.value)]
    elif spec.signal == "latency":
        if latency is None:
            raise InvalidInput("a latency drift needs a log with latencies")
        latency[rows, j] *= float(spec.value)
    else:
        rate = float(spec.value)
        failed = rows[np.random.default_rng(seed).random(rows.size) < rate]
        errors[failed, j] = True
        quality[failed, j] = 0.0
    changed = OutcomeLog(
        log.prompts, log.tasks, log.models, quality, log.cost, latency, log.prompt_ids
    )
    return changed, errors


def _regret_after(
    log: OutcomeLog,
    chosen: np.ndarray,
    order: np.ndarray,
    start: int,
    end: int | None,
    cost_weight: float,
) -> float:
    regret = regret_per_prompt(log.quality, log.cost, chosen, cost_weight)
    return float(regret[order[start:end]].sum())


def drift_report(
    stream: Stream,
    models: list[ModelProfile],
    spec: DriftSpec,
    seeds: int,
    cost_weight: float,
) -> DriftReport:
    """Run every strategy on the drifted and on the unchanged stream; the JSON ``drift`` part."""
    log, n = stream.log, stream.log.n_prompts
    j = log.models.index(spec.model) if spec.model in log.models else -1
    detected: list[DriftDetection] = []
    delay: list[int | None] = []
    false_resets: list[int] = []
    false_stationary: list[int] = []
    shares: list[TrafficShare] = []
    restored_after: list[int | None] = []
    regrets: dict[str, list[float]] = {v: [] for v in DRIFT_VARIANTS}
    still: dict[str, list[float]] = {v: [] for v in DRIFT_VARIANTS}
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(n)
        changed, errors = inject(log, order, spec, seed)
        drifted = Stream(changed, stream.embeddings)
        for name, make in DRIFT_VARIANTS.items():
            for target, store, stationary in ((drifted, regrets, False), (stream, still, True)):
                policy, monitor = make(seed)
                events: list[DriftEvent] = []
                chosen = run_engine(
                    policy,
                    models,
                    target,
                    order,
                    cost_weight,
                    drift=monitor,
                    errors=None if stationary else errors,
                    events=events,
                )
                # the same window of positions on both streams: comparable regrets
                store[name].append(
                    _regret_after(target.log, chosen, order, spec.start, spec.end, cost_weight)
                )
                if name != "detect_reset":
                    continue
                if stationary:
                    false_stationary.append(len(events))
                    continue
                hits = [
                    e
                    for e in events
                    if e.model == spec.model
                    and e.step > spec.start
                    and e.signal in ("quality", "errors")
                ]
                detected += [DriftDetection(seed, e.model, e.signal, e.step) for e in events]
                rises = [
                    e
                    for e in events
                    if spec.end is not None
                    and e.model == spec.model
                    and e.step > spec.end
                    and e.signal == "quality"
                    and e.mean_after > e.mean_before
                ]
                if spec.end is not None:  # decisions after the restoration until it was seen
                    after = [e.step - spec.end for e in rises]
                    restored_after.append(after[0] if after else None)
                false_resets.append(len(events) - min(len(hits), 1) - len(rises))
                if hits:
                    routed = chosen[order[spec.start : hits[0].step]] == j
                    delay.append(int(routed.sum()))
                else:
                    delay.append(None)
                if spec.end is not None:
                    before = np.mean(chosen[order[max(0, spec.start - 300) : spec.start]] == j)
                    tail = np.mean(chosen[order[max(spec.end, n - 300) :]] == j)
                    shares.append(TrafficShare(seed, float(before), float(tail)))
    return DriftReport(
        injected=spec,
        cost_weight=cost_weight,
        detected=tuple(detected),
        delay_decisions=tuple(delay),
        false_resets=tuple(false_resets),
        false_resets_stationary=tuple(false_stationary),
        post_change_regret={k: float(np.mean(v)) for k, v in regrets.items()},
        stationary_regret={k: float(np.mean(v)) for k, v in still.items()},
        recovered_share=tuple(shares),
        restoration_detected_after=tuple(restored_after),
        decisions_per_seed=n,
    )
