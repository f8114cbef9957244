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
from banditroute.replay.routers import run_engine
from banditroute.replay.runner import ReplayResult, prepare
from banditroute.synthetic import make_workload

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "routerbench"
LAMBDAS = (0.0, 0.05, 0.2, 0.8, 3.2, 12.8, 51.2)


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
    return summarize(result)["policies"]["thompson"]["aiq"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
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
    grid = {
        "exploration": [0.25, 0.5, 1.0],
        "prior_precision": [1.0, 10.0],
        "n_components": [8, 32],
    }
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        n_components = int(setting.pop("n_components"))
        started = time.perf_counter()
        scores = {
            name: evaluate(stream, models, setting, n_components, args.seeds)
            for name, (stream, models) in streams.items()
        }
        rows.append({**setting, "n_components": n_components, **scores})
        print(rows[-1], f"{time.perf_counter() - started:.0f}s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
