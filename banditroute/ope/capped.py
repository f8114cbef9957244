"""Estimators for logs with little overlap: switch-DR and clipped (weight-capped) DR.

With w_i = π(a_i | x_i) / p_i, r_i the logged reward and q̂ a reward model's predictions, both
keep the direct-method term Σ_k π(k | x_i)·q̂(x_i, k) and correct it with g(w_i)·(r_i − q̂_i):

- switch-DR: g(w) = w when w ≤ τ, else 0 (the reward model alone where the weight is large;
  τ = ∞ is DR, τ = 0 the direct method);
- clipped DR: g(w) = min(w, M).

The interval does not trust the reward model. Since E[g(w)·(r − r_min)] only sees the part of
the target's choices that g reaches, V ≥ E[l_i] with l_i = r_min + g(w_i)·(r_i − r_min) and
V ≤ E[u_i] with u_i = r_max − g(w_i)·(r_max − r_i) (the rest is filled with the worst and best
reward; exact when g ≤ w, for any logging policy). The (1 − α) interval is
[mean(l) − z·se(l), mean(u) + z·se(u)] with z = z_{1−α/2} (ends swapped if they cross, as a
few huge weights can make them), cut to [r_min, r_max]: its width is
the variance plus the share of the target the capped weights cannot reach (``uncovered``),
which this bias bound states rather than hides.

Rule for τ and M (never the benchmark's truth): the value, among the logged weights' quantiles,
that minimises this interval's estimated width before the cut; a log that supports the target
well gets a high cap (little bias, the width is variance), a poor one a low cap (the width is
the bias bound).
``reward_range`` defaults to the smallest and largest logged reward; the point estimate is cut
to it too.

>>> import numpy as np
>>> from banditroute.ope.logged import LoggedBandit
>>> logged = LoggedBandit.from_arrays(np.ones((4, 1)), [0, 1, 0, 1], [0.5] * 4,
...                                   [1.0, 0.0, 1.0, 0.0], ["a", "b"])
>>> target = np.tile([1.0, 0.0], (4, 1))  # always "a"; weights 2 and 0
>>> e = clipped_dr(logged, target, cap=2.0, predictions=np.full((4, 2), 0.5))
>>> e.value, e.uncovered
(1.0, 0.0)
>>> switch_dr(logged, target, threshold=0.0, predictions=np.full((4, 2), 0.5)).value
0.5
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from ..errors import check_number, invalid
from .estimators import Estimate, _predictions, _weights
from .logged import LoggedBandit
from .reward_model import CrossFitRidge

__all__ = ["CANDIDATE_CAPS", "choose_cap", "clipped_dr", "switch_dr"]

CANDIDATE_CAPS = 64  #: number of weight quantiles tried by the cap rule


def _transform(w: np.ndarray, cap: float, switch: bool) -> np.ndarray:
    if switch:
        return np.where(w <= cap, w, 0.0)
    return np.minimum(w, cap)


def _check_range(
    logged: LoggedBandit, reward_range: tuple[float, float] | None
) -> tuple[float, float]:
    if reward_range is None:
        return float(logged.rewards.min()), float(logged.rewards.max())
    try:
        low, high = (float(v) for v in reward_range)
    except (TypeError, ValueError):
        raise invalid("reward_range", reward_range, "(low, high)") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise invalid("reward_range", reward_range, "finite (low, high) with low <= high")
    if logged.rewards.min() < low or logged.rewards.max() > high:
        raise invalid("reward_range", reward_range, "a range holding every logged reward")
    return low, high


def _bounds(
    g: np.ndarray, rewards: np.ndarray, low: float, high: float, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) ends of the interval for each column of ``g`` (n, C), not yet cut."""
    r = rewards[:, None]
    lower_terms = low + g * (r - low)
    upper_terms = high - g * (high - r)
    n = g.shape[0]
    if n < 2:
        se_l = se_u = np.full(g.shape[1], np.inf)
    else:
        se_l = lower_terms.std(axis=0, ddof=1) / math.sqrt(n)
        se_u = upper_terms.std(axis=0, ddof=1) / math.sqrt(n)
    return lower_terms.mean(axis=0) - z * se_l, upper_terms.mean(axis=0) + z * se_u


def choose_cap(
    weights: np.ndarray,
    rewards: np.ndarray,
    alpha: float = 0.1,
    reward_range: tuple[float, float] = (0.0, 1.0),
    switch: bool = False,
) -> float:
    """The cap (M, or τ when ``switch``) among the weights' quantiles with the narrowest interval.

    >>> w = np.array([0.5, 1.0, 1.5, 40.0])
    >>> choose_cap(w, np.array([0.2, 0.4, 0.6, 0.8]))
    1.5
    """
    w = np.asarray(weights, dtype=np.float64)
    positive = w[w > 0]
    if positive.size == 0:
        return 0.0
    caps = np.unique(np.quantile(positive, np.linspace(0, 1, CANDIDATE_CAPS)))
    z = NormalDist().inv_cdf(1 - alpha / 2)
    g = np.where(w[:, None] <= caps, w[:, None], 0.0 if switch else caps)
    lower, upper = _bounds(g, np.asarray(rewards, dtype=np.float64), *reward_range, z)
    return float(caps[int(np.argmin(upper - lower))])


def _capped(
    method: str,
    switch: bool,
    logged: LoggedBandit,
    probabilities: np.ndarray,
    alpha: float,
    cap: float | None,
    predictions: np.ndarray | None,
    reward_model: CrossFitRidge | None,
    reward_range: tuple[float, float] | None,
) -> Estimate:
    alpha = check_number("alpha", alpha, 0, 1, above=True)
    if alpha >= 1:
        raise invalid("alpha", alpha, "in (0, 1)")
    w = _weights(logged, probabilities, None)
    low, high = _check_range(logged, reward_range)
    if cap is None:
        cap = choose_cap(w, logged.rewards, alpha, (low, high), switch)
    elif not (cap == math.inf or check_number("cap", cap, 0) >= 0):
        raise invalid("cap", cap, "a number >= 0 or math.inf")
    q = _predictions(logged, predictions, reward_model)
    p = np.asarray(probabilities, dtype=np.float64)
    g = _transform(w, cap, switch)
    chosen = q[np.arange(logged.n), logged.actions]
    terms = (p * q).sum(axis=1) + g * (logged.rewards - chosen)
    n = logged.n
    se = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    z = NormalDist().inv_cdf(1 - alpha / 2)
    ends = sorted(float(e[0]) for e in _bounds(g[:, None], logged.rewards, low, high, z))
    value = float(np.clip(terms.mean(), low, high))  # the value cannot leave the reward range
    return Estimate(
        method,
        value,
        min(max(ends[0], low), value),
        max(min(ends[1], high), value),
        se,
        alpha,
        n,
        logged.left_out.total,
        cap=float(cap),
        uncovered=float(1.0 - g.mean()),
    )


def clipped_dr(
    logged: LoggedBandit,
    probabilities: np.ndarray,
    alpha: float = 0.1,
    cap: float | None = None,
    predictions: np.ndarray | None = None,
    reward_model: CrossFitRidge | None = None,
    reward_range: tuple[float, float] | None = None,
) -> Estimate:
    """DR with the importance weights capped at ``cap`` (default: the module's rule).

    ``predictions`` (n, K) are the reward model's (default: ``reward_model``, itself
    `CrossFitRidge()` by default, fitted on ``logged``); the interval holds the cap's bias bound.
    """
    return _capped(
        "clipped_dr", False, logged, probabilities, alpha, cap, predictions, reward_model,
        reward_range,
    )  # fmt: skip


def switch_dr(
    logged: LoggedBandit,
    probabilities: np.ndarray,
    alpha: float = 0.1,
    threshold: float | None = None,
    predictions: np.ndarray | None = None,
    reward_model: CrossFitRidge | None = None,
    reward_range: tuple[float, float] | None = None,
) -> Estimate:
    """Switch-DR: the reward model alone on rows whose weight exceeds ``threshold`` (τ).

    τ = math.inf is `dr`, τ = 0 the direct method; default τ: the module's rule.
    """
    return _capped(
        "switch_dr", True, logged, probabilities, alpha, threshold, predictions, reward_model,
        reward_range,
    )  # fmt: skip
