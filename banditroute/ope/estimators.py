"""IPS, self-normalised IPS and doubly robust estimates of a target policy's mean reward.

With w_i = π(a_i | x_i) / p_i (target probability of the logged choice over its logged
propensity), r_i the logged reward and q̂ a reward model's predictions:

- IPS: mean of w_i·r_i (unbiased when every model the target may pick had p > 0);
- SNIPS: Σ w_i·r_i / Σ w_i (a little biased, much less variable);
- DR: mean of Σ_k π(k | x_i)·q̂(x_i, k) + w_i·(r_i − q̂(x_i, a_i)) (unbiased if either the
  propensities or the reward model are right).

Intervals: normal approximation from the per-row terms, value ± z_{1−α/2}·sd(terms)/√n (for
SNIPS, the delta method: terms w_i·(r_i − V)/mean(w)). With an online logging policy the terms
are a martingale difference sequence, for which the same normal limit holds.

>>> import numpy as np
>>> from banditroute.ope.logged import LoggedBandit
>>> logged = LoggedBandit.from_arrays(np.ones((4, 1)), [0, 1, 0, 1], [0.5] * 4,
...                                   [1.0, 0.0, 1.0, 0.0], ["a", "b"])
>>> target = np.tile([1.0, 0.0], (4, 1))  # always "a"
>>> ips(logged, target).value, snips(logged, target).value
(1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import InvalidInput, check_number, invalid
from .logged import LoggedBandit
from .reward_model import CrossFitRidge

__all__ = ["METHODS", "Estimate", "dr", "ips", "snips"]

METHODS = ("ips", "snips", "dr", "switch_dr", "clipped_dr")  #: switch_dr, clipped_dr: capped.py


@dataclass(frozen=True)
class Estimate:
    """One estimate of a policy's mean reward per decision, with its (1 − α) interval."""

    method: str
    value: float
    low: float
    high: float
    std_error: float
    alpha: float
    n_used: int
    n_left_out: int
    cap: float | None = None  #: the weight cap (M) or switch threshold (τ), when one was used
    uncovered: float | None = None  #: estimated share of the target the capped weights miss

    def covers(self, truth: float) -> bool:
        """Whether the interval holds ``truth``."""
        return self.low <= truth <= self.high


def _weights(logged: LoggedBandit, probabilities: np.ndarray, clip: float | None) -> np.ndarray:
    if logged.n == 0:
        raise InvalidInput("no usable rows in the log: " + logged.left_out.describe())
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (logged.n, len(logged.models)):
        raise invalid("probabilities.shape", p.shape, str((logged.n, len(logged.models))))
    w = p[np.arange(logged.n), logged.actions] / logged.propensities
    if clip is not None:
        w = np.minimum(w, check_number("clip", clip, 0, above=True))
    return w


def _estimate(
    method: str, value: float, terms: np.ndarray, alpha: float, lg: LoggedBandit
) -> Estimate:
    alpha = check_number("alpha", alpha, 0, 1, above=True)
    if alpha >= 1:
        raise invalid("alpha", alpha, "in (0, 1)")
    n = terms.size
    se = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    half = NormalDist().inv_cdf(1 - alpha / 2) * se
    return Estimate(method, value, value - half, value + half, se, alpha, n, lg.left_out.total)


def ips(
    logged: LoggedBandit, probabilities: np.ndarray, alpha: float = 0.1, clip: float | None = None
) -> Estimate:
    """Inverse propensity scoring (weights capped at ``clip`` when given)."""
    terms = _weights(logged, probabilities, clip) * logged.rewards
    return _estimate("ips", float(terms.mean()), terms, alpha, logged)


def snips(
    logged: LoggedBandit, probabilities: np.ndarray, alpha: float = 0.1, clip: float | None = None
) -> Estimate:
    """Self-normalised IPS; a target the log never supports (all weights 0) is `InvalidInput`."""
    w = _weights(logged, probabilities, clip)
    total = float(w.sum())
    if total <= 0:
        raise InvalidInput("SNIPS is undefined: the target never picks a logged choice")
    value = float((w * logged.rewards).sum() / total)
    terms = w * (logged.rewards - value) / (total / logged.n)
    return _estimate("snips", value, value + terms, alpha, logged)


def dr(
    logged: LoggedBandit,
    probabilities: np.ndarray,
    alpha: float = 0.1,
    clip: float | None = None,
    predictions: np.ndarray | None = None,
    reward_model: CrossFitRidge | None = None,
) -> Estimate:
    """Doubly robust; ``predictions`` (n, K) are the reward model's (default: ``reward_model``,
    itself `CrossFitRidge()` by default, fitted on ``logged``)."""
    w = _weights(logged, probabilities, clip)
    q = _predictions(logged, predictions, reward_model)
    p = np.asarray(probabilities, dtype=np.float64)
    chosen = q[np.arange(logged.n), logged.actions]
    terms = (p * q).sum(axis=1) + w * (logged.rewards - chosen)
    return _estimate("dr", float(terms.mean()), terms, alpha, logged)


def _predictions(
    logged: LoggedBandit, predictions: np.ndarray | None, reward_model: CrossFitRidge | None
) -> np.ndarray:
    """The reward model's (n, K) predictions: ``predictions`` checked, else ``reward_model``'s
    (default `CrossFitRidge()`) fitted on ``logged``."""
    if predictions is None:
        model = reward_model if reward_model is not None else CrossFitRidge()
        predictions = model.predict(
            logged.contexts, logged.actions, logged.rewards, len(logged.models)
        )
    q = np.asarray(predictions, dtype=np.float64)
    if q.shape != (logged.n, len(logged.models)) or not np.all(np.isfinite(q)):
        raise invalid("predictions", q.shape, f"a finite {(logged.n, len(logged.models))} array")
    return q
