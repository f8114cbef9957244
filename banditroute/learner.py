"""The learned parts of a router and the two steps that use them: `decide` and `learn`.

`Learner` holds the registry, the policy (quality posteriors), the cost/latency estimator, the
tradeoff and the drift monitor. It works on context vectors, so replays drive it directly with
precomputed embeddings; the `Engine` adds featurising, pending decisions, locks, the decision log
and the evaluator around it.

>>> import numpy as np
>>> from banditroute.learner import Learner
>>> from banditroute.registry import ModelProfile, Registry
>>> from banditroute.policies import LinearThompsonSampling
>>> learner = Learner(Registry([ModelProfile(id="a", provider="p", input_usd_per_mtok=1,
...                                         output_usd_per_mtok=1)]),
...                   LinearThompsonSampling(seed=0))
>>> from banditroute.feedback_input import FeedbackInput
>>> x = np.array([1.0, 0.1])
>>> choice = learner.decide(x, 12, decision_id="d1")
>>> pending = choice.pending(x, 12, "a prompt")
>>> choice.decision.model, learner.learn(pending, FeedbackInput(0.9), 0.9), learner.feedback_count
('a', [], 1)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from .choice import Choice, Gate, decide
from .constraints import Constraints, warn_unknown_models
from .drift import DriftEvent, DriftMonitor, Reaction
from .errors import invalid
from .estimates import CallEstimator
from .feedback_input import FeedbackInput
from .onboarding import declared_intercepts, similar_models
from .pending import PendingDecision
from .policies import LinearThompsonSampling, Policy
from .probation import HISTORY, PreDrift
from .registry import ModelProfile, Registry
from .reward import Tradeoff

__all__ = ["Learner"]

_ANY = Constraints()  # no constraints (immutable, shared)


class Learner:
    """Decides from the posteriors and estimates, and learns from outcomes.

    Parameters
    ----------
    registry : Registry
        The models that may be chosen.
    policy : Policy
        Quality posteriors and how they are explored.
    estimator : CallEstimator, optional
        Cost and latency estimates per model.
    tradeoff : Tradeoff, optional
        λ and μ of reward = quality − λ·cost − μ·latency.
    drift : DriftMonitor, optional
        Watches each model for degradations and says how to react.
    """

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        estimator: CallEstimator | None = None,
        tradeoff: Tradeoff | None = None,
        drift: DriftMonitor | None = None,
    ) -> None:
        if not isinstance(registry, Registry):
            raise invalid("registry", registry, "a banditroute Registry")
        if not isinstance(policy, Policy):
            raise invalid("policy", policy, "a banditroute Policy")
        if estimator is not None and not isinstance(estimator, CallEstimator):
            raise invalid("estimator", estimator, "a banditroute CallEstimator or None")
        if drift is not None and not isinstance(drift, DriftMonitor):
            raise invalid("drift", drift, "a banditroute DriftMonitor or None")
        self.registry = registry
        self.policy = policy
        self.estimator = estimator if estimator is not None else CallEstimator()
        self.tradeoff = tradeoff if tradeoff is not None else Tradeoff()  # the setter checks
        self.drift = drift
        self.drift_events: list[DriftEvent] = []
        self._pre_drift: dict[str, PreDrift] = {}  # degraded models' former posteriors
        self._latest: dict[str, deque[tuple[np.ndarray, float]]] = {}  # outcomes, for those
        self._feedback_count = 0
        self._declare(list(registry))

    @classmethod
    def seeded(
        cls,
        models: Registry | Iterable[ModelProfile],
        policy: Policy | None = None,
        estimator: CallEstimator | None = None,
        tradeoff: Tradeoff | None = None,
        drift: DriftMonitor | None = None,
        seed: int | None = None,
    ) -> Learner:
        """A learner whose random parts are seeded by ``seed``: the policy (default
        `LinearThompsonSampling`) unless it has another seed of its own, and the drift monitor
        unless it has one."""
        registry = models if isinstance(models, Registry) else Registry(models)
        if len(registry) == 0:
            raise invalid("models", [], "at least one ModelProfile")
        if policy is None:
            policy = LinearThompsonSampling(seed=seed)
        elif not isinstance(policy, Policy):
            raise invalid("policy", policy, "a banditroute Policy")
        elif seed is not None and policy.seed is None:
            policy.reseed(seed)
        elif seed is not None and policy.seed != seed:
            raise invalid("seed", seed, f"None or the policy's own seed {policy.seed!r}")
        if isinstance(drift, DriftMonitor) and drift.seed is None:
            drift.seed = seed
        return cls(registry, policy, estimator, tradeoff, drift)

    @property
    def tradeoff(self) -> Tradeoff:
        """λ and μ of the reward; may be replaced at any time (e.g. by a budget pacer)."""
        return self._tradeoff

    @tradeoff.setter
    def tradeoff(self, value: Tradeoff) -> None:
        if not isinstance(value, Tradeoff):
            raise invalid("tradeoff", value, "a banditroute Tradeoff")
        self._tradeoff = value

    @property
    def feedback_count(self) -> int:
        """Outcomes learned from so far (the drift monitor's clock)."""
        return self._feedback_count

    def restore_counts(self, feedback_count: int) -> None:
        """Set the feedback counter (when loading a saved state)."""
        count = feedback_count
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise invalid("feedback_count", count, "an int >= 0")
        self._feedback_count = feedback_count

    def decide(
        self,
        context: np.ndarray,
        prompt_tokens: int,
        constraints: Constraints | None = None,
        decision_id: str = "",
        gate: Gate | None = None,
    ) -> Choice:
        """A `Choice` for one prompt's context (see `banditroute.choice.decide`)."""
        if constraints is None:
            constraints = _ANY
        elif not isinstance(constraints, Constraints):
            raise invalid("constraints", constraints, "a banditroute Constraints")
        if constraints.force_model is not None:
            self.registry[constraints.force_model]  # raises UnknownModel with the known ids
        if constraints.deny_models or constraints.allow_models:
            warn_unknown_models(constraints, self.registry.ids)
        return decide(
            list(self.registry),
            context,
            prompt_tokens,
            constraints,
            self.policy,
            self.estimator,
            self.tradeoff,
            decision_id,
            None if self.drift is None else self.drift.next_probe,
            gate,
        )

    def learn(
        self, pending: PendingDecision, given: FeedbackInput, quality: float
    ) -> list[DriftEvent]:
        """Learn ``quality`` (and the measurements ``given``) for a pending decision; return the
        drift events this revealed.

        The drift residual is measured against the quality predicted when the decision was made;
        probe outcomes test the posterior and never move it.
        """
        model = self.registry[pending.model]
        context, predicted = pending.context, pending.predicted_quality
        if self.drift is not None and predicted is None:  # decisions restored from old states
            predicted = float(self.policy.posterior(context, [model.id])[0][0])
        if not pending.probe:
            self.policy.update(model.id, context, quality)
            if self.drift is not None:
                latest = self._latest.setdefault(model.id, deque(maxlen=HISTORY))
                latest.append((np.array(context), quality))
        failed = given.error is not None
        self.estimator.observe(
            model,
            context,
            pending.prompt_tokens,
            given.cost_usd,
            given.latency_ms,
            given.output_tokens,
            failed,
        )
        self._feedback_count += 1
        if self.drift is None or predicted is None:
            return []
        kept = self._pre_drift.get(model.id)
        if pending.probe and kept is not None:  # judged against its former self, degraded
            predicted = kept.expected(self.policy, model.id, context, predicted)
        found = self.drift.outcome(
            model.id,
            self._feedback_count,
            quality - predicted,
            given.latency_ms,
            failed,
            pending.probe,
        )
        for event, reaction in found:
            self.drift_events.append(event)
            self._apply(reaction)
        return [event for event, _ in found]

    def observe(
        self, model_id: str, context: np.ndarray, tokens: int, given: FeedbackInput
    ) -> None:
        """Learn from a logged outcome that no decision of this learner led to."""
        profile = self.registry[model_id]
        self.policy.update(model_id, context, float(given.quality or 0.0))
        self.estimator.observe(
            profile, context, tokens, given.cost_usd, given.latency_ms, given.output_tokens
        )

    def add_model(self, model: ModelProfile, *, valid_from: object = None, source: str = "") -> str:
        """Register a new model; returns the change, described. It starts from its declared
        prior quality, else from what the models most like it learned (`onboarding`)."""
        known = [m for m in self.registry if m.id in self.policy.arms]
        self.registry.add(model, valid_from=valid_from, source=source)
        if model.prior_quality is not None:
            self._declare(list(self.registry))
        else:
            self.policy.borrow_prior(model.id, similar_models(model, known))
        return f"added {model.id}"

    def _declare(self, models: list[ModelProfile]) -> None:
        for model_id, quality in declared_intercepts(models, self.policy.prior_quality).items():
            self.policy.declare_prior(model_id, quality)  # reaches models not learned yet

    def remove_model(self, model_id: str) -> str:
        """Unregister a model and forget what was learned about it; the last model may not be
        removed (an engine needs one: add its successor first)."""
        if len(self.registry) == 1 and model_id in self.registry:
            raise invalid(
                "model_id", model_id, "not the registry's last model (add its successor first)"
            )
        self.registry.remove(model_id)
        if model_id in self.policy.arms:
            self.policy.remove_arm(model_id)
        self.estimator.forget(model_id)
        self._pre_drift.pop(model_id, None)
        self._latest.pop(model_id, None)
        if self.drift is not None:
            self.drift.end_probation(model_id)
        return f"removed {model_id}"

    def deprecate_model(
        self, model_id: str, replacement: str | None = None, *, on: object = None, source: str = ""
    ) -> str:
        """Exclude a model by default from now on, or from the date ``on``."""
        self.registry.deprecate(model_id, replacement, on=on, source=source)
        return f"deprecated {model_id}"

    def _apply(self, reaction: Reaction) -> None:
        if reaction.action == "set_latency":
            self.estimator.set_latency(reaction.model, reaction.value)
        elif reaction.action == "reset":
            model, latest = reaction.model, list(self._latest.pop(reaction.model, ()))
            if reaction.value > 0:  # a recovery, learned afresh
                self._pre_drift.pop(model, None)
            elif model in self.policy.arms and model not in self._pre_drift:
                since = latest[max(len(latest) - reaction.since, 0) :] if reaction.since else []
                self._pre_drift[model] = PreDrift(self.policy, model, reaction.value, since)
            self.policy.reset_arm(model)
        elif reaction.action == "restore":  # a recovery: the posterior from before the drop
            self._latest.pop(reaction.model, None)
            kept = self._pre_drift.pop(reaction.model, None)
            if kept is None:
                self.policy.reset_arm(reaction.model)
            else:
                kept.restore(self.policy, reaction.model)
        else:
            self.policy.soften_arm(reaction.model, reaction.value)
