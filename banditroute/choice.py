"""The decision step: posterior, estimates, feasibility and the tradeoff → a `Decision`.

Pure computation over the parts it is given: no I/O, no locks (the policy's own random
generator is the only state it advances).

>>> import numpy as np
>>> from banditroute.choice import decide
>>> from banditroute.constraints import Constraints
>>> from banditroute.estimates import CallEstimator
>>> from banditroute.policies import LinearThompsonSampling
>>> from banditroute.registry import ModelProfile
>>> from banditroute.reward import Tradeoff
>>> models = [ModelProfile(id="a", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1),
...           ModelProfile(id="b", provider="p", input_usd_per_mtok=9, output_usd_per_mtok=9)]
>>> choice = decide(models, np.array([1.0, 0.2]), 20, Constraints(deny_models={"b"}),
...                 LinearThompsonSampling(seed=0), CallEstimator(), Tradeoff(), "d1")
>>> choice.decision.model, choice.decision.excluded, round(choice.predicted_quality, 2)
('a', {'b': 'in deny_models'}, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .constraints import ArmEstimate, Constraints, split_feasible
from .decision import Candidate, Decision
from .errors import NoFeasibleModel, invalid
from .estimates import CallEstimator
from .pending import PendingDecision
from .policies import Policy
from .registry import ModelProfile
from .reward import Tradeoff

__all__ = ["Choice", "Gate", "decide"]

#: Why a model may not be called right now (None: it may), from its profile, its estimates for
#: this prompt and the prompt's token count.
Gate = Callable[[ModelProfile, ArmEstimate, int], str | None]


class Choice(NamedTuple):
    """A decision and what learning from its outcome will need."""

    decision: Decision
    predicted_quality: float  #: the chosen model's posterior mean for this prompt
    probe: bool  #: a scheduled probe of a model on probation (not sampled)

    def pending(self, context: np.ndarray, prompt_tokens: int, prompt: str) -> PendingDecision:
        """What learning from this decision's outcome will need."""
        d = self.decision
        return PendingDecision(
            d.model, context, prompt_tokens, self.predicted_quality, prompt, self.probe
        )


def decide(
    models: Sequence[ModelProfile],
    context: np.ndarray,
    prompt_tokens: int,
    constraints: Constraints,
    policy: Policy,
    estimator: CallEstimator,
    tradeoff: Tradeoff,
    decision_id: str,
    pick_probe: Callable[[list[str]], str | None] | None = None,
    gate: Gate | None = None,
) -> Choice:
    """Choose among ``models`` for one prompt; raise `NoFeasibleModel` when none may serve.

    ``pick_probe`` (the drift monitor's probation schedule) may name a feasible model to probe
    instead of sampling; ``gate`` says why a model that satisfies the constraints may not be
    called right now (cooled down, rate-limited, over budget), given its estimates; its reasons
    are shown among the exclusions.
    """
    if gate is not None and not callable(gate):
        raise invalid("gate", gate, "a callable (model, estimate, prompt_tokens) -> str | None")
    ids = [m.id for m in models]
    mean, sd = policy.posterior(context, ids)
    costs = estimator.costs_usd(models, prompt_tokens, context, constraints.expected_output_tokens)
    latencies = estimator.latencies_ms(models)
    estimates: dict[str, ArmEstimate] = {}
    if gate is not None or constraints.limits_estimates:
        triples = zip(costs.tolist(), latencies.tolist(), mean.tolist(), strict=True)
        estimates = dict(zip(ids, map(ArmEstimate._make, triples), strict=True))
    feasible, excluded = split_feasible(models, constraints, prompt_tokens, estimates)
    if gate is not None:
        closed = {}
        for m in feasible:
            if why := _gate_says(gate, m, estimates[m.id], prompt_tokens):
                closed[m.id] = why
        excluded.update(closed)
        feasible = [m for m in feasible if m.id not in closed]
    if not feasible:
        raise NoFeasibleModel(excluded)
    arms = [m.id for m in feasible]
    if excluded:  # the rows of the feasible models
        rows = np.array([position for position, m in enumerate(ids) if m not in excluded])
        mean, sd, costs, latencies = mean[rows], sd[rows], costs[rows], latencies[rows]
    penalty = tradeoff.penalty(costs, latencies)
    utilities = policy.utilities_from_posterior(mean, sd, penalty, 1, arms)[0]
    order = (-utilities).argsort(kind="stable")
    probe = None if pick_probe is None else pick_probe(arms)
    if probe is not None:  # a model on probation after a drift: scheduled, not sampled
        first = arms.index(probe)
        order = np.r_[first, order[order != first]]
        propensity: float | Callable[[], float] = 1.0
    else:
        propensity = policy.deferred_propensity(mean, sd, penalty, int(order[0]), arms)
    ranked = order.tolist()
    columns = [column[order].tolist() for column in (utilities, mean, sd, costs, latencies)]
    candidates = tuple(map(Candidate, [arms[j] for j in ranked], *columns))
    decision = Decision(
        id=decision_id,
        model=arms[ranked[0]],
        fallbacks=tuple(c.model for c in candidates[1:]),
        propensity=propensity,
        policy=policy.name if probe is None else f"{policy.name}+probe",
        prompt_tokens=prompt_tokens,
        candidates=candidates,
        excluded=excluded,
    )
    return Choice(decision, candidates[0].expected_quality, probe is not None)


def _gate_says(gate: Gate, model: ModelProfile, estimate: ArmEstimate, tokens: int) -> str | None:
    """The gate's reason to close ``model`` (its own exceptions propagate: they are the
    caller's); anything but a str or None is `InvalidInput`."""
    why = gate(model, estimate, tokens)
    if why is not None and not isinstance(why, str):
        raise invalid(f"gate({model.id!r}, ...)", why, "a str (why it is closed) or None")
    return why
