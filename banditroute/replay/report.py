"""Turn a `ReplayResult` into figures (a typed `ReplaySummary`: points per λ, AIQ ± spread,
regret, per task; its JSON and markdown table) and a cost–quality plot.

>>> from banditroute.synthetic import make_workload
>>> from banditroute.features import HashingEmbedder
>>> from banditroute.replay.runner import ReplaySettings, prepare, replay
>>> log, models = make_workload(150, seed=0)
>>> stream = prepare(log, HashingEmbedder(64), "h", cache_dir=None, progress=False)
>>> result = replay(stream, models, ReplaySettings(lambdas=(0.0, 5.0), seeds=2,
...                 policies=("thompson",)), progress=False)
>>> summary = summarize(result)
>>> sorted(summary.routers), summary.zero.points[0].model
(['oracle', 'thompson'], 'frontier-xl')
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .metrics import aiq, apgr, cpt, regret_per_prompt, upper_hull
from .runner import ReplayResult
from .summary import FrontierPoint, ModelPoint, ReplaySummary, RouterFigures, SingleModels

__all__ = ["ReplaySummary", "plot_frontiers", "summarize"]


def _points(result: ReplayResult, choices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(n_lambdas, n_seeds, 2): mean cost and quality of each run over ``rows``."""
    q, c = result.log.quality[rows], result.log.cost[rows]
    picked = choices[:, :, rows]
    r = np.arange(rows.size)
    quality = q[r, picked]  # broadcasts over (λ, seed, prompt)
    cost = c[r, picked]
    return np.stack([cost.mean(axis=2), quality.mean(axis=2)], axis=-1)


def _regret(result: ReplayResult, choices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(n_lambdas, n_seeds): cumulative regret against the per-λ oracle over ``rows``."""
    q, c = result.log.quality[rows], result.log.cost[rows]
    out = np.empty(choices.shape[:2])
    for li, lam in enumerate(result.lambdas):
        weight = lam / result.cost_scale
        out[li] = regret_per_prompt(q, c, choices[li][:, rows], weight).sum(axis=-1)
    return out


def _section(
    result: ReplayResult, rows: np.ndarray
) -> tuple[dict[str, RouterFigures], SingleModels]:
    names = [n for n in result.choices]
    points = {n: _points(result, result.choices[n], rows) for n in names}
    singles = np.stack(
        [result.log.cost[rows].mean(axis=0), result.log.quality[rows].mean(axis=0)], axis=1
    )
    seeds = max(p.shape[1] for p in points.values())
    # AIQ per seed, all routers compared together (same largest cost), then mean and spread.
    per_seed: dict[str, list[float]] = {n: [] for n in [*names, "zero"]}
    for s in range(seeds):
        sets = [points[n][:, min(s, points[n].shape[1] - 1)] for n in names] + [singles]
        for n, value in zip([*names, "zero"], aiq(sets), strict=True):
            per_seed[n].append(value)
    routers: dict[str, RouterFigures] = {}
    for n in names:
        mean_pts = points[n].mean(axis=1)
        regret = _regret(result, result.choices[n], rows)
        routers[n] = RouterFigures(
            aiq=float(np.mean(per_seed[n])),
            aiq_std=float(np.std(per_seed[n])),
            aiq_per_seed=tuple(per_seed[n]),
            points=tuple(
                FrontierPoint(lam, float(qc[1]), float(qc[0]))
                for lam, qc in zip(result.lambdas, mean_pts, strict=True)
            ),
            regret=float(regret.mean()),
            regret_by_lambda=tuple(float(v) for v in regret.mean(axis=1)),
        )
    zero = SingleModels(
        aiq=float(np.mean(per_seed["zero"])),
        points=tuple(
            ModelPoint(m, float(singles[j, 1]), float(singles[j, 0]))
            for j, m in enumerate(result.log.models)
        ),
    )
    return routers, zero


def _two_model_metrics(
    result: ReplayResult, routers: dict[str, RouterFigures]
) -> dict[str, RouterFigures]:
    """APGR and CPT(50%) per policy when the log has exactly two models (RouteLLM)."""
    q_mean = result.log.quality.mean(axis=0)
    strong = int(np.argmax(q_mean))
    weak_q, strong_q = float(q_mean[1 - strong]), float(q_mean[strong])
    if strong_q <= weak_q:
        return routers
    out = dict(routers)
    for name, choices in result.choices.items():
        share = (choices == strong).mean(axis=2).mean(axis=1)
        quality = np.array([p.quality for p in routers[name].points])
        out[name] = replace(
            routers[name],
            apgr=apgr(share, quality, weak_q, strong_q),
            cpt50=cpt(share, quality, weak_q, strong_q),
        )
    return out


def summarize(result: ReplayResult, dropped_missing_quality: int = 0) -> ReplaySummary:
    """Every figure of the run (what the JSON report holds, see `ReplaySummary.to_json`)."""
    log = result.log
    routers, zero = _section(result, np.arange(log.n_prompts))
    tasks = np.array(log.tasks)
    if len(set(log.tasks)) > 1:
        by_task = {
            task: _section(result, np.nonzero(tasks == task)[0]) for task in sorted(set(log.tasks))
        }
        routers = {
            n: replace(f, by_task={t: s[0][n] for t, s in by_task.items()})
            for n, f in routers.items()
        }
        zero = replace(zero, by_task={t: s[1] for t, s in by_task.items()})
    if len(log.models) == 2:
        routers = _two_model_metrics(result, routers)
    return ReplaySummary(
        n_prompts=log.n_prompts,
        models=tuple(log.models),
        lambdas=tuple(result.lambdas),
        cost_scale=result.cost_scale,
        dropped_missing_quality=dropped_missing_quality,
        routers=routers,
        zero=zero,
        skipped=dict(result.skipped),
        seconds=dict(result.seconds),
    )


def plot_frontiers(summary: ReplaySummary, path: str | Path) -> None:
    """Every router's cost–quality points over λ, single models as labelled dots.

    Drawn on a standalone figure (no pyplot), so it neither needs a display nor changes the
    caller's matplotlib backend.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    for name, f in summary.routers.items():
        pts = sorted(f.points, key=lambda p: p.cost)
        ax.plot(
            [p.cost for p in pts],
            [p.quality for p in pts],
            marker="o",
            ms=3,
            label=f"{name} (AIQ {f.aiq:.3f})",
        )
    zero = summary.zero
    for m in zero.points:
        ax.scatter(m.cost, m.quality, color="grey", s=25, zorder=3)
        ax.annotate(
            m.model.split("/")[-1],
            (m.cost, m.quality),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            color="dimgrey",
        )
    hull = upper_hull(np.array([[m.cost, m.quality] for m in zero.points]))
    ax.plot(
        hull[:, 0],
        hull[:, 1],
        color="grey",
        linestyle="--",
        label=f"zero: best single models (AIQ {zero.aiq:.3f})",
    )
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per prompt (USD, log scale)")
    ax.set_ylabel("mean quality")
    ax.set_title(f"Cost–quality frontier, {summary.n_prompts} prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
