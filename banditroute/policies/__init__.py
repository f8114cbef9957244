"""Routing policies; all share the quality posterior of `Policy` and differ in how they explore.

>>> from banditroute.policies import POLICIES
>>> sorted(POLICIES)
['epsilon_greedy', 'fixed', 'linucb', 'random', 'thompson', 'thompson_evidence']
"""

from __future__ import annotations

from .base import Policy, PolicyState
from .baselines import FixedModel, RandomPolicy
from .epsilon_greedy import EpsilonGreedy
from .evidence import EvidenceThompson
from .linucb import LinUCB
from .thompson import LinearThompsonSampling

__all__ = [
    "POLICIES",
    "EpsilonGreedy",
    "EvidenceThompson",
    "FixedModel",
    "LinUCB",
    "LinearThompsonSampling",
    "Policy",
    "PolicyState",
    "RandomPolicy",
]

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        LinearThompsonSampling,
        EvidenceThompson,
        LinUCB,
        EpsilonGreedy,
        RandomPolicy,
        FixedModel,
    )
}
