"""ParetoBandit (the ``paretobandit`` package, arXiv 2604.00136) driven as a replay router.

Driven as its users drive it: ``BanditRouter.create(...)`` over the log's models and their
list prices, features passed pre-computed (``FeatureService.for_precomputed``), then per prompt
``model, routed = router.route(x)`` and ``router.process_feedback(routed.request_id,
reward=quality)`` with the logged quality of the model it chose (bandit feedback only).

Features: its own pipeline, ``FeatureService(custom_encoder=..., pca_path=<its shipped
PCA-25>)``: L2-normalised MiniLM vector → its shipped 25-component PCA (whitened) → + bias
(d = 26), fed the MiniLM vectors the replay already has (``minilm-clip200-500``, cached; the
same all-MiniLM-L6-v2 weights its pipeline uses, on our clipped prompt text). Embeddings of
another width than the PCA's input (384) are not MiniLM's: its LinUCB then gets our context
vectors (`ContextBuilder`) instead. With ``--embedder hashing`` the PCA is applied to hashing
vectors: a test setting, not a measurement.

Settings: ``paretobandit`` runs its tuned cold-start configuration,
``BEST_K3_TABULA_RASA_HPARAMS`` (``priors="none"``, alpha 0.05, n_eff 1, forgetting 0.997);
``paretobandit_default`` runs ``BanditRouter.create``'s defaults (``priors="warmup"``: its
shipped priors, fitted on its own training split for its three models — other models get its
heuristic start — with ``BEST_K3_HPARAMS``: alpha 0.01, n_eff 1163.9, forgetting 0.997).
Seeded per replay seed
(``bandit_seed``). With ``--warm-start`` data, ``paretobandit`` is warmed by its own warm-up
prior tooling (`paretobandit_warm`); ``paretobandit_default`` runs cold only.

λ mapping: our reward is ``quality − w·cost`` with ``w = λ / cost_scale``. ParetoBandit learns
quality only and subtracts, at selection, ``cost_penalty · n(m)`` where ``n(m)`` in [0, 1] is
the log of the model's blended list price between its market anchors ($0.0001 and $0.10 per 1k
tokens). A penalty on a log scale cannot equal ours for every model, so `cost_penalty_for`
matches the spread: ``cost_penalty = w · (c̄_max − c̄_min) / (n_max − n_min)``, c̄ being each
model's mean logged cost (the means ``cost_scale`` is taken from); the cheapest and the dearest
model are then penalised apart exactly as our reward charges them, models in between by the
log scale. λ = 0 is ``cost_penalty = 0`` (quality only); prices that all fall on one
normalised value leave it no cost signal (``cost_penalty = 0``).

>>> round(cost_penalty_for(cost_weight=2.0, mean_costs=[1e-4, 1e-2], normalised=[0.0, 0.5]), 6)
0.0396
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..outcome_log import OutcomeLog
from ..registry import ModelProfile

__all__ = [
    "cost_penalty_for",
    "model_registry",
    "normalised_prices",
    "paretobandit_choices",
    "paretobandit_features",
    "quiet_package",
    "route_stream",
    "tabula_rasa_router",
]

PACKAGE = "pareto_bandit"  #: the import name (``pip install paretobandit``)
MINILM_WIDTH = 384  #: all-MiniLM-L6-v2's width, the input of its shipped PCA


@contextmanager
def quiet_package() -> Iterator[None]:
    """Silence its logger below ERROR for the block (it logs its set-up at INFO / WARNING)."""
    quiet = logging.getLogger(PACKAGE)
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


def cost_penalty_for(
    cost_weight: float, mean_costs: Sequence[float], normalised: Sequence[float]
) -> float:
    """ParetoBandit's ``cost_penalty`` matching our cost weight across the models' spread."""
    spread = float(np.ptp(normalised))
    if cost_weight <= 0 or spread <= 0:
        return 0.0
    return float(cost_weight * float(np.ptp(mean_costs)) / spread)


def model_registry(models: Sequence[ModelProfile]) -> dict[str, dict[str, Any]]:
    """ParetoBandit's ``model_registry``: each model's list prices (USD per million tokens)."""
    return {
        m.id: {"input_cost_per_m": m.input_usd_per_mtok, "output_cost_per_m": m.output_usd_per_mtok}
        for m in models
    }


def normalised_prices(models: Sequence[ModelProfile]) -> list[float]:
    """Each model's price as ParetoBandit's cost penalty sees it: its blended (1:1) list price
    per 1k tokens, log-normalised between its default market anchors."""
    from pareto_bandit.costs import log_normalize_cost
    from pareto_bandit.types import RouterConfig

    config = RouterConfig()
    return [
        log_normalize_cost(
            (m.input_usd_per_mtok + m.output_usd_per_mtok) / 2 / 1000,
            floor=config.market_cost_floor,
            ceiling=config.market_cost_ceiling,
        )
        for m in models
    ]


def paretobandit_features(
    embeddings: np.ndarray, pca_path: str | Path | None = None
) -> np.ndarray | None:
    """Its feature pipeline (L2-normalise → PCA, whitened → + bias) on vectors already
    computed: its shipped PCA-25, and None when they are not 384-wide (not MiniLM's), unless
    ``pca_path`` names another PCA (one fitted on these vectors' kind)."""
    from pareto_bandit import FeatureService
    from pareto_bandit.config import DEFAULT_PCA_PATH

    if embeddings.ndim != 2 or (pca_path is None and embeddings.shape[1] != MINILM_WIDTH):
        return None
    with warnings.catch_warnings():  # its PCA was pickled by an older scikit-learn
        warnings.simplefilter("ignore")
        service = FeatureService(
            custom_encoder=lambda key: embeddings[int(key)],
            embedding_dim=embeddings.shape[1],
            pca_path=DEFAULT_PCA_PATH if pca_path is None else pca_path,
        )
        keys = [str(i) for i in range(len(embeddings))]  # rows by index: no text lookup
        return np.asarray(service.extract_features_batch(keys), dtype=np.float64)


def tabula_rasa_router(
    models: Sequence[ModelProfile],
    dim: int,
    cost_penalty: float,
    seed: int,
    warmup: bool = False,
    settings: tuple[float, float, float] | None = None,
) -> Any:
    """``BanditRouter.create`` with its tuned cold-start settings on pre-computed features;
    ``warmup``: its defaults instead (shipped warm-up priors, ``BEST_K3_HPARAMS``);
    ``settings``: (alpha, prior_n_effective, forgetting_factor) instead of either's."""
    from pareto_bandit import BanditRouter, FeatureService
    from pareto_bandit.config import BEST_K3_HPARAMS, BEST_K3_TABULA_RASA_HPARAMS
    from pareto_bandit.storage import EphemeralContextStore

    hp = BEST_K3_HPARAMS if warmup else BEST_K3_TABULA_RASA_HPARAMS
    alpha, n_eff, gamma = settings or (
        hp["alpha"],
        hp["prior_n_effective"],
        hp["forgetting_factor"],
    )
    return BanditRouter.create(
        model_registry=model_registry(models),
        feature_service=FeatureService.for_precomputed(dim),
        context_store=EphemeralContextStore(),
        priors="warmup" if warmup else "none",
        prior_n_effective=n_eff,
        alpha=alpha,
        forgetting_factor=gamma,
        cost_penalty=cost_penalty,
        bandit_seed=seed,
    )


def route_stream(router: Any, features: np.ndarray, log: OutcomeLog, order: np.ndarray) -> Any:
    """Route ``log``'s prompts in ``order``; feedback = the chosen model's logged quality (and
    its real cost, which a budget pacer reads). Returns the chosen column per prompt."""
    column = {m: j for j, m in enumerate(log.models)}
    chosen = np.empty(log.n_prompts, dtype=np.intp)
    for i in order:
        model, routed = router.route(features[i])
        j = column[model]
        chosen[i] = j
        routed.cost_usd = float(log.cost[i, j])
        router.process_feedback(routed.request_id, reward=float(log.quality[i, j]))
    return chosen


def paretobandit_choices(
    models: Sequence[ModelProfile],
    log: OutcomeLog,
    features: np.ndarray,
    order: np.ndarray,
    cost_weight: float,
    seed: int,
    warmup: bool = False,
) -> np.ndarray:
    """One cold run of ParetoBandit on ``features`` (rows as ``log``) at our cost weight
    ``cost_weight`` (= λ / cost_scale), mapped by `cost_penalty_for` (``warmup``: see
    `tabula_rasa_router`)."""
    penalty = cost_penalty_for(cost_weight, log.cost.mean(axis=0), normalised_prices(models))
    with quiet_package():
        router = tabula_rasa_router(models, features.shape[1], penalty, seed, warmup)
        return np.asarray(route_stream(router, features, log, order), dtype=np.intp)
