"""`Engine`: prompt → `Featurizer` → `Learner.decide` → `Decision`; feedback → `Learner.learn`.

The engine only wires the parts together and keeps them consistent under one lock; each part
lives in its own module (see ARCHITECTURE.md).

>>> from banditroute import Engine, Constraints, ModelProfile, HashingEmbedder
>>> engine = Engine([ModelProfile(id="small", provider="a", input_usd_per_mtok=0.2,
...                               output_usd_per_mtok=0.2)], embedder=HashingEmbedder(64), seed=0)
>>> d = engine.choose("Write a Python function that merges two sorted lists")
>>> d.model, engine.feedback(d, quality=0.9, cost_usd=0.004, latency_ms=850).quality
('small', 0.9)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from . import engine_state
from .choice import Gate
from .constraints import Constraints
from .decision import Decision, Outcome
from .drift import DriftMonitor
from .engine_log import LogLink, open_store
from .estimates import CallEstimator
from .evaluation.evaluator import Evaluator
from .features import ContextBuilder, Embedder, Featurizer
from .feedback_input import FeedbackFields, FeedbackInput, ObservedFields, score_response
from .learner import Learner
from .pending import PendingDecisions
from .policies import Policy
from .registry import ModelProfile, Registry
from .reward import Tradeoff
from .static_embedder import default_embedder, logged_embedder

if TYPE_CHECKING:
    from .gateway.client import Gateway
    from .store.ask import Answer
    from .store.decision_store import DecisionStore

__all__ = ["Engine"]


class Engine:
    """Chooses a model per prompt and learns from feedback.

    Parameters
    ----------
    models : Registry or iterable of ModelProfile
        The models that may be chosen.
    policy, estimator, tradeoff, drift : optional
        The `Learner`'s parts: quality posteriors (default `LinearThompsonSampling`), cost and
        latency estimates, λ (per USD) and μ (per ms) of reward = quality − λ·cost − μ·latency,
        and a `DriftMonitor` (None: no drift handling; events in `drift_events`).
    embedder, context : Embedder, ContextBuilder, optional
        The `Featurizer`'s parts: prompt → embedding → context vector (default: a 32-dim seeded
        projection plus bias and length). The default embedder is `default_embedder`: the
        static encoder distilled from MiniLM (``minilm-static-64-flat``, built once and
        cached), or the built-in encoder the decision log ``store`` was written with. MiniLM
        itself: ``embedder=MiniLMEmbedder()`` (``banditroute[embed]``).
    max_pending : int
        Decisions kept awaiting feedback; the oldest are forgotten beyond this.
    evaluator : Evaluator, optional
        Scores ``feedback(decision, response=...)``; learns from responses with a gold quality.
    store : DecisionStore or path, optional
        Decision log (LanceDB folder), written off the hot path; enables `ask`.
    seed : int, optional
        Seeds the policy (unless it has its own seed) and the drift monitor's detectors.
    """

    def __init__(
        self,
        models: Registry | Iterable[ModelProfile],
        *,
        policy: Policy | None = None,
        embedder: Embedder | None = None,
        context: ContextBuilder | None = None,
        tradeoff: Tradeoff | None = None,
        estimator: CallEstimator | None = None,
        max_pending: int = 100_000,
        drift: DriftMonitor | None = None,
        evaluator: Evaluator | None = None,
        store: DecisionStore | str | Path | None = None,
        seed: int | None = None,
    ) -> None:
        if embedder is None:
            embedder = default_embedder(logged_embedder(store))
        self.featurizer = Featurizer(embedder, context)
        self.learner = Learner.seeded(models, policy, estimator, tradeoff, drift, seed)
        self._pending = PendingDecisions(max_pending)
        self._lock = threading.RLock()
        self.registry, self.policy = self.learner.registry, self.learner.policy
        self.estimator, self.drift = self.learner.estimator, self.learner.drift
        self.drift_events = self.learner.drift_events
        self.embedder, self.context = self.featurizer.embedder, self.featurizer.context
        self.max_pending = max_pending
        self.evaluator = Evaluator.given_or_default(evaluator, self.embedder)
        self.gateway: Gateway | None = None  #: what `complete` calls through
        self.config_path: str | Path | None = None  #: the file `from_registry` read
        self.attach_store(store, "engine started")

    def attach_store(self, store: DecisionStore | str | Path | None, change: str) -> None:
        """Log decisions, outcomes, drift events and registry changes into ``store`` from now on."""
        self._log = LogLink(open_store(store, self.featurizer.embedder_name, self.embedder.dim))
        self.store = self._log.store  #: the decision log, if any
        self._log.registry(self.registry, change)

    @property
    def tradeoff(self) -> Tradeoff:
        """λ and μ of the reward; assign a new `Tradeoff` to change them (e.g. from a pacer)."""
        return self.learner.tradeoff

    @tradeoff.setter
    def tradeoff(self, value: Tradeoff) -> None:
        self.learner.tradeoff = value

    feedback_count = property(lambda self: self.learner.feedback_count, doc="Outcomes learned.")
    pending_decisions = property(lambda self: len(self._pending), doc="Awaiting feedback.")

    @classmethod
    def from_registry(cls, path: str | Path, **kwargs: Any) -> Engine:
        """An engine over the models of a TOML or JSON registry file (whose gateway tables, if
        any, configure `complete`: see `banditroute.gateway.config`)."""
        engine = cls(Registry.load(path), **kwargs)
        engine.config_path = path
        return engine

    def add_model(
        self, model: ModelProfile, *, valid_from: object = None, source: str = ""
    ) -> None:
        """Register a new model; it starts from its declared prior or its kin's (`onboarding`)."""
        self._edit_models(
            lambda: self.learner.add_model(model, valid_from=valid_from, source=source)
        )

    def remove_model(self, model_id: str) -> None:
        """Unregister a model and forget what was learned about it."""
        self._edit_models(self.learner.remove_model, model_id)

    def deprecate_model(
        self, model_id: str, replacement: str | None = None, *, on: object = None, source: str = ""
    ) -> None:
        """Exclude a model by default from now on, or from the date ``on``."""
        self._edit_models(
            lambda: self.learner.deprecate_model(model_id, replacement, on=on, source=source)
        )

    def update_model(self, model_id: str, **fields: Any) -> None:
        """Change a model's prices, capabilities, limits or latency (see `Registry.update`)."""
        self._edit_models(lambda: str(self.registry.update(model_id, **fields) or "no change"))

    def _edit_models(self, edit: Callable[..., str], *args: Any) -> None:
        with self._lock:  # the edit returns its description, logged as a registry change
            self._log.registry(self.registry, edit(*args))

    def choose(
        self,
        prompt: str,
        constraints: Constraints | None = None,
        *,
        embedding: np.ndarray | None = None,
        gate: Gate | None = None,
    ) -> Decision:
        """Choose the model for this prompt (`NoFeasibleModel` when none is allowed);
        ``embedding`` skips the embedder; ``gate`` excludes models that may not be called now."""
        features = self.featurizer.features(prompt, embedding)
        with self._lock:
            choice = self.learner.decide(
                features.context, features.tokens, constraints, secrets.token_hex(16), gate
            )
        self._pending.add(
            choice.decision.id, choice.pending(features.context, features.tokens, prompt)
        )
        self._log.decision(choice.decision, features.embedding, prompt, constraints)
        return choice.decision

    def feedback(self, decision: Decision | str, **report: Unpack[FeedbackFields]) -> Outcome:
        """Report what happened when the chosen model was called.

        The quality in [0, 1] comes from ``quality``, or else from the engine's evaluator scoring
        ``response``, or is 0 when ``error`` says the call failed. A ``response`` given together
        with ``quality`` is a gold label: the evaluator learns from it (`Evaluator.partial_fit`).
        The prompt is remembered from `choose` in memory only; after `load`, pass ``prompt=``
        with a response. Each decision takes feedback once.
        """
        decision_id = PendingDecisions.key(decision)
        given = FeedbackInput.from_keywords(report).require_signal()
        q, evaluation = given.quality, None
        if given.response is not None and (remembered := self._pending.get(decision_id)):
            with self._lock:
                q, evaluation = score_response(self.evaluator, given, remembered.prompt)
        pending = self._pending.take_or_raise(decision_id)
        q = 0.0 if q is None else q
        with self._lock:
            if pending.model in self.registry:
                events = self.learner.learn(pending, given, q)
                self._log.drift(events, len(self.drift_events))
        reward = self.tradeoff.reward(q, given.cost_usd or 0.0, given.latency_ms or 0.0)
        outcome = given.outcome(decision_id, pending.model, q, reward, evaluation)
        self._log.outcome(outcome)
        return outcome

    def observe(
        self,
        prompt: str,
        model: str,
        *,
        embedding: np.ndarray | None = None,
        **report: Unpack[ObservedFields],
    ) -> None:
        """Learn from a logged outcome this engine did not choose (warm start from your data):
        ``quality`` (required), ``cost_usd``, ``latency_ms``, ``output_tokens``."""
        given = FeedbackInput.from_keywords(report).require_signal()
        self.registry[model]  # raises UnknownModel
        features = self.featurizer.features(prompt, embedding)
        with self._lock:
            self.learner.observe(model, features.context, features.tokens, given)

    def complete(self, prompt: Any, constraints: Constraints | None = None, **options: Any) -> Any:
        """Choose, call with failover, measure, learn: see `banditroute.gateway.Gateway.complete`
        (the default gateway is made on first use; set ``engine.gateway`` to configure one)."""
        return self._gateway().complete(prompt, constraints, **options)

    async def acomplete(
        self, prompt: Any, constraints: Constraints | None = None, **kw: Any
    ) -> Any:
        """Async `complete` (see `banditroute.gateway.Gateway.acomplete`)."""
        return await self._gateway().acomplete(prompt, constraints, **kw)

    def _gateway(self) -> Gateway:
        from .gateway.config import GatewayConfig  # lazy: httpx

        self.gateway = self.gateway or GatewayConfig.load(self.config_path).build(self)
        return self.gateway

    def ask(self, question: str, *, evidence: int = 300) -> Answer:
        """Answer a question from the decision log (`banditroute.store.ask`); needs ``store=``."""
        return self._log.ask(question, self.embedder, evidence)

    def close(self) -> None:
        """Write what the decision log still holds in memory and stop its writer."""
        self._log.close()

    def save(self, path: str | Path) -> Path:
        """Save everything learned into the folder ``path`` (atomic; returns the file written)."""
        with self._lock:
            return engine_state.save(self, engine_state.state_folder(path))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: Embedder | None = None,
        store: DecisionStore | str | Path | None = None,
    ) -> Engine:
        """Load what `save` wrote. A custom embedder must be passed again as ``embedder``; the
        decision log is not part of the state: pass ``store`` to keep logging."""
        engine = engine_state.load(cls, engine_state.state_folder(path), embedder)
        if store is not None:
            engine.attach_store(store, "engine loaded")
        return engine
