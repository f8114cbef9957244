"""The reward: quality minus what the caller pays for cost and latency.

>>> from banditroute.reward import Tradeoff
>>> t = Tradeoff(cost_weight=100.0, latency_weight=0.0001)   # $0.01 costs 1 point, 1 s costs 0.1
>>> round(t.reward(quality=0.9, cost_usd=0.002, latency_ms=1000), 3)
0.6
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from pydantic import Field

from ._validation import StrictModel
from .errors import check_real, invalid

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
        cost: Number = _amount("cost_usd", cost_usd)
        latency: Number = _amount("latency_ms", latency_ms)
        return self.cost_weight * cost + self.latency_weight * latency

    def reward(self, quality: float, cost_usd: float, latency_ms: float) -> float:
        """The reward of one observed outcome."""
        quality = check_real("quality", quality)
        return quality - self.penalty(check_real("cost_usd", cost_usd), latency_ms)


def _amount(name: str, value: Any) -> Any:
    """A real number as a float, or an array of real numbers as it is; else `InvalidInput`."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise invalid(name, value, "a real number or an array of them")
        return value
    return check_real(name, value)
