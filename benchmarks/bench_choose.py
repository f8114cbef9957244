"""Speed of `Engine.choose` / `Engine.feedback`, the MiniLM path, import time, and MABWiser's LinTS.

Usage::

    python benchmarks/bench_choose.py [--json OUT.json] [--calls 5000]

Prints a table and optionally writes the figures as JSON. Nothing here asserts a speed: the
numbers are measurements to report (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_output import report

from banditroute import Engine, Registry, example_registry_path

WORDS = [
    "write",
    "explain",
    "summarize",
    "translate",
    "python",
    "function",
    "list",
    "sorted",
    "merge",
    "tree",
    "graph",
    "quickly",
    "numbers",
    "prime",
    "matrix",
    "error",
    "bug",
    "fix",
    "test",
    "weather",
    "poem",
    "story",
    "river",
    "mountain",
    "budget",
    "plan",
    "email",
    "meeting",
    "customer",
    "invoice",
    "table",
    "chart",
    "report",
    "student",
    "physics",
    "energy",
]


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    ms = np.array(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def unit_vectors(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def bench_engine(calls: int, store_dir: Path | None = None) -> dict[str, float]:
    """choose() with a given 384-dim embedding (no embedder cost) and feedback(), 11 models;
    also choose() plus the first read of the decision's (deferred) propensity.

    With ``store_dir``, the engine logs every decision and outcome to a LanceDB decision log
    there (background writer), and the keys are suffixed ``_with_store``.
    """
    rng = np.random.default_rng(0)
    from banditroute import HashingEmbedder

    engine = Engine(
        Registry.load(example_registry_path()),
        embedder=HashingEmbedder(384),
        seed=0,
        store=store_dir,
    )
    embeddings = unit_vectors(rng, calls)
    prompt = "a prompt whose embedding is given"
    for i in range(2000):  # warm the posteriors: every model has data
        d = engine.choose(prompt, embedding=embeddings[i % calls])
        engine.feedback(d, quality=float(rng.random()), cost_usd=1e-4, latency_ms=800.0)
    choose_s, propensity_s, feedback_s = [], [], []
    for i in range(calls):
        t0 = time.perf_counter()
        d = engine.choose(prompt, embedding=embeddings[i])
        t1 = time.perf_counter()
        d.propensity  # noqa: B018 - deferred: computed on first read (the log reads it)
        t2 = time.perf_counter()
        engine.feedback(d, quality=float(rng.random()), cost_usd=1e-4, latency_ms=800.0)
        t3 = time.perf_counter()
        choose_s.append(t1 - t0)
        propensity_s.append(t2 - t0)
        feedback_s.append(t3 - t2)
    c50, c99 = percentiles(choose_s)
    f50, f99 = percentiles(feedback_s)
    engine.close()
    suffix = "" if store_dir is None else "_with_store"
    figures = {
        f"choose_p50_ms{suffix}": c50,
        f"choose_p99_ms{suffix}": c99,
        f"choose_and_propensity_p50_ms{suffix}": percentiles(propensity_s)[0],
        f"feedback_p50_ms{suffix}": f50,
        f"feedback_p99_ms{suffix}": f99,
    }
    if store_dir is None:
        figures["context_dim"] = float(engine.context.dim)
    return figures


def bench_minilm(n: int = 200) -> dict[str, float]:
    """choose() including MiniLM on distinct ~20-word prompts, then a repeated prompt (cache)."""
    rng = np.random.default_rng(1)
    engine = Engine(Registry.load(example_registry_path()), seed=0)
    engine.choose("warm up the encoder")  # load the model outside the timing
    prompts = [" ".join(rng.choice(WORDS, size=20)) for _ in range(n)]
    fresh = []
    for p in prompts:
        t0 = time.perf_counter()
        engine.choose(p)
        fresh.append(time.perf_counter() - t0)
    cached = []
    for _ in range(n):
        t0 = time.perf_counter()
        engine.choose(prompts[0])
        cached.append(time.perf_counter() - t0)
    e50, e99 = percentiles(fresh)
    h50, _ = percentiles(cached)
    return {
        "choose_embed_p50_ms": e50,
        "choose_embed_p99_ms": e99,
        "choose_cached_prompt_p50_ms": h50,
        "cache_hits": float(engine.embedder.hits),
        "cache_misses": float(engine.embedder.misses),
    }


def bench_import(repeats: int = 5) -> dict[str, float]:
    code = "import time; t=time.perf_counter(); import banditroute; print(time.perf_counter()-t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    ]
    return {"import_s": statistics.median(runs)}


def bench_mabwiser(calls: int) -> dict[str, float]:
    """MABWiser LinTS, 11 arms, on the engine's 34-dim contexts and on raw 384-dim embeddings."""
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        print("mabwiser not installed (pip install banditroute[bench]); peer skipped")
        return {}
    from banditroute import ContextBuilder

    rng = np.random.default_rng(2)
    arms = Registry.load(example_registry_path()).ids
    out = {}
    builder = ContextBuilder(384)
    raw = unit_vectors(rng, 2000 + calls)
    for label, contexts in (
        ("", np.array([builder.build(v, 50) for v in raw])),
        ("_384", raw),
    ):
        mab = MAB(arms, LearningPolicy.LinTS(alpha=1.0), seed=0)
        decisions = [arms[i % len(arms)] for i in range(2000)]
        mab.fit(decisions, rng.random(2000), contexts[:2000])
        n = min(calls, 1000)
        predict_s, fit_s = [], []
        for i in range(n):
            x = contexts[2000 + i : 2001 + i]
            t0 = time.perf_counter()
            arm = mab.predict(x)
            t1 = time.perf_counter()
            mab.partial_fit([arm], [float(rng.random())], x)
            t2 = time.perf_counter()
            predict_s.append(t1 - t0)
            fit_s.append(t2 - t1)
        p50, p99 = percentiles(predict_s)
        f50, _ = percentiles(fit_s)
        out[f"peer_mabwiser_lints{label}_p50_ms"] = p50
        out[f"peer_mabwiser_lints{label}_p99_ms"] = p99
        out[f"peer_mabwiser_lints{label}_partial_fit_p50_ms"] = f50
    return out


def bench_paretobandit(calls: int, dim: int) -> dict[str, float]:
    """ParetoBandit's ``route`` (and feedback) on precomputed features at our K and context dim,
    the same models (its tuned cold-start settings), after the same 2,000 warming rounds."""
    try:
        from banditroute.replay.paretobandit_peer import tabula_rasa_router
    except ImportError:
        return {}
    import importlib.util
    import logging

    if importlib.util.find_spec("pareto_bandit") is None:
        print("paretobandit not installed (pip install banditroute[bench]); peer skipped")
        return {}
    logging.getLogger("pareto_bandit").setLevel(logging.ERROR)
    rng = np.random.default_rng(3)
    models = list(Registry.load(example_registry_path()))
    router = tabula_rasa_router(models, dim, cost_penalty=0.1, seed=0)
    features = rng.normal(size=(2000 + calls, dim))
    features[:, 0] = 1.0
    route_s = []
    for i in range(2000 + calls):
        t0 = time.perf_counter()
        _, routed = router.route(features[i])
        t1 = time.perf_counter()
        routed.cost_usd = 1e-4
        router.process_feedback(routed.request_id, reward=float(rng.random()))
        if i >= 2000:
            route_s.append(t1 - t0)
    p50, p99 = percentiles(route_s)
    return {"peer_paretobandit_route_p50_ms": p50, "peer_paretobandit_route_p99_ms": p99}


def bench_paired(calls: int, dim: int) -> dict[str, float]:
    """``Engine.choose`` and ParetoBandit's ``route`` timed call by call in alternation (same
    K and d, both after 2,000 warming rounds with feedback), so load on a shared machine falls
    on both alike: the ratio of medians and the median of the per-round ratios."""
    try:
        from banditroute.replay.paretobandit_peer import quiet_package, tabula_rasa_router
    except ImportError:
        return {}
    import importlib.util

    if importlib.util.find_spec("pareto_bandit") is None:
        return {}
    from banditroute import HashingEmbedder

    rng = np.random.default_rng(5)
    registry = Registry.load(example_registry_path())
    engine = Engine(registry, embedder=HashingEmbedder(384), seed=0)
    with quiet_package():
        router = tabula_rasa_router(list(registry), dim, cost_penalty=0.1, seed=0)
    embeddings = unit_vectors(rng, 2000 + calls)
    features = rng.normal(size=(2000 + calls, dim))
    features[:, 0] = 1.0
    ours, theirs = [], []
    with quiet_package():
        for i in range(2000 + calls):
            t0 = time.perf_counter()
            d = engine.choose("a prompt whose embedding is given", embedding=embeddings[i])
            t1 = time.perf_counter()
            _, routed = router.route(features[i])
            t2 = time.perf_counter()
            engine.feedback(d, quality=float(rng.random()), cost_usd=1e-4, latency_ms=800.0)
            routed.cost_usd = 1e-4
            router.process_feedback(routed.request_id, reward=float(rng.random()))
            if i >= 2000:
                ours.append(t1 - t0)
                theirs.append(t2 - t1)
    engine.close()
    a, b = np.asarray(ours), np.asarray(theirs)
    return {
        "paired_choose_p50_ms": float(np.median(a) * 1000),
        "paired_paretobandit_route_p50_ms": float(np.median(b) * 1000),
        "paired_ratio_of_p50": float(np.median(a) / np.median(b)),
        "paired_median_round_ratio": float(np.median(a / b)),
    }


def bench_floor(calls: int, k: int, dim: int) -> dict[str, float]:
    """The floor: a bare Sherman–Morrison linear Thompson step in numpy at the same K and d
    (K means and variances, one draw, an argmax, one rank-one update); no checks, no features."""
    rng = np.random.default_rng(4)
    inv = np.repeat(np.eye(dim)[None], k, axis=0)
    targets, weights = np.zeros((k, dim)), np.zeros((k, dim))
    xs = rng.normal(size=(calls, dim)) / np.sqrt(dim)
    step_s = []
    for x in xs:
        t0 = time.perf_counter()
        mean = weights @ x
        sd = np.sqrt(np.maximum((inv @ x) @ x, 0.0))
        a = int(np.argmax(mean + 0.25 * sd * rng.standard_normal(k)))
        t1 = time.perf_counter()
        g = inv[a] @ x
        inv[a] -= np.outer(g, g) / (1.0 + x @ g)
        targets[a] += x * rng.random()
        weights[a] = inv[a] @ targets[a]
        step_s.append(t1 - t0)
    p50, _ = percentiles(step_s)
    return {"floor_p50_ms": p50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--skip-minilm", action="store_true")
    args = parser.parse_args()
    results: dict[str, float] = {}
    results.update(bench_import())
    results.update(bench_engine(args.calls))
    with tempfile.TemporaryDirectory() as folder:
        results.update(bench_engine(args.calls, Path(folder)))
    if not args.skip_minilm:
        results.update(bench_minilm())
    results.update(bench_mabwiser(args.calls))
    k, dim = len(Registry.load(example_registry_path())), int(results["context_dim"])
    results.update(bench_paretobandit(args.calls, dim))
    results.update(bench_floor(args.calls, k, dim))
    results.update(bench_paired(args.calls, dim))
    if "peer_paretobandit_route_p50_ms" in results:
        results["ratio_choose_over_paretobandit_p50"] = (
            results["choose_p50_ms"] / results["peer_paretobandit_route_p50_ms"]
        )
    if "peer_mabwiser_lints_p50_ms" in results:
        results["ratio_peer_over_choose_p50"] = (
            results["peer_mabwiser_lints_p50_ms"] / results["choose_p50_ms"]
        )
    report(results, args.json)


if __name__ == "__main__":
    main()
