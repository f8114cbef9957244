"""Decision-log speed: writing 10,000 decisions, and `ask` with 1,000,000 decisions stored.

    python benchmarks/bench_store.py                 # 1,000,000 rows, ~15 min, ~2 GB in out/
    python benchmarks/bench_store.py --rows 100000   # quicker

Write: 10,000 real engine decisions (hashing embedder, 384 dims) with outcomes are recorded
and flushed; the time covers recording and the flush to disk (targets ≤ 2 s).
Ask: the table is filled to ``--rows`` decisions in Arrow batches (prompt embeddings drawn
around 200 topic centres, outcomes, models, times over 90 days), indexed (IVF-PQ, full text,
B-trees), then each question below is asked 7 times; p50 over all asks (target ≤ 300 ms).
The question's topic is embedded with the hashing embedder; MiniLM adds ~15–20 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from bench_output import report  # type: ignore[import-not-found]
from tqdm.auto import tqdm

from banditroute import Engine, HashingEmbedder
from banditroute.store import DecisionStore, ask
from banditroute.store.schema import decision_schema
from banditroute.synthetic import make_workload

QUESTIONS = [
    "which model is best for python code?",
    "what did we spend on math prompts last week?",
    "how does frontier-xl compare with chat-s on code?",
    "which models degraded last month?",
    "decisions on prompts like parsing dates in Rust",
    "best model for summarising meeting notes this month",
]


def write_speed(folder: Path, n: int = 10_000) -> float:
    log, models = make_workload(n_prompts=n, seed=1)
    store = DecisionStore(folder, embedding_dim=384, embedder="hashing384", background=False)
    engine = Engine(models, embedder=HashingEmbedder(384), seed=0)  # decisions made first
    embeddings = engine.embedder.embed(log.prompts)
    made = [engine.choose(p, embedding=e) for p, e in zip(log.prompts, embeddings, strict=True)]
    outcomes = [engine.feedback(d, quality=0.5, cost_usd=0.001) for d in made]
    started = time.perf_counter()
    for d, e, p, o in zip(made, embeddings, log.prompts, outcomes, strict=True):
        store.record_decision(d, e, p)
        store.record_outcome(o)
    store.flush()
    seconds = time.perf_counter() - started
    assert store.count() == n
    return seconds


def fill(store: DecisionStore, rows: int, batch: int = 100_000) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, 384)).astype(np.float32)
    log, models = make_workload(n_prompts=2000, seed=2)
    names = [m.id for m in models]
    now = time.time()
    table = store.table("decisions")
    schema = decision_schema(384)
    for start in tqdm(range(0, rows, batch), desc="filling", unit="batch"):
        n = min(batch, rows - start)
        topic = rng.integers(0, 200, n)
        vectors = centres[topic] + 0.6 * rng.normal(size=(n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        model = rng.integers(0, len(names), n)
        cost = rng.gamma(2.0, 0.002, n)
        columns = {
            "id": pa.array([f"{start + k:032x}" for k in range(n)]),
            "time": pa.array(now - rng.uniform(0, 90 * 86400, n)),
            "prompt": pa.array([log.prompts[k % 2000] for k in range(start, start + n)]),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 384),
            "constraints": pa.nulls(n, pa.string()),
            "model": pa.array([names[k] for k in model]),
            "fallbacks": pa.array([[] for _ in range(n)], pa.list_(pa.string())),
            "propensity": pa.array(rng.uniform(0.05, 1, n)),
            "policy": pa.array(["thompson"] * n),
            "prompt_tokens": pa.array(rng.integers(10, 2000, n)),
            "expected_quality": pa.array(rng.uniform(0, 1, n)),
            "expected_cost_usd": pa.array(cost),
            "expected_latency_ms": pa.array(rng.uniform(200, 3000, n)),
            "candidates": pa.array([names] * n, pa.list_(pa.string())),
            "candidate_quality": pa.array(
                rng.uniform(0, 1, (n, len(names))).tolist(), pa.list_(pa.float64())
            ),
            "has_outcome": pa.array(np.ones(n, dtype=bool)),
            "quality": pa.array(np.clip(rng.normal(0.6 + 0.05 * model, 0.2), 0, 1)),
            "cost_usd": pa.array(cost),
            "latency_ms": pa.array(rng.uniform(200, 3000, n)),
            "reward": pa.array(rng.uniform(0, 1, n)),
            "error": pa.nulls(n, pa.string()),
        }
        table.add(pa.Table.from_pydict(columns, schema=schema))


def ask_speed(store: DecisionStore, repeats: int = 7) -> dict[str, float]:
    embedder = HashingEmbedder(384)
    times: dict[str, list[float]] = {q: [] for q in QUESTIONS}
    for _ in range(repeats):
        for q in QUESTIONS:
            started = time.perf_counter()
            ask(store, q, embedder)
            times[q].append(1000 * (time.perf_counter() - started))
    out = {"ask_ms_p50_all": statistics.median([t for ts in times.values() for t in ts])}
    for q, ts in times.items():
        out[f"ask_ms_p50[{q[:40]}]"] = statistics.median(ts)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("out/bench_store"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    results = {"write_10k_s": write_speed(args.out / "write")}
    big = DecisionStore(args.out / "big", embedding_dim=384, embedder="hashing384")
    started = time.perf_counter()
    fill(big, args.rows)
    results["fill_s"] = time.perf_counter() - started
    started = time.perf_counter()
    big.build_indexes()
    results["index_s"] = time.perf_counter() - started
    results["rows"] = float(big.count())
    results.update(ask_speed(big))
    big.close()
    report(results, args.json)
