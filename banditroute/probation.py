"""Probation of a degraded model: probes, the CUSUM that notices a recovery, its former posterior.

After a quality or error degradation the model is probed on every ``probe_every``-th decision
until its recovery is seen (or for ``probation`` decisions, when that is set): a model restored
long after its drop is still noticed, at a steady cost of one decision in ``probe_every``.
Probes are judged against what the model scored before the drop, moved by the detected change
(`PreDrift`: the posterior it had, less the outcomes learned since the change began, placed by
`change_point` among its latest residuals), and on a recovery that posterior is given back.

>>> from banditroute.probation import Probation, ProbationBook
>>> p = Probation(left=100, countdown=5, shift=0.5)
>>> any(p.update(0.5) for _ in range(30))
True
>>> book, due = ProbationBook(), []
>>> book.start("m", drop=0.4, variance=0.25, probation=None, probe_every=3)
>>> for decision in range(1, 10):
...     if book.next_probe(["m", "other"], probe_every=3) == "m":
...         due.append(decision)
>>> due
[3, 6, 9]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .policies import Policy
from .policies.tracking import (
    ArmStatistics,
    PolicyStatistics,
    arm_statistics,
    load_statistics,
    policy_statistics,
)

__all__ = ["HISTORY", "PreDrift", "Probation", "ProbationBook", "change_point"]

#: a model's latest residuals (and outcomes) kept to place a change: ADWIN fires 30–110 after
HISTORY = 256

#: variance of a residual the recovery test assumes at least (a [0, 1] quality measured to ~0.1)
MIN_VARIANCE = 0.01
#: ... and at most: the largest variance of an outcome in [0, 1]
MAX_VARIANCE = 0.25


class Probation:
    """A degraded model's probe schedule and the CUSUM watching its probes for a recovery.

    The CUSUM tests residual mean 0 against +shift (the size of the detected drop), with the
    residuals' variance ``variance`` (the larger of what the model's residuals showed before and
    after the drop, kept in [0.01, 0.25]; 0.25 bounds the variance of any [0, 1] outcome); it
    fires when the log-likelihood ratio passes log(1000): about one false alarm per 1,000
    probes of an unchanged model. When the probes' residuals spread more than that (the
    yardstick, the former level moved by the mean drop, is off on prompts the drop hit more or
    less than on average), their own variance is used.

    Parameters
    ----------
    left : int or None
        Decisions the probation lasts (None: until the recovery is seen).
    countdown : int
        Decisions until the first probe.
    shift : float
        The detected drop (at least 0.1 is tested for).
    variance : float
        The residuals' variance (clipped to [0.01, 0.25]).
    """

    threshold = math.log(1000)

    def __init__(
        self, left: int | None, countdown: int, shift: float, variance: float = MAX_VARIANCE
    ) -> None:
        self.left, self.countdown = left, countdown
        self.shift = max(shift, 0.1)
        self.variance = min(max(variance, MIN_VARIANCE), MAX_VARIANCE)
        self.statistic = 0.0
        self.total = 0.0  # residuals since the CUSUM last stood at 0: the recovery's size
        self.count = 0
        self.probes, self.mean, self.squares = 0, 0.0, 0.0

    def update(self, residual: float) -> bool:
        """Feed one probe's residual; True when the recovery is seen."""
        if self.statistic == 0.0:
            self.total, self.count = 0.0, 0
        self.total += residual
        self.count += 1
        self.probes += 1  # the probes' own spread (Welford): the yardstick may be off
        delta = residual - self.mean
        self.mean += delta / self.probes
        self.squares += delta * (residual - self.mean)
        spread = self.squares / (self.probes - 1) if self.probes > 1 else 0.0
        step = (self.shift / max(self.variance, spread)) * (residual - self.shift / 2)
        self.statistic = max(0.0, self.statistic + step)
        return self.statistic > self.threshold


class ProbationBook:
    """The models on probation now, by id."""

    def __init__(self) -> None:
        self._on: dict[str, Probation] = {}

    def __contains__(self, model: object) -> bool:
        return model in self._on

    def start(
        self, model: str, drop: float, variance: float, probation: int | None, probe_every: int
    ) -> None:
        """Put ``model`` on probation (afresh, if it was already) for ``probation`` decisions
        (None: until its recovery), its first probe ``probe_every`` decisions from now."""
        self._on[model] = Probation(probation, probe_every, drop, variance)

    def end(self, model: str) -> None:
        """Take ``model`` off probation (if it was on)."""
        self._on.pop(model, None)

    def entries(self) -> list[tuple[str, Probation]]:
        """The models on probation and their probations, in the order they are served."""
        return list(self._on.items())

    def put(self, model: str, probation: Probation) -> None:
        """Put ``model`` on ``probation`` as it stands (a saved one, read back), served last."""
        self._on.pop(model, None)
        self._on[model] = probation

    def next_probe(self, feasible: list[str], probe_every: int) -> str | None:
        """Count one decision; return the model on probation to probe with it, if one is due."""
        due = None
        for model, p in list(self._on.items()):
            p.countdown -= 1
            if p.left is not None:
                p.left -= 1
                if p.left <= 0:
                    del self._on[model]
                    continue
            if p.countdown <= 0 and due is None and model in feasible:
                p.countdown = probe_every
                due = model
        return due

    def result(self, model: str, residual: float) -> float | None:
        """Feed a probe's residual; the recovery's mean residual when it is seen (probation
        then ends), else None."""
        p = self._on.get(model)
        if p is None or not p.update(residual):
            return None
        del self._on[model]
        return p.total / p.count


def change_point(values: Sequence[float], least: int = 5) -> int:
    """How many of the latest ``values`` came after the likeliest fall of their mean (the
    least-squares split into two means, at least ``least`` values on each side; 0 if none).

    >>> change_point([0.0] * 40 + [-0.5] * 12)
    12
    """
    r = np.asarray(values, dtype=float)
    n = r.size
    if n < 2 * least:
        return 0
    k = np.arange(least, n - least + 1)  # values before the split
    total = np.cumsum(r)
    before, after = total[k - 1] / k, (total[-1] - total[k - 1]) / (n - k)
    score = k * (n - k) / n * np.maximum(before - after, 0.0) ** 2
    return int(n - k[np.argmax(score)]) if score.max() > 0 else 0


class PreDrift:
    """A model's posterior from before its drop: the probes' yardstick, restored on recovery.

    Probe residuals are measured against what the model scored before the drop, moved by the
    detected change, not against the posterior re-learned since (from the few decisions that
    still went to it): the recovery test then sees the model's own former level come back.

    Parameters
    ----------
    policy : Policy
        The policy whose posterior of ``model`` is kept (read before the reset).
    model : str
        The degraded model.
    change : float
        The detected change of its residual mean (negative: a drop).
    since : sequence of (context, quality)
        The model's outcomes learned since the change began: taken back out of what is kept
        (unless the policy forgets by itself, ``discount`` < 1).
    """

    def __init__(
        self,
        policy: Policy,
        model: str,
        change: float,
        since: Sequence[tuple[np.ndarray, float]] = (),
    ) -> None:
        kept = arm_statistics(policy, model).copy()
        if policy.discount == 1.0:
            for x, y in since:
                kept.gram -= np.outer(x, x)
                kept.targets -= x * y
                kept.counts = max(kept.counts - 1.0, 0.0)
        self._keep(kept, change)

    def _keep(self, statistics: ArmStatistics, change: float) -> None:
        self.statistics = statistics
        self.weights = np.linalg.solve(statistics.gram, statistics.targets)
        self.change = change

    @classmethod
    def from_statistics(cls, statistics: ArmStatistics, change: float) -> PreDrift:
        """The kept posterior rebuilt from its sums and change (as a saved state holds them);
        ``numpy.linalg.LinAlgError`` when the gram is singular."""
        kept = cls.__new__(cls)
        kept._keep(statistics, change)
        return kept

    def expected(self, policy: Policy, model: str, context: np.ndarray, predicted: float) -> float:
        """What the model would score on ``context`` if it were still degraded: its former
        prediction plus the change (``predicted``: the current posterior's, which carries the
        part the policy shares between models, if any)."""
        now = arm_statistics(policy, model)
        shared = predicted - float(np.linalg.solve(now.gram, now.targets) @ context)
        return float(self.weights @ context) + shared + self.change

    def restore(self, policy: Policy, model: str) -> None:
        """Give ``model`` back this posterior."""
        current = policy_statistics(policy)
        kept = {model: self.statistics.copy()}
        load_statistics(
            policy,
            PolicyStatistics(
                kept, current.quality_sum, current.quality_count, current.prior_intercept
            ),
        )
        if policy.tracker is not None:
            policy.tracker.restarted(policy, model)
