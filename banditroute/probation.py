"""Probation of a degraded model: its probe schedule and the CUSUM that notices a recovery.

>>> from banditroute.probation import Probation
>>> p = Probation(left=100, countdown=5, shift=0.5)
>>> any(p.update(0.5) for _ in range(30))
True
"""

from __future__ import annotations

import math

__all__ = ["Probation"]


class Probation:
    """A degraded model's probe schedule and the CUSUM watching its probes for a recovery.

    The CUSUM tests residual mean 0 against +shift (the size of the detected drop), with the
    variance of a [0, 1] outcome bounded by 1/4; it fires when the log-likelihood ratio passes
    log(1000): about one false alarm per 1,000 probes of an unchanged model.
    """

    threshold = math.log(1000)

    def __init__(self, left: int, countdown: int, shift: float) -> None:
        self.left, self.countdown = left, countdown
        self.shift = max(shift, 0.1)
        self.statistic = 0.0
        self.total = 0.0
        self.count = 0

    def update(self, residual: float) -> bool:
        self.total += residual
        self.count += 1
        step = (self.shift / 0.25) * (residual - self.shift / 2)
        self.statistic = max(0.0, self.statistic + step)
        return self.statistic > self.threshold
