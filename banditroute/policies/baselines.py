"""Baselines that do not use what they learn to choose: uniform random and a fixed model.

They still keep the quality posterior, so explanations and `min_quality` work the same.

>>> import numpy as np
>>> from banditroute.policies import FixedModel, RandomPolicy
>>> int(FixedModel(model="b").sample_utilities(np.ones(2), ["a", "b"]).argmax())
1
>>> RandomPolicy(seed=0).sample_utilities(np.ones(2), ["a", "b"], n_samples=3).shape
(3, 2)
"""

from __future__ import annotations

import numpy as np

from ..errors import invalid
from .base import Policy

__all__ = ["FixedModel", "RandomPolicy"]


class RandomPolicy(Policy):
    """Every feasible model equally likely, whatever it costs."""

    name = "random"

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        return self._rng.random((n, mean.size))

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        return 1.0 / mean.size


class FixedModel(Policy):
    """Always the named model when it is feasible; otherwise the best mean minus penalty.

    Parameters
    ----------
    model : str
        The model id to use.
    """

    name = "fixed"

    def __init__(self, *, model: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not isinstance(model, str) or not model:
            raise invalid("model", model, "a non-empty model id")
        self.model = model

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        utilities = mean - penalty
        if self.model in arms:
            utilities = utilities.copy()
            utilities[arms.index(self.model)] = utilities.max() + 1.0
        return np.repeat(utilities[None], n, axis=0)

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        utilities = self._utilities(mean, sd, penalty, 1, arms)[0]
        return 1.0 if int(np.argmax(utilities)) == chosen else 0.0
