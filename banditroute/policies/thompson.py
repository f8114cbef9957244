"""Linear Thompson sampling: the product's default policy.

>>> import numpy as np
>>> from banditroute.policies import LinearThompsonSampling
>>> policy = LinearThompsonSampling(seed=0)
>>> x = np.array([1.0, 0.3])
>>> for _ in range(50):
...     policy = policy.update("a", x, 0.9).update("b", x, 0.2)
>>> int(policy.sample_utilities(x, ["a", "b"]).argmax())
0
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ..errors import check_number
from .base import Policy

__all__ = ["LinearThompsonSampling", "probability_of_max"]

# Gauss–Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1).
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_NODE_COLUMN = _NODES[:, None]
_NDTR: Callable[[np.ndarray], np.ndarray] | None = None


def _ndtr(z: np.ndarray) -> np.ndarray:
    global _NDTR
    if _NDTR is None:
        from scipy.special import ndtr  # lazy: keeps `import banditroute` light

        _NDTR = ndtr
    return _NDTR(z)


def probability_of_max(centre: np.ndarray, scale: np.ndarray, i: int) -> float:
    """P(U_i = max_j U_j) for independent U_j ~ N(centre_j, scale_j²) (scale 0: a point mass).

    Computed as E_z[Π_{j≠i} Φ((centre_i + scale_i z − centre_j) / scale_j)] by 32-point
    Gauss–Hermite quadrature; exact to about 1e-3.

    >>> round(probability_of_max(np.array([0.0, 0.0]), np.array([1.0, 1.0]), 0), 3)
    0.5
    >>> probability_of_max(np.array([1.0, 0.0]), np.array([0.0, 0.0]), 0)
    1.0
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = (centre[i] + scale[i] * _NODE_COLUMN - centre) / scale  # (q, K)
    if not scale.all():
        z[np.isnan(z)] = 0.0  # 0/0: a tie between point masses, counted as half
    z[:, i] = np.inf  # Φ(∞) = 1: model i is not its own rival
    return float(min(max(_WEIGHTS @ _ndtr(z).prod(axis=1), 0.0), 1.0))


class LinearThompsonSampling(Policy):
    """Sample each model's quality θ̃·x from its posterior, subtract the penalty, take the best.

    θ̃·x is exactly normal with mean μ·x and variance v²·xᵀΣx, so one scalar draw per model
    replaces sampling the whole θ̃ (no Cholesky per decision).

    Parameters
    ----------
    exploration : float
        v, the scale of the posterior spread used for sampling (1 = plain posterior sampling).
        The default 0.25 was chosen on the synthetic workload and RouterBench's train files
        (benchmarks/tune_defaults.py); plain sampling explores too much with 11 models.
    common_part : bool
        Default False. A part common to all models, learned from every outcome (`Policy`),
        measured with ``benchmarks/tune_policy.py`` on the tuning sets: AIQ +0.004 on
        ``mmlupro_train.csv`` and +0.005 on RouterBench's ``*_train.csv``, −0.0015 on the
        synthetic workload, where it also sends less code to the code model in ``make demo``
        (33% instead of 61%); with ``prior_precision=4`` +0.012 and +0.007 on the train files
        but −0.012 on the synthetic workload. Not a clear win on every tuning set, so off.
    **kwargs
        Prior and seed: see `Policy`.
    """

    name = "thompson"

    def __init__(
        self,
        *,
        exploration: float = 0.25,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.exploration = check_number("exploration", exploration, 0, 100)

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        noise = self._rng.standard_normal((n, mean.size))
        return mean - penalty + self.exploration * sd * noise

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        return probability_of_max(mean - penalty, self.exploration * sd, chosen)

    def deferred_propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> Callable[[], float]:
        """The exact propensity, computed when first read: a pure function of new arrays."""
        return partial(probability_of_max, mean - penalty, self.exploration * sd, chosen)
