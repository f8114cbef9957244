"""Linear Thompson sampling: the product's default policy.

>>> import numpy as np
>>> from banditroute.policies import LinearThompsonSampling
>>> policy = LinearThompsonSampling(seed=0)
>>> x = np.array([1.0, 0.3])
>>> for _ in range(50):
...     policy.update("a", x, 0.9); policy.update("b", x, 0.2)
>>> int(policy.sample_utilities(x, ["a", "b"]).argmax())
0
"""

from __future__ import annotations

import numpy as np

from ..errors import invalid
from .base import Policy

__all__ = ["LinearThompsonSampling"]


class LinearThompsonSampling(Policy):
    """Sample each model's quality θ̃·x from its posterior, subtract the penalty, take the best.

    θ̃·x is exactly normal with mean μ·x and variance v²·xᵀΣx, so one scalar draw per model
    replaces sampling the whole θ̃ (no Cholesky per decision).

    Parameters
    ----------
    exploration : float
        v, the scale of the posterior spread used for sampling (1 = plain posterior sampling).
    **kwargs
        Prior and seed: see `Policy`.
    """

    name = "thompson"

    def __init__(self, *, exploration: float = 1.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not (isinstance(exploration, int | float) and np.isfinite(exploration) and exploration >= 0):
            raise invalid("exploration", exploration, "a finite number >= 0")
        self.exploration = float(exploration)

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        noise = self._rng.standard_normal((n, mean.size))
        return mean - penalty + self.exploration * sd * noise
