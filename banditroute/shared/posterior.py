"""The quality posteriors, shared: every replica learns from every replica's feedback.

`PolicyShare` attaches an `UpdateTracker` to the engine's policy; `collect` folds its updates
into this replica's parts (one per model: Σxxᵀ, Σxy, count, squared residuals) and its totals
(Σ quality and the count, for the pooled prior); `apply` writes the merged sums of the models
that changed elsewhere back into the policy (each posterior recomputed from its sums).

Exactness: without forgetting (``discount`` = 1, the default) the merged gram, targets and counts
are the sums over all replicas' observations, the same as one engine fed every outcome (up to
floating-point rounding, ~1e-12 relative); order and interleaving do not matter. The squared
residuals are each replica's one-step-ahead residuals, so the noise estimate equals one
engine's only up to which posterior each residual was measured against. With forgetting
(γ < 1) the merged sums let an observation fade with the later observations *of the replica
that made it* (and the shared base with every observation); between two merges a replica's
posterior forgets as one engine does, and one replica alone behaves exactly as one engine. A drift
reset or soften on one replica restarts that model everywhere (a new epoch, whose base is what
that replica's statistics became); what the other replicas had folded into their parts of the
old epoch is replaced with the rest, including up to about two sync intervals of their
observations that the restarting replica had not merged yet.

>>> import numpy as np
>>> from banditroute.policies import LinearThompsonSampling
>>> from banditroute.shared.link import RedisLink
>>> policy = LinearThompsonSampling()
>>> share = PolicyShare(policy, "a", RedisLink("redis://127.0.0.1:1/0"))
>>> _ = policy.update("m", np.array([1.0, 0.5]), 0.75)
>>> share.collect()
>>> share.sums.own["m"].n, share.own_totals()
(1, '[0.75, 1]')
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection

import numpy as np

from ..errors import InvalidInput
from ..policies import Policy
from ..policies.tracking import (
    ArmStatistics,
    PolicyStatistics,
    UpdateTracker,
    arm_statistics,
    load_statistics,
    shared_rows,
)
from .link import RedisLink
from .share import Share
from .sums import SEED_EPOCH, Base, SharedSums

__all__ = ["PolicyShare"]


def _pair(text: str | None) -> tuple[float, int]:
    """(quality sum, count) from JSON; (0, 0) when unreadable."""
    try:
        value = json.loads(text or "")
        total, count = float(value[0]), int(value[1])
    except (ValueError, TypeError, IndexError, KeyError):
        return 0.0, 0
    return (total, count) if math.isfinite(total) and count >= 0 else (0.0, 0)


class PolicyShare(Share):
    """The engine's policy, shared through Redis (key kind ``p``).

    Parameters
    ----------
    policy : Policy
        The engine's policy; an `UpdateTracker` is attached to it.
    replica : str
        This replica's id.
    link : RedisLink
        The connection.
    """

    kind = "p"

    def __init__(self, policy: Policy, replica: str, link: RedisLink) -> None:
        if not policy.shares_sums:
            raise InvalidInput(
                f"policy {policy.name!r} cannot share its learning between replicas (its prior "
                "changes with the data); use 'thompson' with --redis"
            )
        self.policy = policy
        self.sums = SharedSums(replica, self._prior, policy.intercept_precision, policy.discount)
        super().__init__(link)
        self.tracker = UpdateTracker()
        policy.tracker = self.tracker
        self.quality_sum, self.quality_count = 0.0, 0  # this replica's, since attach

    def detach(self) -> None:
        if self.policy.tracker is self.tracker:
            self.policy.tracker = None

    def _prior(self, dim: int, prior_intercept: float) -> ArmStatistics:
        precision = np.full(dim, self.policy.prior_precision)
        precision[0] = self.policy.intercept_precision
        targets = np.zeros(dim)
        targets[0] = precision[0] * prior_intercept
        return ArmStatistics(np.diag(precision), targets, 0.0, 0.0)

    def local_arms(self) -> set[str]:
        return set(shared_rows(self.policy, learned=False))

    def local_seed(self) -> tuple[str, dict[str, Base]]:
        p = self.policy
        pi = p.get_state().arrays["quality_pooled"][2]
        bases = {a: Base(SEED_EPOCH, arm_statistics(p, a), float(pi)) for a in shared_rows(p)}
        seed = json.dumps([p._quality_sum, p._quality_count, float(pi)])
        return seed, bases

    def own_totals(self) -> str:
        return json.dumps([self.quality_sum, self.quality_count])

    def resume_totals(self, payload: str) -> None:
        total, count = _pair(payload)
        self.quality_sum += total
        self.quality_count += count
        self.refresh = True

    def fold_totals(self, base: str | None, payloads: list[str]) -> str:
        total, count = _pair(base)
        for payload in payloads:
            s, c = _pair(payload)
            total, count = total + s, count + c
        return json.dumps([total, count])

    def forget_totals(self, payload: str) -> None:
        total, count = _pair(payload)
        self.quality_sum -= total
        self.quality_count -= count
        self.refresh = True

    def collect(self) -> None:
        if self.sums.dim is None:
            self.sums.dim = self.policy.context_dim
        updates = self.tracker.export()
        for arm, update in updates.arms.items():
            if update.restart is not None:
                self.sums.restart(arm, update.restart, update.restart_prior)
            if update.delta is not None:
                self.sums.add_delta(arm, update.delta)
        if updates.quality_count:
            self.quality_sum += updates.quality_sum
            self.quality_count += updates.quality_count
            self.totals_version += 1

    def totals(self) -> tuple[float, int, float]:
        """Merged (quality sum, count) and the prior intercept they imply."""
        seed_sum, seed_count = _pair(self.seed_text)
        total, count = seed_sum + self.quality_sum, seed_count + self.quality_count
        folded_sum, folded_count = _pair(self.totals_base.payload)
        total, count = total + folded_sum, count + folded_count
        for _, payload in self.others.values():
            s, c = _pair(payload)
            total, count = total + s, count + c
        p = self.policy
        if p.pooled_prior:
            prior = (p.prior_quality + total) / (1 + count)
        else:
            try:
                prior = float(json.loads(self.seed_text or "")[2])
            except (ValueError, TypeError, IndexError):
                prior = p.prior_quality
        return total, count, prior

    def prior_intercept(self) -> float:
        return self.totals()[2]

    def apply(self, models: Collection[str]) -> None:
        self.collect()
        if not self.joined or (not self.sums.changed and not self.refresh):
            return  # before joining, the policy itself is the whole truth
        total, count, prior = self.totals()
        keep = self.local_arms() | set(models)
        rows = {}
        for arm in self.sums.changed & keep:
            try:
                rows[arm] = self.sums.compose(arm, prior, self.policy.context_dim)
            except (ValueError, StopIteration):
                continue  # no dimension known yet: nothing to compose
        load_statistics(self.policy, PolicyStatistics(rows, total, count, prior))
        self.sums.changed.clear()
        self.refresh = False
