"""The routers a replay compares, each run over one stream for one λ and one seed.

Every router returns, per prompt of the stream (in the log's row order), the column of the
model it routed to. Learners see only the chosen model's outcome (bandit feedback); warm-start
data, when given, is full-information logged evaluation data. `ROUTERS` names every router a
replay can run; the engine's policies route through the same `Learner` the `Engine` uses.

>>> import numpy as np
>>> from banditroute.replay.routers import ROUTERS, oracle_choices
>>> oracle_choices(np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[2.0, 1.0], [1.0, 1.0]]), 0.0)
array([1, 1])
>>> sorted(ROUTERS)  # doctest: +NORMALIZE_WHITESPACE
['epsilon_greedy', 'knn', 'linucb', 'mabwiser_lints', 'paretobandit', 'paretobandit_default',
 'random', 'thompson', 'thompson_common', 'thompson_evidence']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..drift import DriftEvent, DriftMonitor
from ..engine_log import LogLink
from ..features import ContextBuilder, estimate_tokens
from ..feedback_input import FeedbackInput
from ..learner import Learner
from ..outcome_log import OutcomeLog
from ..policies import POLICIES, Policy
from ..registry import ModelProfile, Registry
from ..reward import Tradeoff
from ..store.decision_store import DecisionStore

__all__ = [
    "ROUTERS",
    "RouteJob",
    "RouterSpec",
    "Stream",
    "knn_choices",
    "learn_full_information",
    "mabwiser_choices",
    "oracle_choices",
    "run_engine",
]


@dataclass(frozen=True)
class Stream:
    """A log with its prompts' embeddings (rows aligned)."""

    log: OutcomeLog
    embeddings: np.ndarray

    def contexts(self, builder: ContextBuilder) -> np.ndarray:
        pairs = zip(self.embeddings, self.log.prompts, strict=True)
        return np.array([builder.build(e, estimate_tokens(p)) for e, p in pairs])


@dataclass(frozen=True)
class RouteJob:
    """One run of one router: the stream, its order, the cost weight, the seed."""

    test: Stream
    models: list[ModelProfile]
    order: np.ndarray
    cost_weight: float
    seed: int
    warm: Stream | None = None
    builder: ContextBuilder | None = None
    store: DecisionStore | None = None
    knn_k: int = 100


@dataclass(frozen=True)
class RouterSpec:
    """How to run a router by name, and what it needs."""

    run: Callable[[RouteJob], np.ndarray]
    needs_warm_start: bool = False  #: a supervised router: skipped without warm-start data
    needs_module: str | None = None  #: an optional package it drives (its import name)
    package: str | None = None  #: that package's name on PyPI, when it differs
    cold_only: bool = False  #: skipped when warm-start data is given
    seeded: bool = True  #: False: deterministic, one run serves every seed
    engine_policy: bool = False  #: routes through the engine's own `Learner`


def oracle_choices(quality: np.ndarray, cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Best model per prompt in hindsight for reward q − cost_weight·c (ties: the cheaper)."""
    reward = quality - cost_weight * cost
    best = reward.max(axis=1, keepdims=True)
    cheapest_best = np.where(np.isclose(reward, best, rtol=0, atol=1e-12), cost, np.inf)
    return cheapest_best.argmin(axis=1)


def learn_full_information(learner: Learner, warm: Stream, builder: ContextBuilder) -> None:
    """Teach ``learner`` every model's logged outcome on every prompt of ``warm`` (warm start)."""
    log, contexts = warm.log, warm.contexts(builder)
    for i in range(log.n_prompts):
        tokens = estimate_tokens(log.prompts[i])
        for j, model in enumerate(log.models):
            given = FeedbackInput(float(log.quality[i, j]), float(log.cost[i, j]))
            learner.observe(model, contexts[i], tokens, given)


def run_engine(
    policy: Policy,
    models: list[ModelProfile],
    test: Stream,
    order: np.ndarray,
    cost_weight: float,
    warm: Stream | None = None,
    context: ContextBuilder | None = None,
    drift: DriftMonitor | None = None,
    errors: np.ndarray | None = None,
    events: list[DriftEvent] | None = None,
    store: DecisionStore | None = None,
) -> np.ndarray:
    """Route ``test`` in ``order`` through a `Learner` with this policy; feedback = the log.

    Exactly what an `Engine` does with precomputed embeddings, without featurising prompts.
    ``errors`` (prompts × models, bool) marks calls that fail; detected drift events are
    appended to ``events``; with a ``store`` every decision and outcome is logged.
    """
    builder = context if context is not None else ContextBuilder(test.embeddings.shape[1])
    registry = Registry(models)
    learner = Learner(registry, policy, tradeoff=Tradeoff(cost_weight=cost_weight), drift=drift)
    link = LogLink(store)
    link.registry(registry, "engine started")
    column = {m: j for j, m in enumerate(test.log.models)}
    if warm is not None:
        learn_full_information(learner, warm, builder)
    log, contexts = test.log, test.contexts(builder)
    chosen = np.empty(log.n_prompts, dtype=np.intp)
    for i in order:
        x, tokens = contexts[i], estimate_tokens(log.prompts[i])
        choice = learner.decide(x, tokens, decision_id=f"replay-{i}")
        d = choice.decision
        link.decision(d, test.embeddings[i], log.prompts[i], None)
        j = column[d.model]
        chosen[i] = j
        latency = None if log.latency is None else float(log.latency[i, j])
        if errors is not None and errors[i, j]:
            given = FeedbackInput(None, 0.0, latency, error="injected failure")
        else:
            given = FeedbackInput(float(log.quality[i, j]), float(log.cost[i, j]), latency)
        quality = given.quality or 0.0
        found = learner.learn(choice.pending(x, tokens, log.prompts[i]), given, quality)
        link.drift(found, len(learner.drift_events))
        reward = learner.tradeoff.reward(quality, given.cost_usd or 0.0, latency or 0.0)
        link.outcome(given.outcome(d.id, d.model, quality, reward, None))
    if events is not None:
        events.extend(learner.drift_events)
    return chosen


def knn_choices(test: Stream, train: Stream, cost_weight: float, k: int = 100) -> np.ndarray:
    """RouterBench's kNN router: predict each model's quality and cost as the mean over the k
    nearest training prompts (cosine on embeddings), pick the best predicted reward."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, train.log.n_prompts)
    index = NearestNeighbors(n_neighbors=k, metric="cosine").fit(train.embeddings)
    neighbours = index.kneighbors(test.embeddings, return_distance=False)
    predicted_q = train.log.quality[neighbours].mean(axis=1)
    predicted_c = train.log.cost[neighbours].mean(axis=1)
    return np.argmax(predicted_q - cost_weight * predicted_c, axis=1)


def mabwiser_choices(
    test: Stream,
    order: np.ndarray,
    cost_weight: float,
    seed: int,
    builder: ContextBuilder,
    warm: Stream | None = None,
) -> np.ndarray:
    """MABWiser's LinTS on the same contexts, learning the reward q − cost_weight·c itself."""
    from mabwiser.mab import MAB, LearningPolicy

    models = test.log.models
    mab = MAB(models, LearningPolicy.LinTS(alpha=1.0), seed=seed)
    contexts = test.contexts(builder)
    log = test.log
    fitted = False
    if warm is not None:
        wctx = warm.contexts(builder)
        n, m = warm.log.quality.shape
        rewards = (warm.log.quality - cost_weight * warm.log.cost).ravel()
        decisions = [models[j] for j in np.tile(np.arange(m), n)]  # prompt-major, like ravel
        mab.fit(decisions, rewards, np.repeat(wctx, m, axis=0))
        fitted = True
    rng = np.random.default_rng(seed)
    chosen = np.empty(log.n_prompts, dtype=np.intp)
    for i in order:
        x = contexts[i : i + 1]
        arm = mab.predict(x) if fitted else models[int(rng.integers(len(models)))]
        j = models.index(arm)
        chosen[i] = j
        reward = [float(log.quality[i, j] - cost_weight * log.cost[i, j])]
        if fitted:
            mab.partial_fit([arm], reward, x)
        else:
            mab.fit([arm], reward, x)
            fitted = True
    return chosen


def _engine_router(name: str, **settings: Any) -> RouterSpec:
    def run(job: RouteJob) -> np.ndarray:
        policy = POLICIES[name](seed=job.seed, **settings)
        return run_engine(
            policy, job.models, job.test, job.order, job.cost_weight, job.warm, store=job.store
        )

    return RouterSpec(run, engine_policy=True)


def _knn(job: RouteJob) -> np.ndarray:
    assert job.warm is not None
    return knn_choices(job.test, job.warm, job.cost_weight, job.knn_k)


def _mabwiser(job: RouteJob) -> np.ndarray:
    builder = job.builder or ContextBuilder(job.test.embeddings.shape[1])
    return mabwiser_choices(job.test, job.order, job.cost_weight, job.seed, builder, job.warm)


def _paretobandit(warmup: bool) -> RouterSpec:
    def run(job: RouteJob) -> np.ndarray:
        from .paretobandit_peer import paretobandit_choices, paretobandit_features

        if job.warm is not None:  # warmed by its own warm-up-prior tooling
            from .paretobandit_warm import warm_choices

            return warm_choices(job)
        features = paretobandit_features(job.test.embeddings)  # its MiniLM → PCA-25 + bias
        if features is None:  # not MiniLM vectors: our context vectors
            width = job.test.embeddings.shape[1]
            features = job.test.contexts(job.builder or ContextBuilder(width))
        log, order, weight = job.test.log, job.order, job.cost_weight
        return paretobandit_choices(job.models, log, features, order, weight, job.seed, warmup)

    # its shipped priors (``warmup``) are its own train split's: that router runs cold only
    return RouterSpec(run, needs_module="pareto_bandit", package="paretobandit", cold_only=warmup)


ROUTERS: dict[str, RouterSpec] = {
    **{name: _engine_router(name) for name in ("thompson", "epsilon_greedy", "linucb", "random")},
    # the engine's Thompson sampling with a common part and prior precision 4 (opt-in: see
    # `LinearThompsonSampling`)
    "thompson_common": _engine_router("thompson", common_part=True, prior_precision=4.0),
    # its prior precision learned from the data (`EvidenceThompson`, opt-in)
    "thompson_evidence": _engine_router("thompson_evidence"),
    "mabwiser_lints": RouterSpec(_mabwiser, needs_module="mabwiser"),
    "knn": RouterSpec(_knn, needs_warm_start=True, seeded=False),
    "paretobandit": _paretobandit(warmup=False),
    "paretobandit_default": _paretobandit(warmup=True),
}
