"""LinUCB: optimism in the face of uncertainty.

>>> import numpy as np
>>> from banditroute.policies import LinUCB
>>> policy = LinUCB(alpha=1.0)
>>> policy = policy.update("a", np.array([1.0, 0.0]), 0.6)  # update returns the policy
>>> int(policy.sample_utilities(np.array([1.0, 0.0]), ["a", "b"]).argmax())  # b is unexplored
1
"""

from __future__ import annotations

import numpy as np

from ..errors import check_number
from .base import Policy

__all__ = ["LinUCB"]


class LinUCB(Policy):
    """Utility = mean + α·sd − penalty (deterministic; ties go to the first model).

    Parameters
    ----------
    alpha : float
        Width of the confidence bonus, in posterior standard deviations.
    """

    name = "linucb"

    def __init__(self, *, alpha: float = 1.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.alpha = check_number("alpha", alpha, 0, 100)

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        return np.repeat((mean + self.alpha * sd - penalty)[None], n, axis=0)

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        utilities = mean + self.alpha * sd - penalty
        return 1.0 if int(np.argmax(utilities)) == chosen else 0.0
