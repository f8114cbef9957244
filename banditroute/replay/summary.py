"""The figures of a replay run, typed: what `summarize` returns and ``replay --json`` writes.

`ReplaySummary.to_json` rebuilds the JSON report (keys in a fixed order; routers under
``"policies"`` with the single-model baseline last, as ``"zero"``); `ReplaySummary.to_markdown`
is the table the command prints.

>>> point = FrontierPoint(lam=0.0, quality=0.8, cost=0.002)
>>> figures = RouterFigures(aiq=0.7, aiq_std=0.01, aiq_per_seed=(0.69, 0.71),
...                         points=(point,), regret=4.0, regret_by_lambda=(4.0,))
>>> zero = SingleModels(aiq=0.6, points=(ModelPoint("m", 0.8, 0.002),))
>>> summary = ReplaySummary(n_prompts=10, models=("m",), lambdas=(0.0,), cost_scale=0.002,
...                         dropped_missing_quality=0, routers={"thompson": figures}, zero=zero)
>>> list(summary.to_json()["policies"])
['thompson', 'zero']
>>> print(summary.to_markdown().splitlines()[-1])
| zero | 0.600 | 0.000 | 0.800 | 2.00e-03 | — |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .drift_result import DriftReport

__all__ = ["FrontierPoint", "ModelPoint", "ReplaySummary", "RouterFigures", "SingleModels"]


@dataclass(frozen=True)
class FrontierPoint:
    """A router's mean cost (USD per prompt) and mean quality at one willingness to pay λ."""

    lam: float
    quality: float
    cost: float

    def to_json(self) -> dict[str, Any]:
        """``{"lambda", "quality", "cost"}``."""
        return {"lambda": self.lam, "quality": self.quality, "cost": self.cost}


@dataclass(frozen=True)
class ModelPoint:
    """One model's mean cost and quality when it answers every prompt."""

    model: str
    quality: float
    cost: float

    def to_json(self) -> dict[str, Any]:
        """``{"model", "quality", "cost"}``."""
        return {"model": self.model, "quality": self.quality, "cost": self.cost}


@dataclass(frozen=True)
class RouterFigures:
    """One router's figures over the λ sweep (means over seeds).

    Parameters
    ----------
    aiq, aiq_std : float
        Mean and standard deviation over seeds of the AIQ (area under the cost–quality hull).
    aiq_per_seed : tuple of float
        The AIQ of each seed.
    points : tuple of FrontierPoint
        Mean cost and quality at each λ, in the order of the sweep.
    regret, regret_by_lambda : float, tuple of float
        Cumulative regret against the per-λ oracle: mean over λ and seeds, and per λ.
    by_task : mapping of str to RouterFigures
        The same figures on each task's prompts (empty when the log has one task).
    apgr, cpt50 : float or None
        RouteLLM's APGR and CPT(50%), only for logs of exactly two models.
    """

    aiq: float
    aiq_std: float
    aiq_per_seed: tuple[float, ...]
    points: tuple[FrontierPoint, ...]
    regret: float
    regret_by_lambda: tuple[float, ...]
    by_task: Mapping[str, RouterFigures] = field(default_factory=dict)
    apgr: float | None = None
    cpt50: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The router's entry under ``"policies"``."""
        out: dict[str, Any] = {
            "aiq": self.aiq,
            "aiq_std": self.aiq_std,
            "aiq_per_seed": list(self.aiq_per_seed),
            "points": [p.to_json() for p in self.points],
            "regret": self.regret,
            "regret_by_lambda": list(self.regret_by_lambda),
        }
        if self.by_task:
            out["by_task"] = {t: f.to_json() for t, f in self.by_task.items()}
        if self.apgr is not None:
            out["apgr"] = self.apgr
        if self.cpt50 is not None:
            out["cpt50"] = self.cpt50
        return out


@dataclass(frozen=True)
class SingleModels:
    """The "zero" router: every model on its own (its AIQ is that of the best mixtures).

    Parameters
    ----------
    aiq : float
        AIQ of the models' upper hull (no spread: it does not depend on a seed).
    points : tuple of ModelPoint
        Each model's mean cost and quality, in the log's model order.
    by_task : mapping of str to SingleModels
        The same on each task's prompts (empty when the log has one task).
    """

    aiq: float
    points: tuple[ModelPoint, ...]
    by_task: Mapping[str, SingleModels] = field(default_factory=dict)

    @property
    def aiq_std(self) -> float:
        """Always 0.0: the single models are not random."""
        return 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``"zero"`` entry under ``"policies"``."""
        out: dict[str, Any] = {
            "aiq": self.aiq,
            "aiq_std": self.aiq_std,
            "points": [p.to_json() for p in self.points],
        }
        if self.by_task:
            out["by_task"] = {t: f.to_json() for t, f in self.by_task.items()}
        return out


@dataclass(frozen=True)
class ReplaySummary:
    """Everything a replay run measured, and what it ran on.

    Parameters
    ----------
    n_prompts : int
        Prompts routed.
    models, lambdas : tuple
        The log's models and the λ sweep.
    cost_scale : float
        The cost unit of the reward (largest per-model mean cost).
    dropped_missing_quality : int
        Log rows dropped because a model's quality was missing.
    routers : mapping of str to RouterFigures
        Every router run, in run order, the oracle last.
    zero : SingleModels
        The single-model baseline.
    skipped : mapping of str to str
        Routers not run, and why.
    seconds : mapping of str to float
        Wall-clock seconds each router took.
    drift : DriftReport or None
        The injected-drift measurement, when one was asked for.
    warm_start, data : tuple of str or None
        The files learned from and routed (None: not recorded).
    embedder : str or None
        Name of the prompt embedder (None: not recorded).
    """

    n_prompts: int
    models: tuple[str, ...]
    lambdas: tuple[float, ...]
    cost_scale: float
    dropped_missing_quality: int
    routers: Mapping[str, RouterFigures]
    zero: SingleModels
    skipped: Mapping[str, str] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    drift: DriftReport | None = None
    warm_start: tuple[str, ...] | None = None
    data: tuple[str, ...] | None = None
    embedder: str | None = None

    @property
    def oracle(self) -> RouterFigures:
        """The oracle's figures (the best model per prompt, in hindsight)."""
        return self.routers["oracle"]

    @property
    def tasks(self) -> list[str]:
        """The tasks figures are broken down by (sorted; empty for a one-task log)."""
        first = next(iter(self.routers.values()), self.zero)
        return sorted(first.by_task)

    def to_json(self) -> dict[str, Any]:
        """The JSON report (``banditroute replay --json``)."""
        policies: dict[str, Any] = {n: f.to_json() for n, f in self.routers.items()}
        policies["zero"] = self.zero.to_json()
        out: dict[str, Any] = {
            "n_prompts": self.n_prompts,
            "models": list(self.models),
            "lambdas": list(self.lambdas),
            "cost_scale": self.cost_scale,
            "dropped_missing_quality": self.dropped_missing_quality,
            "policies": policies,
            "skipped": dict(self.skipped),
            "seconds": dict(self.seconds),
        }
        if self.drift is not None:
            out["drift"] = self.drift.to_json()
        if self.warm_start is not None:
            out["warm_start"] = list(self.warm_start)
        if self.data is not None:
            out["data"] = list(self.data)
        if self.embedder is not None:
            out["embedder"] = self.embedder
        return out

    def to_markdown(self) -> str:
        """The terminal summary: one row per router, best AIQ first; then the drift section."""
        named: list[tuple[str, RouterFigures | SingleModels]] = [*self.routers.items()]
        named.append(("zero", self.zero))
        rows = sorted(named, key=lambda kv: -kv[1].aiq)
        tasks = self.tasks
        head = "| router | AIQ | ± sd | quality @λ=0 | cost @λ=0 | regret |" + "".join(
            f" AIQ {t} |" for t in tasks
        )
        lines = [
            f"{self.n_prompts} prompts, {len(self.models)} models, {len(self.lambdas)} λ values",
            "",
            head,
            "|---" * (6 + len(tasks)) + "|",
        ]
        for name, f in rows:
            if isinstance(f, SingleModels):
                first: FrontierPoint | ModelPoint = max(f.points, key=lambda p: p.quality)
                regret = "—"
            else:
                first, regret = f.points[0], f"{f.regret:.1f}"
            extra = "".join(f" {f.by_task[t].aiq:.3f} |" for t in tasks if f.by_task)
            lines.append(
                f"| {name} | {f.aiq:.3f} | {f.aiq_std:.3f} | {first.quality:.3f} | "
                f"{first.cost:.2e} | {regret} |{extra}"
            )
        for name, why in self.skipped.items():
            lines.append(f"\n{name} skipped: {why}")
        text = "\n".join(lines)
        return text if self.drift is None else f"{text}\n{self.drift.to_markdown()}"
