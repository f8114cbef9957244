"""Choose the engine's default hyper-parameters on data that is NOT the evaluation stream.

Tuning data: the synthetic workload, and a cold-start replay of the RouterBench *train* files
only (arc_challenge_train.csv + mbpp_train.csv). The evaluation (all four files, and the test
split after a warm start) is never looked at here.

Usage::

    python benchmarks/tune_defaults.py [--seeds 2] [--out out/tuning.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from banditroute.features import ContextBuilder, MiniLMEmbedder
from banditroute.policies import LinearThompsonSampling
from banditroute.registry import Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.report import summarize
from banditroute.replay.routers import Stream, knn_choices, run_engine
from banditroute.replay.runner import ReplayResult, prepare
from banditroute.synthetic import make_workload

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "routerbench"
LAMBDAS = (0.0, 0.05, 0.2, 0.8, 3.2, 12.8, 51.2)
# Round 1 picked exploration 0.25 (of 0.25 / 0.5 / 1), prior precision 1 (of 1 / 10) and
# 32 components (of 8 / 32); round 2 refines around it (benchmarks/RESULTS.md has both).
GRIDS = {
    "round1": {
        "exploration": [0.25, 0.5, 1.0],
        "prior_precision": [1.0, 10.0],
        "n_components": [8, 32],
    },
    "round2": {
        "exploration": [0.1, 0.2, 0.3],
        "prior_precision": [0.3, 1.0, 3.0],
        "n_components": [32],
    },
    "round3": {
        "exploration": [0.25],
        "prior_precision": [1.0, 3.0],
        "pooled_prior": [False, True],
        "n_components": [32],
    },
    "round4": {
        "exploration": [0.25],
        "prior_precision": [1.0],
        "n_components": [32, 64, 128, 384],
    },
}


def evaluate(stream, models, params: dict, n_components: int, seeds: int) -> float:
    log = stream.log
    cost_scale = float(log.cost.mean(axis=0).max())
    choices = np.empty((len(LAMBDAS), seeds, log.n_prompts), dtype=np.intp)
    for li, lam in enumerate(LAMBDAS):
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(log.n_prompts)
            policy = LinearThompsonSampling(seed=seed, **params)
            context = ContextBuilder(stream.embeddings.shape[1], n_components)
            choices[li, seed] = run_engine(
                policy, models, stream, order, lam / cost_scale, context=context
            )
    result = ReplayResult(log, LAMBDAS, cost_scale, {"thompson": choices})
    return summarize(result).routers["thompson"].aiq


def evaluate_warm(stream, models, params: dict, n_components: int, seeds: int) -> dict:
    """Warm start inside the train files: 70% (seeded split) warm-starts, 30% is routed."""
    log = stream.log
    rows = np.random.default_rng(99).permutation(log.n_prompts)
    cut = int(0.7 * log.n_prompts)
    warm = Stream(log.subset(rows[:cut]), stream.embeddings[rows[:cut]])
    test = Stream(log.subset(rows[cut:]), stream.embeddings[rows[cut:]])
    cost_scale = float(test.log.cost.mean(axis=0).max())
    n = test.log.n_prompts
    ts = np.empty((len(LAMBDAS), seeds, n), dtype=np.intp)
    knn = np.empty((len(LAMBDAS), 1, n), dtype=np.intp)
    for li, lam in enumerate(LAMBDAS):
        knn[li, 0] = knn_choices(test, warm, lam / cost_scale)
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(n)
            policy = LinearThompsonSampling(seed=seed, **params)
            context = ContextBuilder(stream.embeddings.shape[1], n_components)
            ts[li, seed] = run_engine(
                policy, models, test, order, lam / cost_scale, warm=warm, context=context
            )
    result = ReplayResult(test.log, LAMBDAS, cost_scale, {"thompson": ts, "knn": knn})
    figures = summarize(result).routers
    return {"warm_thompson": figures["thompson"].aiq, "warm_knn": figures["knn"].aiq}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--grid", choices=sorted(GRIDS), default="round4")
    parser.add_argument("--warm", action="store_true", help="also tune warm start (train split)")
    parser.add_argument("--out", type=Path, default=Path("out/tuning.json"))
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    cache = Path(".banditroute-cache")
    syn_log, syn_models = make_workload(2000, seed=123)  # not the demo's seed
    streams = {"synthetic": (prepare(syn_log, embedder, "minilm-clip200-500", cache), syn_models)}
    train_files = sorted(SHARED.glob("*_train.csv"))
    if train_files:
        train = load_logs(train_files).log
        streams["routerbench_train"] = (
            prepare(train, embedder, "minilm-clip200-500", cache),
            list(Registry.load(example_registry_path())),
        )
    grid = GRIDS[args.grid]
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        n_components = int(setting.pop("n_components"))
        started = time.perf_counter()
        scores = {
            name: evaluate(stream, models, setting, n_components, args.seeds)
            for name, (stream, models) in streams.items()
        }
        if args.warm and "routerbench_train" in streams:
            stream, models = streams["routerbench_train"]
            scores.update(evaluate_warm(stream, models, setting, n_components, args.seeds))
        rows.append({**setting, "n_components": n_components, **scores})
        print(rows[-1], f"{time.perf_counter() - started:.0f}s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
