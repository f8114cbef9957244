"""banditroute: a contextual Thompson-sampling router that picks which LLM to call, per prompt.

>>> import banditroute
>>> sorted(banditroute.__all__)[:3]
['ArmEstimate', 'BanditRouteError', 'CachedEmbedder']
"""

from __future__ import annotations

from .constraints import ArmEstimate, Constraints
from .decision import Candidate, Decision, Outcome
from .drift import DriftEvent, DriftMonitor
from .engine import Engine
from .errors import (
    BanditRouteError,
    InvalidInput,
    JudgeError,
    NoFeasibleModel,
    RegistryError,
    StateFileError,
    StoreError,
    UnknownDecision,
    UnknownModel,
)
from .estimates import CallEstimator
from .features import CachedEmbedder, ContextBuilder, Embedder, HashingEmbedder, MiniLMEmbedder
from .policies import (
    EpsilonGreedy,
    FixedModel,
    LinearThompsonSampling,
    LinUCB,
    Policy,
    RandomPolicy,
)
from .registry import ModelProfile, Registry, example_registry_path
from .reward import Tradeoff

__version__ = "0.1.0"

__all__ = [
    "ArmEstimate",
    "BanditRouteError",
    "CachedEmbedder",
    "CallEstimator",
    "Candidate",
    "Constraints",
    "ContextBuilder",
    "Decision",
    "DriftEvent",
    "DriftMonitor",
    "Embedder",
    "Engine",
    "EpsilonGreedy",
    "FixedModel",
    "HashingEmbedder",
    "InvalidInput",
    "JudgeError",
    "LinUCB",
    "LinearThompsonSampling",
    "MiniLMEmbedder",
    "ModelProfile",
    "NoFeasibleModel",
    "Outcome",
    "Policy",
    "RandomPolicy",
    "Registry",
    "RegistryError",
    "StateFileError",
    "StoreError",
    "Tradeoff",
    "UnknownDecision",
    "UnknownModel",
    "example_registry_path",
]
