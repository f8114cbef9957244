"""`Engine`: prompt → features → feasible models → policy → `Decision`; feedback → posterior.

The engine only wires the parts together; each part lives in its own module.

>>> from banditroute import Engine, Constraints, ModelProfile, HashingEmbedder
>>> engine = Engine([
...     ModelProfile(id="small", provider="a", input_usd_per_mtok=0.2, output_usd_per_mtok=0.2),
...     ModelProfile(id="big", provider="b", input_usd_per_mtok=10, output_usd_per_mtok=30,
...                  capabilities=["code"])], embedder=HashingEmbedder(dim=64), seed=0)
>>> d = engine.choose("Write a Python function that merges two sorted lists",
...                   Constraints(capabilities={"code"}))
>>> d.model, d.fallbacks, d.excluded
('big', (), {'small': "lacks capabilities ['code']"})
>>> engine.feedback(d, quality=0.9, cost_usd=0.004, latency_ms=850).model
'big'
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .constraints import ArmEstimate, Constraints, estimate_tokens, split_feasible
from .decision import Candidate, Decision, Outcome
from .drift import DriftEvent, DriftMonitor
from .errors import (
    InvalidInput,
    NoFeasibleModel,
    StateFileError,
    UnknownDecision,
    check_number,
    invalid,
)
from .estimates import CallEstimator
from .evaluation.evaluator import Evaluation, Evaluator
from .features import (
    CachedEmbedder,
    ContextBuilder,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    validate_prompt,
)
from .policies import POLICIES, LinearThompsonSampling, Policy, PolicyState
from .registry import ModelProfile, Registry, RegistryChange
from .reward import Tradeoff
from .state import read_state, write_state

if TYPE_CHECKING:
    from .store.ask import Answer
    from .store.decision_store import DecisionStore

__all__ = ["Engine"]

STATE_FILE = "engine.npz"


@dataclass(frozen=True)
class _Pending:
    model: str
    context: np.ndarray
    prompt_tokens: int
    prompt: str | None = None  # kept in memory for response scoring, never saved
    probe: bool = False  # a scheduled probe of a model on probation after a drift


def _measurements(
    quality: object, cost_usd: object, latency_ms: object, output_tokens: object
) -> tuple[float | None, ...]:
    """Validate one call's optional measurements: quality in [0, 1], the others >= 0."""

    def optional(name: str, value: object, high: float = math.inf) -> float | None:
        return None if value is None else check_number(name, value, 0.0, high)

    return (
        optional("quality", quality, 1.0),
        optional("cost_usd", cost_usd),
        optional("latency_ms", latency_ms),
        optional("output_tokens", output_tokens),
    )


class Engine:
    """Chooses a model per prompt and learns from feedback.

    Parameters
    ----------
    models : Registry or iterable of ModelProfile
        The models that may be chosen.
    policy : Policy, optional
        Default: `LinearThompsonSampling` seeded with ``seed``.
    embedder : Embedder, optional
        Default: MiniLM (needs ``banditroute[embed]``). Wrapped in an LRU cache.
    context : ContextBuilder, optional
        Default: 32-dim seeded projection of the embedding, plus bias and length.
    tradeoff : Tradeoff, optional
        λ (per USD) and μ (per ms) of reward = quality − λ·cost − μ·latency.
    estimator : CallEstimator, optional
        Cost and latency estimates per model.
    max_pending : int
        Decisions kept awaiting feedback; the oldest are forgotten beyond this.
    drift : DriftMonitor, optional
        Watches each model's quality residual, latency and errors; on a detected degradation the
        model's posterior is reset (or softened) so it is explored again. Events are kept in
        `drift_events`. None: no drift handling.
    store : DecisionStore or path, optional
        Decision log (LanceDB folder): every decision, outcome, drift event and registry change
        is queued there and written in batches off the hot path; enables `ask`.
    evaluator : Evaluator, optional
        Scores ``feedback(decision, response=...)`` when no quality is given, and learns from
        responses that come with a gold quality. Default: an `Evaluator` on the engine's
        embedder.
    seed : int, optional
        Seed of the default policy.
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
        self.registry = models if isinstance(models, Registry) else Registry(models)
        if len(self.registry) == 0:
            raise invalid("models", [], "at least one ModelProfile")
        if policy is not None and not isinstance(policy, Policy):
            raise invalid("policy", policy, "a banditroute Policy")
        if not isinstance(max_pending, int) or max_pending < 1:
            raise invalid("max_pending", max_pending, "an int >= 1")
        self.policy = policy if policy is not None else LinearThompsonSampling(seed=seed)
        inner = embedder if embedder is not None else MiniLMEmbedder()
        self.embedder = inner if isinstance(inner, CachedEmbedder) else CachedEmbedder(inner)
        self.context = context if context is not None else ContextBuilder(self.embedder.dim)
        if self.context.embedding_dim != self.embedder.dim:
            raise invalid(
                "context.embedding_dim",
                self.context.embedding_dim,
                f"{self.embedder.dim} (the embedder's dim)",
            )
        self.tradeoff = tradeoff if tradeoff is not None else Tradeoff()
        self.estimator = estimator if estimator is not None else CallEstimator()
        self.max_pending = max_pending
        self.drift = drift
        if evaluator is not None and not isinstance(evaluator, Evaluator):
            raise invalid("evaluator", evaluator, "a banditroute Evaluator")
        self.evaluator = evaluator if evaluator is not None else Evaluator(embedder=self.embedder)
        self.drift_events: list[DriftEvent] = []
        self.feedback_count = 0
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.RLock()
        self.store = self._open_store(store)
        self._log_registry("engine started")

    def _open_store(self, store: DecisionStore | str | Path | None) -> DecisionStore | None:
        if store is None:
            return None
        from .store.decision_store import DecisionStore  # lazy: pyarrow, lancedb

        if isinstance(store, DecisionStore):
            return store
        if isinstance(store, str | Path):
            name = self._embedder_spec()["kind"]
            return DecisionStore(store, embedding_dim=self.embedder.dim, embedder=name)
        raise invalid("store", store, "a DecisionStore, a folder path or None")

    def _log_registry(self, change: str) -> None:
        if self.store is not None:
            self.store.record_registry(self.registry, change)

    @classmethod
    def from_registry(cls, path: str | Path, **kwargs: Any) -> Engine:
        """An engine over the models of a TOML or JSON registry file."""
        return cls(Registry.load(path), **kwargs)

    # -- run-time model changes -------------------------------------------------------------
    def add_model(self, model: ModelProfile) -> None:
        """Register a new model; it starts from the prior."""
        with self._lock:
            self.registry.add(model)
            self._log_registry(f"added {model.id}")

    def remove_model(self, model_id: str) -> None:
        """Unregister a model and forget what was learned about it."""
        with self._lock:
            self.registry.remove(model_id)
            if model_id in self.policy.arms:
                self.policy.remove_arm(model_id)
            self.estimator.forget(model_id)
            self._log_registry(f"removed {model_id}")

    def deprecate_model(self, model_id: str, replacement: str | None = None) -> None:
        """Exclude a model by default from now on."""
        with self._lock:
            self.registry.deprecate(model_id, replacement)
            self._log_registry(f"deprecated {model_id}")

    # -- choosing --------------------------------------------------------------------------------
    def choose(
        self,
        prompt: str,
        constraints: Constraints | None = None,
        *,
        embedding: np.ndarray | None = None,
    ) -> Decision:
        """Choose the model for this prompt; raise `NoFeasibleModel` when none is allowed.

        ``embedding`` skips the embedder (replays with precomputed embeddings).
        """
        prompt = validate_prompt(prompt)
        if constraints is None:
            constraints = Constraints()
        elif not isinstance(constraints, Constraints):
            raise invalid("constraints", constraints, "a banditroute Constraints")
        if constraints.force_model is not None:
            self.registry[constraints.force_model]  # raises UnknownModel with the known ids
        vector = self.embedder.embed_one(prompt) if embedding is None else embedding
        tokens = estimate_tokens(prompt)
        x = self.context.build(vector, tokens)
        with self._lock:
            decision = self._choose_locked(prompt, x, tokens, constraints)
        if self.store is not None:
            self.store.record_decision(decision, vector, prompt, constraints)
        return decision

    def _choose_locked(
        self, prompt: str, x: np.ndarray, tokens: int, constraints: Constraints
    ) -> Decision:
        models = list(self.registry)
        mean, sd = self.policy.posterior(x, [m.id for m in models])
        costs = self.estimator.costs_usd(models, tokens, x, constraints.expected_output_tokens)
        latencies = self.estimator.latencies_ms(models)
        estimates = {
            m.id: ArmEstimate(c, lat, q)
            for m, c, lat, q in zip(
                models, costs.tolist(), latencies.tolist(), mean.tolist(), strict=True
            )
        }
        feasible, excluded = split_feasible(models, constraints, tokens, estimates)
        if not feasible:
            raise NoFeasibleModel(excluded)
        arms = [m.id for m in feasible]
        rows = np.array([position for position, m in enumerate(models) if m.id not in excluded])
        penalty = self.tradeoff.penalty(costs[rows], latencies[rows])
        feasible_mean, feasible_sd = mean[rows], sd[rows]
        utilities = self.policy.utilities_from_posterior(
            feasible_mean, feasible_sd, penalty, 1, arms
        )
        order = np.argsort(-utilities[0], kind="stable")
        probe = None if self.drift is None else self.drift.next_probe(arms)
        if probe is not None:  # a model on probation after a drift: scheduled, not sampled
            first = arms.index(probe)
            order = np.r_[first, order[order != first]]
            propensity = 1.0
        else:
            propensity = self.policy.propensity(
                feasible_mean, feasible_sd, penalty, int(order[0]), arms
            )
        chosen = arms[int(order[0])]
        ranked = rows[order]
        candidates = tuple(
            map(
                Candidate,
                [arms[j] for j in order.tolist()],
                utilities[0, order].tolist(),
                mean[ranked].tolist(),
                sd[ranked].tolist(),
                costs[ranked].tolist(),
                latencies[ranked].tolist(),
            )
        )
        decision = Decision(
            id=secrets.token_hex(16),
            model=chosen,
            fallbacks=tuple(c.model for c in candidates[1:]),
            propensity=propensity,
            policy=self.policy.name if probe is None else f"{self.policy.name}+probe",
            prompt_tokens=tokens,
            candidates=candidates,
            excluded=excluded,
        )
        self._pending[decision.id] = _Pending(chosen, x, tokens, prompt, probe is not None)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
        return decision

    # -- learning --------------------------------------------------------------------------------
    def feedback(
        self,
        decision: Decision | str,
        *,
        quality: float | None = None,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        output_tokens: float | None = None,
        error: str | None = None,
        response: str | None = None,
        prompt: str | None = None,
    ) -> Outcome:
        """Report what happened when the chosen model was called.

        The quality in [0, 1] comes from ``quality``, or else from the engine's evaluator scoring
        ``response``, or is 0 when ``error`` says the call failed. A ``response`` given together
        with ``quality`` is a gold label: the evaluator learns from it (`Evaluator.partial_fit`).
        The prompt is remembered from `choose` in memory only; after `load`, pass ``prompt=``
        with a response. Each decision takes feedback once.
        """
        decision_id = decision.id if isinstance(decision, Decision) else decision
        if not isinstance(decision_id, str):
            raise invalid("decision", decision, "a Decision or a decision id")
        q, cost, latency, out_tokens = _measurements(quality, cost_usd, latency_ms, output_tokens)
        if error is not None and not isinstance(error, str):
            raise invalid("error", error, "a string describing the failure, or None")
        if response is not None and not isinstance(response, str):
            raise invalid("response", response, "the model's answer as a str, or None")
        if q is None and error is None and response is None:
            raise InvalidInput("feedback needs quality=... (in [0, 1]), response=... or error=...")
        evaluation = None
        if response is not None:
            q, evaluation = self._score_response(decision_id, response, prompt, q, error)
        q = 0.0 if q is None else q
        with self._lock:
            pending = self._pending.pop(decision_id, None)
            if pending is None:
                raise UnknownDecision(
                    f"decision {decision_id!r} is unknown to this engine or already has feedback"
                )
            if pending.model in self.registry:
                self._learn(pending, q, cost, latency, out_tokens, error is not None)
        reward = self.tradeoff.reward(q, cost or 0.0, latency or 0.0)
        outcome = Outcome(decision_id, pending.model, q, reward, cost, latency, error, evaluation)
        if self.store is not None:
            self.store.record_outcome(outcome)
        return outcome

    def _score_response(
        self,
        decision_id: str,
        response: str,
        prompt: str | None,
        quality: float | None,
        error: str | None,
    ) -> tuple[float | None, Evaluation | None]:
        """A gold ``quality`` teaches the evaluator; without one, the evaluator gives the quality.

        An unknown decision is left for the caller to report.
        """
        with self._lock:
            pending = self._pending.get(decision_id)
        if pending is None:
            return quality, None
        text = prompt if prompt is not None else pending.prompt
        if text is None:
            raise InvalidInput(
                "this decision's prompt is not in memory (engine reloaded?): pass prompt=..."
            )
        if quality is not None:
            with self._lock:
                self.evaluator.partial_fit([text], [response], [quality])
            return quality, None
        if error is not None:
            return None, None
        evaluation = self.evaluator.evaluate(text, response)
        return evaluation.total, evaluation

    def _learn(
        self,
        pending: _Pending,
        q: float,
        cost: float | None,
        latency: float | None,
        out_tokens: float | None,
        failed: bool,
    ) -> None:
        """Update the policy, the estimates and the drift monitor with one outcome (locked)."""
        model = self.registry[pending.model]
        predicted = None
        if self.drift is not None:
            predicted = float(self.policy.posterior(pending.context, [model.id])[0][0])
        if not pending.probe:  # probe outcomes test the posterior; they must not move it
            self.policy.update(pending.model, pending.context, q)
        self.estimator.observe(
            model, pending.context, pending.prompt_tokens, cost, latency, out_tokens, failed
        )
        self.feedback_count += 1
        if self.drift is None or predicted is None:
            return
        residual = q - predicted
        if pending.probe:
            rise = self.drift.probe_result(model.id, self.feedback_count, residual)
            events = [] if rise is None else [rise]
        else:
            events = self.drift.observe(model.id, self.feedback_count, residual, latency, failed)
        for event in events:
            self._react(event)

    def observe(
        self,
        prompt: str,
        model: str,
        *,
        quality: float,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        output_tokens: float | None = None,
        embedding: np.ndarray | None = None,
    ) -> None:
        """Learn from a logged outcome this engine did not choose (evaluation logs, imports).

        Unlike `feedback`, no decision is needed: use it to warm-start from data you have.
        """
        prompt = validate_prompt(prompt)
        q, cost, latency, out_tokens = _measurements(quality, cost_usd, latency_ms, output_tokens)
        profile = self.registry[model]
        vector = self.embedder.embed_one(prompt) if embedding is None else embedding
        tokens = estimate_tokens(prompt)
        x = self.context.build(vector, tokens)
        with self._lock:
            self.policy.update(model, x, float(q))  # type: ignore[arg-type]
            self.estimator.observe(profile, x, tokens, cost, latency, out_tokens)

    def _react(self, event: DriftEvent) -> None:
        """Make a degraded (or restored) model explored again, and remember the event."""
        assert self.drift is not None
        self.drift_events.append(event)
        if self.store is not None:
            self.store.record_drift(event, f"drift-{len(self.drift_events)}-{secrets.token_hex(4)}")
        if event.signal == "latency":
            self.estimator.set_latency(event.model, event.mean_after)
        elif event.signal == "quality" and event.mean_after > event.mean_before:
            self.policy.reset_arm(event.model)  # recovered (seen by probes): learn it afresh
        else:
            if self.drift.response == "reset":
                self.policy.reset_arm(event.model)
            else:
                self.policy.soften_arm(event.model, self.drift.shrink_factor)
            self.drift.start_probation(event)
        self.drift.forget(event.model, event.signal)

    # -- the decision log ---------------------------------------------------------------------
    def ask(self, question: str, *, evidence: int = 300) -> Answer:
        """Answer a question from the decision log, e.g. "which model is best for python code?".

        Needs an engine created with ``store=``; see `banditroute.store.ask` for what is
        understood.
        """
        if self.store is None:
            raise InvalidInput("ask needs a decision log: create the engine with store=FOLDER")
        from .store.ask import ask

        return ask(self.store, question, self.embedder, evidence=evidence)

    def close(self) -> None:
        """Write what the decision log still holds in memory and stop its writer."""
        if self.store is not None:
            self.store.close()

    @property
    def pending_decisions(self) -> int:
        """Decisions still awaiting feedback."""
        return len(self._pending)

    # -- persistence ----------------------------------------------------------------------------
    def _embedder_spec(self) -> dict[str, Any]:
        inner = self.embedder.inner
        if isinstance(inner, MiniLMEmbedder):
            return {"kind": "minilm"}
        if isinstance(inner, HashingEmbedder):
            return {"kind": "hashing", "dim": inner.dim}
        return {"kind": "custom", "dim": inner.dim}

    def save(self, path: str | Path) -> Path:
        """Save everything learned into the folder ``path`` (atomic; returns the file written)."""
        target = Path(path) / STATE_FILE
        with self._lock:
            state = self.policy.get_state()
            pending_ids = list(self._pending)
            pending = [self._pending[i] for i in pending_ids]
            header = {
                "registry": self.registry.to_records(),
                "registry_history": [vars(c) for c in self.registry.history],
                "policy": {"name": self.policy.name, "params": self.policy.get_params()},
                "policy_arms": state.arms,
                "rng_state": state.rng_state,
                "estimator": self.estimator.to_records(),
                "embedder": self._embedder_spec(),
                "context": {
                    "embedding_dim": self.context.embedding_dim,
                    "n_components": self.context.n_components,
                    "seed": self.context.seed,
                },
                "tradeoff": self.tradeoff.model_dump(),
                "max_pending": self.max_pending,
                "feedback_count": self.feedback_count,
                "drift": None if self.drift is None else self.drift.get_params(),
                "drift_events": [vars(e) for e in self.drift_events],
                "evaluator": self.evaluator.get_params(),
                "pending": [
                    {"id": i, "model": p.model, "prompt_tokens": p.prompt_tokens}
                    for i, p in zip(pending_ids, pending, strict=True)
                ],
            }
            arrays = {
                **state.arrays,
                **self.estimator.arrays(),
                **self.evaluator.calibration.arrays("evaluator_"),
                "pending_contexts": np.array([p.context for p in pending])
                if pending
                else np.zeros((0, self.context.dim)),
            }
            write_state(target, header, arrays)
        return target

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
        header, arrays = read_state(Path(path) / STATE_FILE)
        try:
            engine = cls._from_state(header, arrays, embedder)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, StateFileError):
                raise
            raise StateFileError(f"saved engine state is inconsistent: {exc!r}") from None
        if store is not None:
            engine.store = engine._open_store(store)
            engine._log_registry("engine loaded")
        return engine

    @classmethod
    def _from_state(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], embedder: Embedder | None
    ) -> Engine:
        spec = header["embedder"]
        if embedder is None:
            if spec["kind"] == "minilm":
                embedder = MiniLMEmbedder()
            elif spec["kind"] == "hashing":
                embedder = HashingEmbedder(dim=int(spec["dim"]))
            else:
                raise StateFileError("this state used a custom embedder: pass embedder=... to load")
        policy_info = header["policy"]
        if policy_info["name"] not in POLICIES:
            raise StateFileError(f"unknown policy {policy_info['name']!r} in saved state")
        policy = POLICIES[policy_info["name"]](**policy_info["params"])
        policy.set_state(PolicyState(list(header["policy_arms"]), arrays, header["rng_state"]))
        registry = Registry.from_records(header["registry"], origin="saved state")
        registry.history = [RegistryChange(**c) for c in header["registry_history"]]
        estimator = CallEstimator.from_records(header["estimator"], arrays)
        ctx = header["context"]
        engine = cls(
            registry,
            policy=policy,
            embedder=embedder,
            context=ContextBuilder(ctx["embedding_dim"], ctx["n_components"], ctx["seed"]),
            tradeoff=Tradeoff(**header["tradeoff"]),
            estimator=estimator,
            max_pending=int(header["max_pending"]),
            drift=None if header["drift"] is None else DriftMonitor(**header["drift"]),
        )
        if "evaluator" in header:  # states from before the evaluator keep the default
            engine.evaluator = Evaluator.from_params(header["evaluator"], engine.embedder)
            engine.evaluator.calibration.load_arrays(arrays, "evaluator_")
        engine.feedback_count = int(header["feedback_count"])
        engine.drift_events = [DriftEvent(**e) for e in header["drift_events"]]
        contexts = arrays["pending_contexts"]
        for row, item in zip(contexts, header["pending"], strict=True):
            engine._pending[item["id"]] = _Pending(item["model"], row, int(item["prompt_tokens"]))
        return engine
