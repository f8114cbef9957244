"""Replay a logged workload through every router over a λ sweep and several seeds.

reward = quality − λ·cost / cost_scale, cost_scale = the largest per-model mean cost of the
routed log. Cold start: one pass in a seeded random order. Warm start: learn from the train log
first (full information), then route the test log, still learning online.

>>> from banditroute.synthetic import make_workload
>>> from banditroute.features import HashingEmbedder
>>> from banditroute.replay.runner import ReplaySettings, prepare, replay
>>> log, models = make_workload(200, seed=0)
>>> stream = prepare(log, HashingEmbedder(64), "hashing64", cache_dir=None, progress=False)
>>> result = replay(stream, models, ReplaySettings(lambdas=(0.0, 1.0), seeds=2,
...                 policies=("thompson", "random")), progress=False)
>>> sorted(result.choices), result.choices["thompson"].shape
(['oracle', 'random', 'thompson'], (2, 2, 200))
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..embedding_cache import embed_cached
from ..errors import InvalidInput, invalid
from ..features import ContextBuilder, Embedder
from ..outcome_log import OutcomeLog
from ..registry import ModelProfile
from ..store.decision_store import DecisionStore
from .routers import ROUTERS, RouteJob, Stream, oracle_choices

__all__ = [
    "DEFAULT_LAMBDAS",
    "ReplayResult",
    "ReplaySettings",
    "prepare",
    "replay",
]

DEFAULT_LAMBDAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4)


@dataclass(frozen=True)
class ReplaySettings:
    """What to run: λ grid, number of seeds, and which routers (engine policies and peers)."""

    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    seeds: int = 3
    policies: tuple[str, ...] = (
        "thompson",
        "epsilon_greedy",
        "linucb",
        "random",
        "mabwiser_lints",
        "knn",
    )
    knn_k: int = 100

    def __post_init__(self) -> None:
        if not self.lambdas or any(not np.isfinite(v) or v < 0 for v in self.lambdas):
            raise invalid("lambdas", self.lambdas, "a non-empty list of finite numbers >= 0")
        if self.seeds < 1:
            raise invalid("seeds", self.seeds, ">= 1")
        unknown = set(self.policies) - set(ROUTERS)
        if unknown:
            raise invalid("policies", sorted(unknown), f"among {sorted(ROUTERS)}")


@dataclass
class ReplayResult:
    """Choices per router, shaped (n_lambdas, n_seeds, n_prompts), plus what they ran on."""

    log: OutcomeLog
    lambdas: tuple[float, ...]
    cost_scale: float
    choices: dict[str, np.ndarray]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def prepare(
    log: OutcomeLog,
    embedder: Embedder,
    embedder_name: str,
    cache_dir: str | Path | None,
    progress: bool = True,
) -> Stream:
    """Embed a log's prompts (from the on-disk cache when possible)."""
    if cache_dir is None:
        embeddings = np.asarray(embedder.embed(log.prompts), dtype=np.float64)
    else:
        embeddings = embed_cached(
            log.prompts, embedder, embedder_name, cache_dir, progress=progress
        )
    return Stream(log, embeddings)


def _check_models(log: OutcomeLog, models: Sequence[ModelProfile]) -> list[ModelProfile]:
    by_id = {m.id: m for m in models}
    missing = [m for m in log.models if m not in by_id]
    if missing:
        raise InvalidInput(
            f"the registry has no profile (prices) for {missing}: list them in it, or replay "
            "without one to infer their prices from the logged costs"
        )
    return [by_id[m] for m in log.models]


def replay(
    test: Stream,
    models: Sequence[ModelProfile],
    settings: ReplaySettings,
    warm: Stream | None = None,
    progress: bool = True,
    store: DecisionStore | None = None,
) -> ReplayResult:
    """Run every router in ``settings`` on ``test`` (after learning from ``warm`` if given).

    With a ``store``, the first engine policy's run (first λ, seed 0) is logged into it.
    """
    import time

    profiles = _check_models(test.log, models)
    if warm is not None and warm.log.models != test.log.models:
        raise InvalidInput("the warm-start log must list the same models as the routed log")
    log = test.log
    cost_scale = float(log.cost.mean(axis=0).max()) or 1.0
    n_l, n_s, n = len(settings.lambdas), settings.seeds, log.n_prompts
    orders = [np.random.default_rng(seed).permutation(n) for seed in range(n_s)]
    result = ReplayResult(log, settings.lambdas, cost_scale, {})
    builder = ContextBuilder(test.embeddings.shape[1])
    jobs = []
    for name in settings.policies:
        spec = ROUTERS[name]
        if spec.needs_warm_start and warm is None:
            result.skipped[name] = "needs --warm-start data (it is a supervised router)"
        elif spec.cold_only and warm is not None:
            result.skipped[name] = "routes cold only (its shipped priors already hold other data)"
        elif spec.needs_module and importlib.util.find_spec(spec.needs_module) is None:
            package = spec.package or spec.needs_module
            result.skipped[name] = f"{package} is not installed (pip install {package}, or "
            result.skipped[name] += "banditroute[bench])"
        else:
            jobs.append(name)
    bar = tqdm(total=len(jobs) * n_l * n_s, desc="replay", unit="run", disable=not progress)
    for name in jobs:
        spec = ROUTERS[name]
        started = time.perf_counter()
        out = np.empty((n_l, n_s, n), dtype=np.intp)
        for li, lam in enumerate(settings.lambdas):
            for seed in range(n_s):
                # The first engine policy's first run (first λ, seed 0) is logged into the store.
                logged = store if spec.engine_policy and (li, seed) == (0, 0) else None
                job = RouteJob(
                    test, profiles, orders[seed], lam / cost_scale, seed, warm, builder,
                    logged, settings.knn_k,
                )  # fmt: skip
                out[li, seed] = spec.run(job) if spec.seeded or seed == 0 else out[li, 0]
                if logged is not None:
                    logged.flush()
                    store = None
                bar.update(1)
        result.choices[name] = out
        result.seconds[name] = time.perf_counter() - started
    bar.close()
    oracle = np.empty((n_l, 1, n), dtype=np.intp)
    for li, lam in enumerate(settings.lambdas):
        oracle[li, 0] = oracle_choices(log.quality, log.cost, lam / cost_scale)
    result.choices["oracle"] = oracle
    return result
