"""Turn a `ReplayResult` into figures: points per λ, AIQ ± spread, regret, per task; JSON,
a markdown table and a cost–quality plot.

>>> from banditroute.synthetic import make_workload
>>> from banditroute.features import HashingEmbedder
>>> from banditroute.replay.runner import ReplaySettings, prepare, replay
>>> log, models = make_workload(150, seed=0)
>>> stream = prepare(log, HashingEmbedder(64), "h", cache_dir=None, progress=False)
>>> result = replay(stream, models, ReplaySettings(lambdas=(0.0, 5.0), seeds=2,
...                 policies=("thompson",)), progress=False)
>>> summary = summarize(result)
>>> sorted(summary["policies"])
['oracle', 'thompson', 'zero']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .metrics import aiq, apgr, cpt, regret_per_prompt, upper_hull
from .runner import ReplayResult

__all__ = ["plot_frontiers", "summarize", "to_markdown"]


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


def _section(result: ReplayResult, rows: np.ndarray) -> dict[str, Any]:
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
    section: dict[str, Any] = {"policies": {}}
    for n in names:
        mean_pts = points[n].mean(axis=1)
        regret = _regret(result, result.choices[n], rows)
        section["policies"][n] = {
            "aiq": float(np.mean(per_seed[n])),
            "aiq_std": float(np.std(per_seed[n])),
            "aiq_per_seed": per_seed[n],
            "points": [
                {"lambda": lam, "quality": float(qc[1]), "cost": float(qc[0])}
                for lam, qc in zip(result.lambdas, mean_pts, strict=True)
            ],
            "regret": float(regret.mean()),
            "regret_by_lambda": [float(v) for v in regret.mean(axis=1)],
        }
    section["policies"]["zero"] = {
        "aiq": float(np.mean(per_seed["zero"])),
        "aiq_std": 0.0,
        "points": [
            {"model": m, "quality": float(singles[j, 1]), "cost": float(singles[j, 0])}
            for j, m in enumerate(result.log.models)
        ],
    }
    return section


def _two_model_metrics(result: ReplayResult, summary: dict[str, Any]) -> None:
    """APGR and CPT(50%) per policy when the log has exactly two models (RouteLLM)."""
    q_mean = result.log.quality.mean(axis=0)
    strong = int(np.argmax(q_mean))
    weak_q, strong_q = float(q_mean[1 - strong]), float(q_mean[strong])
    if strong_q <= weak_q:
        return
    for name, choices in result.choices.items():
        share = (choices == strong).mean(axis=2).mean(axis=1)
        pts = summary["policies"][name]["points"]
        quality = np.array([p["quality"] for p in pts])
        summary["policies"][name]["apgr"] = apgr(share, quality, weak_q, strong_q)
        summary["policies"][name]["cpt50"] = cpt(share, quality, weak_q, strong_q)


def summarize(result: ReplayResult, dropped_missing_quality: int = 0) -> dict[str, Any]:
    """Everything the JSON report holds."""
    log = result.log
    everything = np.arange(log.n_prompts)
    summary: dict[str, Any] = {
        "n_prompts": log.n_prompts,
        "models": log.models,
        "lambdas": list(result.lambdas),
        "cost_scale": result.cost_scale,
        "dropped_missing_quality": dropped_missing_quality,
        **_section(result, everything),
        "skipped": result.skipped,
        "seconds": result.seconds,
    }
    tasks = np.array(log.tasks)
    if len(set(log.tasks)) > 1:
        for task in sorted(set(log.tasks)):
            by_task = _section(result, np.nonzero(tasks == task)[0])["policies"]
            for name, figures in by_task.items():
                summary["policies"][name].setdefault("by_task", {})[task] = figures
    if len(log.models) == 2:
        _two_model_metrics(result, summary)
    return summary


def to_markdown(summary: dict[str, Any]) -> str:
    """The terminal summary: one row per router, best AIQ first."""
    rows = sorted(summary["policies"].items(), key=lambda kv: -kv[1]["aiq"])
    tasks = sorted(next(iter(summary["policies"].values())).get("by_task", {}))
    head = "| router | AIQ | ± sd | quality @λ=0 | cost @λ=0 | regret |" + "".join(
        f" AIQ {t} |" for t in tasks
    )
    lines = [
        f"{summary['n_prompts']} prompts, {len(summary['models'])} models, "
        f"{len(summary['lambdas'])} λ values",
        "",
        head,
        "|---" * (6 + len(tasks)) + "|",
    ]
    for name, f in rows:
        first = f["points"][0] if name != "zero" else max(f["points"], key=lambda p: p["quality"])
        regret = f"{f['regret']:.1f}" if "regret" in f else "—"
        extra = "".join(f" {f['by_task'][t]['aiq']:.3f} |" for t in tasks if "by_task" in f)
        lines.append(
            f"| {name} | {f['aiq']:.3f} | {f['aiq_std']:.3f} | {first['quality']:.3f} | "
            f"{first['cost']:.2e} | {regret} |{extra}"
        )
    for name, why in summary.get("skipped", {}).items():
        lines.append(f"\n{name} skipped: {why}")
    return "\n".join(lines)


def plot_frontiers(summary: dict[str, Any], path: str | Path) -> None:
    """Every router's cost–quality points over λ, single models as labelled dots.

    Drawn on a standalone figure (no pyplot), so it neither needs a display nor changes the
    caller's matplotlib backend.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    for name, f in summary["policies"].items():
        if name == "zero":
            for p in f["points"]:
                ax.scatter(p["cost"], p["quality"], color="grey", s=25, zorder=3)
                ax.annotate(
                    p["model"].split("/")[-1],
                    (p["cost"], p["quality"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                    color="dimgrey",
                )
            hull = upper_hull(np.array([[p["cost"], p["quality"]] for p in f["points"]]))
            ax.plot(
                hull[:, 0],
                hull[:, 1],
                color="grey",
                linestyle="--",
                label=f"zero: best single models (AIQ {f['aiq']:.3f})",
            )
            continue
        pts = sorted(f["points"], key=lambda p: p["cost"])
        ax.plot(
            [p["cost"] for p in pts],
            [p["quality"] for p in pts],
            marker="o",
            ms=3,
            label=f"{name} (AIQ {f['aiq']:.3f})",
        )
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per prompt (USD, log scale)")
    ax.set_ylabel("mean quality")
    ax.set_title(f"Cost–quality frontier, {summary['n_prompts']} prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
