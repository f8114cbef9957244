"""Off-policy evaluation on RouterBench: do IPS, SNIPS and DR recover policies' true value?

Stream: the shared RouterBench files (arc_challenge + mbpp, train and test: 1,883 prompts
with every model's quality) as one stream. Logging policy: the default engine (Thompson
sampling, default tradeoff λ = 0, so reward = quality) learning online from a cold start,
each repeat with its own seed and its own random order, logged through `run_engine` into a
temporary LanceDB decision log; the estimators read that log (`LoggedBandit.from_store`), as
`banditroute ope` would.

Targets (stationary, built once): Thompson sampling routing with another λ (0.1 in the replay's
units, cost_weight = 0.1 / cost_scale) and LinUCB (λ = 0), each warmed on the *_train files
(full information) then frozen (`FrozenLearner`: exact action distribution), and a fixed model
(gpt-4-1106-preview). Truth = the exact expectation, under each target's action distribution,
of the logged full-information rewards of the stream's prompts.

Estimators: IPS, SNIPS, DR, and for poor overlap switch-DR and clipped DR (banditroute/ope/
capped.py: their cap is chosen by a fixed rule from the log, their interval adds the cap's bias
bound, rewards taken in [0, 1]). The cross-fitted reward model is fitted once per log.

Figures: per target and method, mean |estimate − truth| over repeats, the worst repeat, the bias,
the share of 90% intervals covering the truth and their mean width, and the mean effective
sample size; a markdown table of these is printed. ``ope_max_abs_error`` = max over the three
targets of the mean |DR − truth|; ``ope_coverage`` = share of the 3 × repeats DR intervals that
cover the truth (likewise ``ips_*``, ``snips_*``, ``switch_dr_*``, ``clipped_dr_*``;
``*_mean_interval_width`` averages the three targets). Every other fixed model is reported beside
(``fixed_model_diagnostics``): most are rarely chosen by the logging policy.

Usage::

    python benchmarks/bench_ope.py --json out/bench_ope.json [--repeats 100] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from banditroute.embedders import make_embedder
from banditroute.features import ContextBuilder, estimate_tokens
from banditroute.learner import Learner
from banditroute.ope import (
    METHODS,
    CrossFitRidge,
    FixedModel,
    FrozenLearner,
    LoggedBandit,
    evaluate,
    open_log,
)
from banditroute.ope.targets import TargetPolicy
from banditroute.policies import LinearThompsonSampling, LinUCB
from banditroute.registry import ModelProfile, Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.routers import Stream, learn_full_information, run_engine
from banditroute.replay.runner import prepare
from banditroute.reward import Tradeoff
from banditroute.store import DecisionStore

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "routerbench"
FIXED = "gpt-4-1106-preview"
OTHER_LAMBDA = 0.1  # in the replay's units: cost_weight = λ / cost_scale
REWARD_RANGE = (0.0, 1.0)  # quality is a score in [0, 1] by construction of the data


def warmed(policy: LinearThompsonSampling | LinUCB, models: list[ModelProfile], warm: Stream,
           builder: ContextBuilder, cost_weight: float) -> Learner:  # fmt: skip
    """A learner that saw every model's outcome on every warm-start prompt."""
    learner = Learner(Registry(models), policy, tradeoff=Tradeoff(cost_weight=cost_weight))
    learn_full_information(learner, warm, builder)
    return learner


def truth(target: TargetPolicy, stream: Stream, rewards: np.ndarray) -> float:
    """Exact value of a stationary target on the stream: mean over prompts of Σ_k π(k|x)·r_k."""
    n, models = stream.log.n_prompts, tuple(stream.log.models)
    full = LoggedBandit(
        models=models,
        contexts=stream.contexts(ContextBuilder(stream.embeddings.shape[1])),
        actions=np.zeros(n, dtype=np.int64),
        propensities=np.ones(n),
        rewards=np.zeros(n),
        candidates=np.ones((n, len(models)), dtype=bool),
        embeddings=stream.embeddings.astype(np.float32).astype(np.float64),  # as stored
        prompt_tokens=np.array([estimate_tokens(p) for p in stream.log.prompts]),
    )
    return float((target.probabilities(full) * rewards).sum(axis=1).mean())


def summarise(errors: np.ndarray, covered: np.ndarray, widths: np.ndarray) -> dict[str, float]:
    return {
        "mean_abs_error": float(np.abs(errors).mean()),
        "worst_abs_error": float(np.abs(errors).max()),
        "bias": float(errors.mean()),
        "rmse": float(np.sqrt((errors**2).mean())),
        "coverage": float(covered.mean()),
        "mean_interval_width": float(widths.mean()),
    }


def table(per_target: dict[str, dict[str, object]], keys: list[str]) -> str:
    """Markdown: per target and method, mean abs error, coverage, mean interval width, ESS."""
    lines = [
        "| target | ESS | method | mean abs error | coverage | mean interval width |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for key in keys:
        row = per_target[key]
        for method in METHODS:
            f = row[method]
            assert isinstance(f, dict)
            lines.append(
                f"| {key} | {row['mean_effective_sample_size']:.0f} | {method} | "
                f"{f['mean_abs_error']:.3f} | {f['coverage']:.2f} | "
                f"{f['mean_interval_width']:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="5 repeats (about a minute)")
    parser.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    parser.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    parser.add_argument("--alpha", type=float, default=0.1)
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: the shared RouterBench files are not at {SHARED}", file=sys.stderr)
        return 0
    repeats = 5 if args.quick else args.repeats
    started = time.perf_counter()
    registry = Registry.load(example_registry_path())
    name = "hashing384" if args.embedder == "hashing" else "minilm-clip200-500"
    embedder = make_embedder(name)
    log = load_logs(sorted(SHARED.glob("*.csv")), registry).log
    train = load_logs(sorted(SHARED.glob("*_train.csv")), registry).log
    stream = prepare(log, embedder, name, args.cache_dir, progress=True)
    warm = prepare(train, embedder, name, args.cache_dir, progress=True)
    models = [registry[m] for m in log.models]
    builder = ContextBuilder(stream.embeddings.shape[1])
    cost_scale = float(log.cost.mean(axis=0).max())
    rewards = log.quality  # the logging engine's reward: λ = 0
    other = warmed(LinearThompsonSampling(seed=1), models, warm, builder, OTHER_LAMBDA / cost_scale)
    targets: dict[str, TargetPolicy] = {
        f"thompson_lambda_{OTHER_LAMBDA:g}": FrozenLearner(other, builder),
        "linucb": FrozenLearner(warmed(LinUCB(), models, warm, builder, 0.0), builder),
        f"fixed:{FIXED}": FixedModel(FIXED),
    }
    diagnostics: dict[str, TargetPolicy] = {
        f"fixed:{m}": FixedModel(m) for m in log.models if m != FIXED
    }
    everything = {**targets, **diagnostics}
    truths = {key: truth(target, stream, rewards) for key, target in everything.items()}
    setup_s = time.perf_counter() - started
    shape = (len(everything), repeats, len(METHODS))
    est, low, high, cap = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    uncovered = np.zeros(shape)
    ess = np.zeros(shape[:2])
    for r in tqdm(range(repeats), desc="bench_ope", unit="repeat"):
        folder = tempfile.mkdtemp(prefix="bench-ope-")
        try:
            store = DecisionStore(folder, stream.embeddings.shape[1], name, background=False)
            order = np.random.default_rng(r).permutation(log.n_prompts)
            run_engine(LinearThompsonSampling(seed=r), models, stream, order, 0.0, store=store)
            store.close()
            logged = LoggedBandit.from_store(open_log(folder))
            q = CrossFitRidge().predict(
                logged.contexts, logged.actions, logged.rewards, len(logged.models)
            )  # the reward model does not depend on the target: fitted once per log
            for t, target in enumerate(everything.values()):
                result = evaluate(
                    logged, target, METHODS, args.alpha, reward_range=REWARD_RANGE, predictions=q
                )
                ess[t, r] = result.effective_sample_size
                for m, method in enumerate(METHODS):
                    e = (
                        result.get(method)
                        if method in [x.method for x in result.estimates]
                        else None
                    )
                    est[t, r, m] = np.nan if e is None else e.value
                    low[t, r, m] = np.nan if e is None else e.low
                    high[t, r, m] = np.nan if e is None else e.high
                    cap[t, r, m] = np.nan if e is None or e.cap is None else e.cap
                    uncovered[t, r, m] = np.nan if e is None or e.uncovered is None else e.uncovered
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    per_target = {}
    for t, key in enumerate(everything):
        row = {"truth": truths[key], "mean_effective_sample_size": float(ess[t].mean())}
        for m, method in enumerate(METHODS):
            errors = est[t, :, m] - truths[key]
            covered = (low[t, :, m] <= truths[key]) & (truths[key] <= high[t, :, m])
            row[method] = summarise(errors, covered, high[t, :, m] - low[t, :, m])
            if method in ("switch_dr", "clipped_dr"):
                row[method]["mean_cap"] = float(np.nanmean(cap[t, :, m]))
                row[method]["mean_uncovered"] = float(np.nanmean(uncovered[t, :, m]))
        per_target[key] = row
    headline = list(targets)
    figures: dict[str, object] = {
        "stream": "routerbench: arc_challenge + mbpp, train + test files as one stream",
        "n_prompts": log.n_prompts,
        "embedder": name,
        "repeats": repeats,
        "alpha": args.alpha,
        "logging_policy": "thompson (engine defaults), λ = 0, online from cold start",
        "targets": headline,
    }
    for method in METHODS:
        prefix = "ope" if method == "dr" else method
        m = METHODS.index(method)
        figures[f"{prefix}_max_abs_error"] = max(
            per_target[k][method]["mean_abs_error"] for k in headline
        )
        figures[f"{prefix}_worst_repeat_abs_error"] = max(
            per_target[k][method]["worst_abs_error"] for k in headline
        )
        covered = [
            (low[t, :, m] <= truths[k]) & (truths[k] <= high[t, :, m])
            for t, k in enumerate(headline)
        ]
        figures[f"{prefix}_coverage"] = float(np.mean(covered))
        figures[f"{prefix}_mean_interval_width"] = float(
            np.nanmean([per_target[k][method]["mean_interval_width"] for k in headline])
        )
    figures["per_target"] = {k: per_target[k] for k in headline}
    figures["fixed_model_diagnostics"] = {k: per_target[k] for k in diagnostics}
    figures["setup_seconds"] = setup_s
    figures["seconds"] = time.perf_counter() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    keys = [k for k in figures if k.endswith(("_error", "_coverage", "_width"))]
    print(json.dumps({k: figures[k] for k in [*keys, "seconds"]}, indent=2))
    print(table(per_target, headline))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
