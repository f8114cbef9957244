"""Routing-quality metrics: RouterBench's AIQ, RouteLLM's APGR and CPT.

AIQ (RouterBench, arXiv 2403.12031, evaluation/AIQ.py): take a router's (mean cost, mean quality)
points over a willingness-to-pay sweep, keep the non-decreasing upper convex hull, extend it flat
to the largest cost among all compared routers, integrate from the router's own cheapest point
and divide by that largest cost.

>>> import numpy as np
>>> from banditroute.replay.metrics import aiq, upper_hull
>>> upper_hull(np.array([[1.0, 0.5], [2.0, 0.55], [3.0, 0.9], [4.0, 0.8]])).tolist()
[[1.0, 0.5], [3.0, 0.9]]
>>> [round(a, 3) for a in aiq([np.array([[1.0, 0.5], [3.0, 0.9]]), np.array([[4.0, 1.0]])])]
[0.575, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["aiq", "apgr", "cpt", "regret_per_prompt", "upper_hull"]


def upper_hull(points: np.ndarray) -> np.ndarray:
    """The non-decreasing upper convex hull of (cost, quality) points, sorted by cost."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError("points must be a non-empty (n, 2) array")
    # Sort by cost, and for equal cost keep the best quality only.
    pts = pts[np.lexsort((-pts[:, 1], pts[:, 0]))]
    pts = pts[np.r_[True, np.diff(pts[:, 0]) > 0]]
    hull: list[np.ndarray] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the chord
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    out = np.array(hull)
    top = int(np.argmax(out[:, 1]))
    return out[: top + 1]


def aiq(point_sets: Sequence[np.ndarray]) -> list[float]:
    """AIQ of each router, given each router's (cost, quality) points (compared together)."""
    hulls = [upper_hull(p) for p in point_sets]
    max_cost = max(float(h[:, 0].max()) for h in hulls)
    if max_cost <= 0:
        return [float(h[:, 1].max()) for h in hulls]
    out = []
    for h in hulls:
        extended = np.vstack([h, [max_cost, h[-1, 1]]])
        out.append(float(np.trapezoid(extended[:, 1], extended[:, 0]) / max_cost))
    return out


def _pgr_curve(
    strong_share: np.ndarray, quality: np.ndarray, weak_q: float, strong_q: float
) -> tuple[np.ndarray, np.ndarray]:
    """PGR as a non-decreasing function of the share of calls to the strong model, on [0, 1]."""
    gap = strong_q - weak_q
    if gap <= 0:
        raise ValueError("the strong model must have higher quality than the weak one")
    share = np.r_[0.0, strong_share, 1.0]
    pgr = np.r_[0.0, (quality - weak_q) / gap, 1.0]
    order = np.lexsort((-pgr, share))
    share, pgr = share[order], np.maximum.accumulate(pgr[order])
    return share, pgr


def apgr(strong_share: np.ndarray, quality: np.ndarray, weak_q: float, strong_q: float) -> float:
    """Average performance gap recovered (RouteLLM): area under PGR vs strong-call share.

    >>> round(apgr(np.array([0.5]), np.array([0.75]), weak_q=0.5, strong_q=1.0), 3)
    0.5
    """
    share, pgr = _pgr_curve(np.asarray(strong_share), np.asarray(quality), weak_q, strong_q)
    return float(np.trapezoid(pgr, share))


def cpt(
    strong_share: np.ndarray,
    quality: np.ndarray,
    weak_q: float,
    strong_q: float,
    target: float = 0.5,
) -> float:
    """Call-performance threshold (RouteLLM): smallest strong-call share reaching ``target`` PGR.

    >>> cpt(np.array([0.2, 0.6]), np.array([0.6, 0.9]), weak_q=0.5, strong_q=1.0)
    0.4
    """
    share, pgr = _pgr_curve(np.asarray(strong_share), np.asarray(quality), weak_q, strong_q)
    above = np.nonzero(pgr >= target)[0]
    j = int(above[0])
    if j == 0:
        return float(share[0])
    x0, x1, y0, y1 = share[j - 1], share[j], pgr[j - 1], pgr[j]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 > y0 else float(x1)


def regret_per_prompt(
    quality: np.ndarray, cost: np.ndarray, chosen: np.ndarray, cost_weight: float
) -> np.ndarray:
    """Oracle reward minus achieved reward per prompt, reward = quality − cost_weight·cost.

    ``chosen`` holds a model column per prompt, shaped (..., n_prompts).

    >>> regret_per_prompt(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros((2, 2)),
    ...                   np.array([0, 0]), 0.0).tolist()
    [0.0, 1.0]
    """
    reward = quality - cost_weight * cost
    return reward.max(axis=1) - reward[np.arange(reward.shape[0]), chosen]
