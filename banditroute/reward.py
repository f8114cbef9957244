"""The reward: quality minus what the caller pays for cost and latency.

>>> from banditroute.reward import Tradeoff
>>> t = Tradeoff(cost_weight=100.0, latency_weight=0.0001)   # $0.01 costs 1 point, 1 s costs 0.1
>>> round(t.reward(quality=0.9, cost_usd=0.002, latency_ms=1000), 3)
0.6
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from pydantic import Field

from ._validation import StrictModel

__all__ = ["Tradeoff"]

Number = TypeVar("Number", float, np.ndarray)


class Tradeoff(StrictModel):
    """reward = quality − cost_weight·cost_usd − latency_weight·latency_ms.

    Parameters
    ----------
    cost_weight : float
        λ, quality points given up per USD (willingness to pay is 1/λ USD per quality point).
    latency_weight : float
        μ, quality points given up per millisecond.
    """

    cost_weight: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    latency_weight: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    def penalty(self, cost_usd: Number, latency_ms: Number) -> Number:
        """What a call of this cost and latency subtracts from its quality (floats or arrays)."""
        return self.cost_weight * cost_usd + self.latency_weight * latency_ms

    def reward(self, quality: float, cost_usd: float, latency_ms: float) -> float:
        """The reward of one observed outcome."""
        return quality - self.penalty(cost_usd, latency_ms)
