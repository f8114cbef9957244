"""The routers a replay compares, each run over one stream for one λ and one seed.

Every function returns, per prompt of the stream (in the log's row order), the column of the
model it routed to. Learners see only the chosen model's outcome (bandit feedback); warm-start
data, when given, is full-information logged evaluation data.

>>> import numpy as np
>>> from banditroute.replay.routers import oracle_choices
>>> oracle_choices(np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[2.0, 1.0], [1.0, 1.0]]), 0.0)
array([1, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..drift import DriftEvent, DriftMonitor
from ..engine import Engine
from ..features import ContextBuilder
from ..outcome_log import OutcomeLog
from ..policies import EpsilonGreedy, LinearThompsonSampling, LinUCB, Policy, RandomPolicy
from ..registry import ModelProfile
from ..reward import Tradeoff
from ..store.decision_store import DecisionStore

__all__ = [
    "ENGINE_POLICIES",
    "Stream",
    "knn_choices",
    "mabwiser_choices",
    "oracle_choices",
    "run_engine",
]

# The engine's policies as a replay runs them: their defaults, seeded per run.
ENGINE_POLICIES: dict[str, Callable[[int], Policy]] = {
    "thompson": lambda seed: LinearThompsonSampling(seed=seed),
    "epsilon_greedy": lambda seed: EpsilonGreedy(seed=seed),
    "linucb": lambda seed: LinUCB(seed=seed),
    "random": lambda seed: RandomPolicy(seed=seed),
}


@dataclass(frozen=True)
class Stream:
    """A log with its prompts' embeddings (rows aligned)."""

    log: OutcomeLog
    embeddings: np.ndarray

    def contexts(self, builder: ContextBuilder) -> np.ndarray:
        from ..constraints import estimate_tokens

        pairs = zip(self.embeddings, self.log.prompts, strict=True)
        return np.array([builder.build(e, estimate_tokens(p)) for e, p in pairs])


class _GivenEmbeddings:
    """Stands in for an embedder when every embedding is passed explicitly."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - never called
        raise RuntimeError("replay passes embeddings explicitly")


def oracle_choices(quality: np.ndarray, cost: np.ndarray, cost_weight: float) -> np.ndarray:
    """Best model per prompt in hindsight for reward q − cost_weight·c (ties: the cheaper)."""
    reward = quality - cost_weight * cost
    best = reward.max(axis=1, keepdims=True)
    cheapest_best = np.where(np.isclose(reward, best, rtol=0, atol=1e-12), cost, np.inf)
    return cheapest_best.argmin(axis=1)


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
    """Route ``test`` in ``order`` through an `Engine` with this policy; feedback = the log.

    ``errors`` (prompts × models, bool) marks calls that fail; detected drift events are
    appended to ``events``.
    """
    engine = Engine(
        models,
        policy=policy,
        embedder=_GivenEmbeddings(test.embeddings.shape[1]),
        context=context,
        tradeoff=Tradeoff(cost_weight=cost_weight),
        drift=drift,
        store=store,
    )
    column = {m: j for j, m in enumerate(test.log.models)}
    if warm is not None:
        wl = warm.log
        for i in range(wl.n_prompts):
            for j, model in enumerate(wl.models):
                engine.observe(
                    wl.prompts[i],
                    model,
                    quality=float(wl.quality[i, j]),
                    cost_usd=float(wl.cost[i, j]),
                    embedding=warm.embeddings[i],
                )
    log = test.log
    chosen = np.empty(log.n_prompts, dtype=np.intp)
    for i in order:
        d = engine.choose(log.prompts[i], embedding=test.embeddings[i])
        j = column[d.model]
        chosen[i] = j
        latency = None if log.latency is None else float(log.latency[i, j])
        if errors is not None and errors[i, j]:
            engine.feedback(d, error="injected failure", cost_usd=0.0, latency_ms=latency)
        else:
            engine.feedback(
                d,
                quality=float(log.quality[i, j]),
                cost_usd=float(log.cost[i, j]),
                latency_ms=latency,
            )
    if events is not None:
        events.extend(engine.drift_events)
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
