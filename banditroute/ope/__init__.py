"""Off-policy evaluation: what another routing policy would have earned on a decision log.

Read the log (`LoggedBandit.from_store`), name a target policy (`FixedModel`, `FrozenLearner`,
or a spec string: `from_spec`), and `evaluate` it by inverse propensity scoring (IPS),
self-normalised IPS, doubly robust (DR) estimation and, for logs with little overlap, switch-DR
and clipped DR (`capped`: their intervals add the bias bound of the capped weights), each with
a (1 − α) interval. The log's
propensities (the logging policy's exact probability of each choice) make this possible; the
command line does the same: ``banditroute ope --store DIR --policy fixed:MODEL``.

>>> import numpy as np
>>> from banditroute.ope import LoggedBandit, evaluate, from_spec
>>> logged = LoggedBandit.from_arrays(np.ones((4, 1)), [0, 1, 0, 1], [0.5] * 4,
...                                   [0.9, 0.2, 0.7, 0.4], ["a", "b"])
>>> round(evaluate(logged, from_spec("fixed:b")).get("ips").value, 2)
0.3
"""

from __future__ import annotations

from .capped import choose_cap, clipped_dr, switch_dr
from .estimators import METHODS, Estimate, dr, ips, snips
from .evaluate import Evaluation, evaluate
from .frozen import FrozenLearner
from .logged import REWARD_COLUMNS, LeftOut, LoggedBandit, open_log
from .reward_model import CrossFitRidge
from .spec import PolicySpec, from_spec, parse_spec
from .targets import FixedModel, GivenProbabilities, TargetPolicy, Uniform, check_probabilities

__all__ = [
    "METHODS",
    "REWARD_COLUMNS",
    "CrossFitRidge",
    "Estimate",
    "Evaluation",
    "FixedModel",
    "FrozenLearner",
    "GivenProbabilities",
    "LeftOut",
    "LoggedBandit",
    "PolicySpec",
    "TargetPolicy",
    "Uniform",
    "check_probabilities",
    "choose_cap",
    "clipped_dr",
    "dr",
    "evaluate",
    "from_spec",
    "ips",
    "open_log",
    "parse_spec",
    "snips",
    "switch_dr",
]
