"""Replicas sharing Redis, measured with real processes: AIQ gap, kill -9, Redis restart, budgets.

Every figure runs real ``banditroute serve`` processes (``--embedder hashing``: the 384-dim
hashing embedder, not MiniLM, in both arms: MiniLM per request is too slow on this 2-core
machine for a sweep), a real ``redis-server`` (``tests/redis_server.py``) and the fake provider
(``tests/fake_provider/`` in its own process; its answers are ignored), called over HTTP with
``httpx`` from this process. ``[gateway] scorer = "none"``: the benchmark sends the feedback.

Protocols
---------
``replicas_aiq_gap`` (target |gap| ≤ 0.005): RouterBench (``../shared/datasets/routerbench/
*.csv``, read in place with `replay.loaders.load_logs` and the RouterBench registry, 1,883
prompts × 11 models) in the replay's seeded order (``default_rng(seed).permutation``). Per
prompt: POST /v1/chat/completions (``model="auto"``), then POST /v1/feedback with the *logged*
quality and cost of the model that served. The cost weight is the replay's λ/cost_scale
(cost_scale = the largest per-model mean logged cost), set through a saved engine state
(``--state``), over a reduced sweep of 5 λ (`LAMBDAS`) instead of the replay's 14. Arm A: one
process. Arm B: two processes on one Redis, requests alternating (round-robin), each feedback
sent to the replica that did *not* decide. Arm C (the noise floor): one process whose engine
seed is ``seed + 1000`` (same stream order): how far two single processes differ by their
Thompson draws alone (``replicas_aiq_control_gap``). Per arm and λ: (mean logged cost, mean logged
quality) of the served models; AIQ of A with B (and of A with C) scored together
(`replay.metrics.aiq`); gap = B − A, control gap = C − A.
Seeds 0..``seeds``-1 (the engine seed and the stream order); the gap is the mean over seeds.
Quick: the first 300 prompts of the order, 1 seed.

The kill -9, Redis restart and budget protocols are in ``replica_faults.py``.

Run alone: ``python benchmarks/serve_replicas.py [--quick] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from replica_cluster import REPO, Cluster, RedisServer, chat, feedback, save_state, write_config

from banditroute.registry import Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.metrics import aiq

__all__ = ["LAMBDAS", "aiq_gap", "run"]

DATA = REPO.parent / "shared" / "datasets" / "routerbench"
LAMBDAS = (0.0, 0.1, 0.4, 1.6, 6.4)
ROUTERBENCH = REPO / "banditroute" / "data" / "routerbench_models.toml"


def _fake() -> object:
    from gateway_scenarios import RemoteFake  # type: ignore[import-not-found]

    return RemoteFake()


def _stream(
    cluster: Cluster, order: np.ndarray, prompts: list[str], q: np.ndarray, c: np.ndarray,
    column: dict[str, int],
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Route ``order`` through the cluster (round-robin; feedback to the next replica)."""
    chosen = np.empty(len(order), dtype=np.intp)
    failures, n = 0, len(cluster.clients)
    for k, i in enumerate(order):
        decider = cluster.clients[k % n]
        status, body = chat(decider, prompts[i])
        if body is None:
            raise RuntimeError(f"chat request {k} failed with {status}")
        j = column[body["model"]]
        chosen[k] = j
        target = cluster.clients[(k + 1) % n]
        did = body["banditroute"]["decision_id"]
        if feedback(target, did, float(q[i, j]), float(c[i, j])) != 200:
            failures += 1
    return chosen, failures


def aiq_gap(
    work: Path, fake_url: str, n_prompts: int | None, seeds: int, arms: str = "ABC"
) -> dict[str, float]:
    """Arms A (one process), B (two on Redis) and C (control) over the λ sweep; see the module."""
    registry = Registry.load(ROUTERBENCH if ROUTERBENCH.exists() else example_registry_path())
    log = load_logs(sorted(DATA.glob("*.csv")), registry).log
    models = [registry[m] for m in log.models]
    column = {m: j for j, m in enumerate(log.models)}
    cost_scale = float(log.cost.mean(axis=0).max())
    config = write_config(work / "rb.toml", models, fake_url)
    out: dict[str, float] = {}
    aiqs: dict[str, list[float]] = {"A": [], "B": [], "C": [], "gap": [], "noise": []}
    fb_failures = 0
    started = time.perf_counter()
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(log.n_prompts)[:n_prompts]
        points: dict[str, list[tuple[float, float]]] = {arm: [] for arm in arms}
        for lam in LAMBDAS:
            for arm in arms:
                replicas, engine_seed = 2 if arm == "B" else 1, seed + (1000 if arm == "C" else 0)
                state = save_state(
                    config, work / f"state-{seed}-{lam}-{arm}", lam / cost_scale, engine_seed
                )
                redis = RedisServer(work / f"redis-{seed}-{lam}-{arm}") if replicas > 1 else None
                if redis is not None:
                    redis.folder.mkdir()
                    redis.start()
                run_dir = work / f"run-{seed}-{lam}-{arm}"
                run_dir.mkdir()
                cluster = None
                try:
                    url = None if redis is None else redis.url
                    cluster = Cluster(run_dir, config, replicas, state=state, redis_url=url)
                    chosen, failed = _stream(
                        cluster, order, log.prompts, log.quality, log.cost, column
                    )
                finally:
                    if cluster is not None:
                        cluster.close()
                    if redis is not None:
                        redis.stop()
                fb_failures += failed
                rows = np.asarray(order)
                cost = float(log.cost[rows, chosen].mean())
                quality = float(log.quality[rows, chosen].mean())
                points[arm].append((cost, quality))
                print(f"seed {seed} λ {lam} arm {arm}: cost {cost:.6f} quality {quality:.4f}")
        # each pair is scored together (AIQ's largest cost is the pair's)
        for other, name, diff in (("B", "two", "gap"), ("C", "control", "noise")):
            if "A" not in points or other not in points:
                continue
            a, b = aiq([np.array(points["A"]), np.array(points[other])])
            if other == "B" or "B" not in points:
                aiqs["A"].append(a)
                out[f"replicas_aiq_one_seed{seed}"] = a
            aiqs[other].append(b)
            aiqs[diff].append(b - a)
            out[f"replicas_aiq_{name}_seed{seed}"] = b
            print(f"seed {seed}: AIQ one process {a:.4f}, {name} {b:.4f}, Δ {b - a:+.4f}")
    for key, name in (("A", "one"), ("B", "two"), ("C", "control")):
        if aiqs[key]:
            out[f"replicas_aiq_{name}"] = float(np.mean(aiqs[key]))
    if aiqs["gap"]:
        out["replicas_aiq_gap"] = float(np.mean(aiqs["gap"]))
        out["replicas_aiq_gap_max_abs"] = float(np.max(np.abs(aiqs["gap"])))
    if aiqs["noise"]:  # one process vs one process with another engine seed: the noise floor
        out["replicas_aiq_control_gap"] = float(np.mean(aiqs["noise"]))
        out["replicas_aiq_control_gap_max_abs"] = float(np.max(np.abs(aiqs["noise"])))
    out["replicas_aiq_prompts"] = float(len(order))
    out["replicas_aiq_seeds"] = float(seeds)
    out["replicas_aiq_lambdas"] = float(len(LAMBDAS))
    out["replicas_aiq_feedback_failures"] = float(fb_failures)
    out["replicas_aiq_seconds"] = time.perf_counter() - started
    return out


def run(
    quick: bool = False,
    parts: tuple[str, ...] = ("aiq", "faults"),
    arms: str = "ABC",
    seeds: int | None = None,
) -> dict[str, float]:
    """Every figure of this module (``quick``: 300 prompts and 1 seed; fewer requests)."""
    import replica_faults  # type: ignore[import-not-found]

    figures: dict[str, float] = {}
    fake = _fake()
    try:
        for model in Registry.load(ROUTERBENCH).ids + list(replica_faults.MODELS):
            fake._call("set_model", model, text="ok")  # type: ignore[attr-defined]
        url = fake.openai_base_url  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(prefix="serve-replicas-") as tmp:
            work = Path(tmp)
            if "aiq" in parts:
                (work / "aiq").mkdir()
                n_seeds = seeds if seeds is not None else 1 if quick else 3
                figures |= aiq_gap(work / "aiq", url, 300 if quick else None, n_seeds, arms)
            if "faults" in parts:
                (work / "faults").mkdir()
                figures |= replica_faults.run_faults(work / "faults", url, quick)
    finally:
        fake.stop()  # type: ignore[attr-defined]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="fewer prompts and requests")
    parser.add_argument("--only", choices=["aiq", "faults"], help="one part only")
    parser.add_argument("--arms", default="ABC", help="AIQ arms: A one, B two, C control")
    parser.add_argument("--seeds", type=int, help="AIQ seeds (default 3; quick 1)")
    args = parser.parse_args(argv)
    parts = (args.only,) if args.only else ("aiq", "faults")
    figures = run(args.quick, parts, args.arms, args.seeds)
    for name, value in figures.items():
        print(f"{name}: {value:.6g}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
