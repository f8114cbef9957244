"""ε-greedy on the posterior mean.

>>> import numpy as np
>>> from banditroute.policies import EpsilonGreedy
>>> EpsilonGreedy(epsilon=0.0, seed=1).sample_utilities(np.ones(2), ["a", "b"]).shape
(1, 2)
"""

from __future__ import annotations

import numpy as np

from ..errors import check_number
from .base import Policy

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(Policy):
    """With probability ε pick uniformly at random, otherwise the best mean minus penalty.

    Parameters
    ----------
    epsilon : float in [0, 1]
        Exploration rate.
    """

    name = "epsilon_greedy"

    def __init__(self, *, epsilon: float = 0.1, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.epsilon = check_number("epsilon", epsilon, 0, 1)

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        greedy = np.repeat((mean - penalty)[None], n, axis=0)
        explore = self._rng.random(n) < self.epsilon
        if explore.any():
            # A random one-hot row picks one model uniformly.
            pick = self._rng.integers(0, mean.size, size=int(explore.sum()))
            rows = np.zeros((pick.size, mean.size))
            rows[np.arange(pick.size), pick] = 1.0
            greedy[explore] = rows
        return greedy

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        greedy = int(np.argmax(mean - penalty)) == chosen
        return (1.0 - self.epsilon) * greedy + self.epsilon / mean.size
