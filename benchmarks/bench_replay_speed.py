"""Replay speed: 10,000 decisions + updates per policy and seed, embeddings already computed.

Usage::

    python benchmarks/bench_replay_speed.py [--prompts 10000] [--json OUT.json]

Embeddings are computed (hashing embedder, 384-dim) before the clock starts: the figure is
the routing loop itself (choose + feedback through the Engine, or the peer's predict + fit).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_output import report

from banditroute.features import ContextBuilder, HashingEmbedder
from banditroute.policies import POLICIES
from banditroute.replay.routers import ROUTERS, mabwiser_choices, run_engine
from banditroute.replay.runner import prepare
from banditroute.synthetic import make_workload


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    log, models = make_workload(args.prompts, seed=7)
    stream = prepare(log, HashingEmbedder(384), "h384", cache_dir=None, progress=False)
    order = np.random.default_rng(0).permutation(log.n_prompts)
    weight = 1.0 / float(log.cost.mean(axis=0).max())
    results: dict[str, float] = {}
    for name in [n for n, spec in ROUTERS.items() if spec.engine_policy]:
        started = time.perf_counter()
        run_engine(POLICIES[name](seed=0), models, stream, order, weight)
        results[f"{name}_seconds"] = time.perf_counter() - started
    if not args.skip_peer:
        started = time.perf_counter()
        mabwiser_choices(stream, order, weight, 0, ContextBuilder(384))
        results["mabwiser_lints_seconds"] = time.perf_counter() - started
    results["prompts"] = float(args.prompts)
    report(results, args.json)


if __name__ == "__main__":
    main()
