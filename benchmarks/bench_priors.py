"""Declared priors and onboarding on the MMLU-Pro stream (issue #14).

Priors: every model declares ``prior_quality`` = its published MMLU score (not MMLU-Pro; sources
in ``benchmarks/priors/mmlu_priors.toml``). Regret over the first 500 decisions and over the
whole stream, against the per-prompt oracle and against the best fixed model (per λ), with and
without the declarations, ``thompson``, 3 seeds (the replay's seeded orders), λ on the replay's
default grid. ``declared_weight`` is chosen with
``--tune`` on ``mmlupro_train.csv`` alone.

Onboarding: gemini-1.5-pro-002 withheld, added at decision 4,000 (λ = 0); its traffic share in
each later window of 100 decisions, and how many decisions it takes to reach 80% of its final
share (the share over the stream's last 2,000 decisions). With its declared prior, and without
(it then borrows the posterior of the models most like it).

    python benchmarks/bench_priors.py --json out/bench_priors.json [--tune] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from banditroute.embedders import MiniLMEmbedder
from banditroute.features import ContextBuilder, estimate_tokens
from banditroute.feedback_input import FeedbackInput
from banditroute.learner import Learner
from banditroute.policies import LinearThompsonSampling
from banditroute.registry import ModelProfile, Registry
from banditroute.replay.loaders import load_logs
from banditroute.replay.metrics import regret_per_prompt
from banditroute.replay.prices import replay_models
from banditroute.replay.routers import Stream
from banditroute.replay.runner import DEFAULT_LAMBDAS, prepare
from banditroute.reward import Tradeoff

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mmlupro"
PRIORS = Path(__file__).resolve().parent / "priors" / "mmlu_priors.toml"
NEWCOMER, ADDED_AT, WINDOW, EARLY = "gemini-1.5-pro-002", 4000, 100, 500


def load_stream(files: list[Path], cache: Path | None) -> tuple[Stream, list[ModelProfile]]:
    registry = Registry.load(DATA / "models.toml")
    loaded = load_logs(files, registry)
    models, _ = replay_models(loaded, registry, explicit=True)
    by_id = {m.id: m for m in models}
    stream = prepare(loaded.log, MiniLMEmbedder(), "minilm-clip200-500", cache, progress=False)
    return stream, [by_id[m] for m in loaded.log.models]


def with_priors(models: list[ModelProfile]) -> list[ModelProfile]:
    declared = {p["model"]: p["quality"] for p in tomllib.loads(PRIORS.read_text())["prior"]}
    return [m.model_copy(update={"prior_quality": declared.get(m.id)}) for m in models]


def route(
    stream: Stream,
    models: list[ModelProfile],
    order: np.ndarray,
    weight: float,
    seed: int,
    declared_weight: float,
    added_at: int | None = None,
    newcomer: str = NEWCOMER,
) -> np.ndarray:
    """Thompson over the stream in ``order``; ``newcomer`` joins at ``added_at`` if given."""
    late = [m for m in models if m.id == newcomer] if added_at is not None else []
    first = [m for m in models if m not in late]
    policy = LinearThompsonSampling(seed=seed, declared_weight=declared_weight)
    learner = Learner(Registry(first), policy, tradeoff=Tradeoff(cost_weight=weight))
    log, contexts = stream.log, stream.contexts(ContextBuilder(stream.embeddings.shape[1]))
    column = {m: j for j, m in enumerate(log.models)}
    chosen = np.empty(log.n_prompts, dtype=np.intp)
    for step, i in enumerate(order):
        if late and step == added_at:
            learner.add_model(late[0])
        tokens = estimate_tokens(log.prompts[i])
        choice = learner.decide(contexts[i], tokens, decision_id=f"d{step}")
        j = column[choice.decision.model]
        chosen[i] = j
        given = FeedbackInput(float(log.quality[i, j]), float(log.cost[i, j]))
        learner.learn(choice.pending(contexts[i], tokens, log.prompts[i]), given, given.quality)
    return chosen


def regrets(
    stream: Stream, models, seeds: int, lambdas, declared_weight: float
) -> dict[str, float]:
    log = stream.log
    scale = float(log.cost.mean(axis=0).max()) or 1.0
    early: list[float] = []
    whole: list[float] = []
    fixed_early: list[float] = []
    fixed_whole: list[float] = []
    for lam in lambdas:
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(log.n_prompts)
            chosen = route(stream, models, order, lam / scale, seed, declared_weight)
            regret = regret_per_prompt(log.quality, log.cost, chosen, lam / scale)[order]
            early.append(regret[:EARLY].sum())
            whole.append(regret.sum())
            reward = log.quality - lam / scale * log.cost  # against the best fixed model
            got = reward[np.arange(log.n_prompts), chosen][order]
            fixed_early.append(reward.mean(axis=0).max() * EARLY - got[:EARLY].sum())
            fixed_whole.append(reward.mean(axis=0).max() * log.n_prompts - got.sum())
    return {
        "early": float(np.mean(early)),
        "whole": float(np.mean(whole)),
        "fixed_early": float(np.mean(fixed_early)),
        "fixed_whole": float(np.mean(fixed_whole)),
    }


def onboarding(stream: Stream, models, seeds: int, declared_weight: float) -> dict[str, float]:
    log, out = stream.log, {}
    j = log.models.index(NEWCOMER)
    reach, final_shares = [], []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(log.n_prompts)
        chosen = route(stream, models, order, 0.0, seed, declared_weight, added_at=ADDED_AT)
        picked = (chosen[order] == j)[ADDED_AT:]
        final = float(picked[-2000:].mean())
        share = np.convolve(picked, np.ones(WINDOW) / WINDOW, mode="valid")
        hits = np.nonzero(share >= 0.8 * final)[0]
        reach.append(float(hits[0] + WINDOW) if hits.size else float("inf"))
        final_shares.append(final)
        out[f"share_first_{WINDOW}_seed{seed}"] = float(picked[:WINDOW].mean())
    out["final_share"] = float(np.mean(final_shares))
    out["decisions_to_80pct"] = float(np.mean(reach))
    out["decisions_to_80pct_max"] = float(np.max(reach))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tune", action="store_true", help="choose declared_weight on train")
    parser.add_argument("--weight", type=float, default=30.0, help="declared_weight to measure")
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(DEFAULT_LAMBDAS))
    parser.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    parser.add_argument("--only", choices=["priors", "onboarding"])
    args = parser.parse_args(argv)
    started, figures = time.perf_counter(), {}
    if args.tune:
        train, models = load_stream([DATA / "mmlupro_train.csv"], args.cache_dir)
        base = regrets(train, models, args.seeds, args.lambdas, args.weight)
        for w in (3.0, 10.0, 30.0, 100.0):
            got = regrets(train, with_priors(models), args.seeds, args.lambdas, w)
            figures[f"train_w{w:g}"] = {**got, "uniform_early": base["early"]}
            print(f"w={w:g}: {json.dumps(got)} uniform {json.dumps(base)}", flush=True)
    else:
        files = [DATA / "mmlupro_train.csv", DATA / "mmlupro_test.csv"]
        stream, models = load_stream(files, args.cache_dir)
    if not args.tune and args.only != "onboarding":
        uniform = regrets(stream, models, args.seeds, args.lambdas, args.weight)
        declared = regrets(stream, with_priors(models), args.seeds, args.lambdas, args.weight)
        figures["priors_regret_first500_uniform"] = uniform["early"]
        figures["priors_regret_first500_declared"] = declared["early"]
        figures["priors_regret_first500_ratio"] = declared["early"] / uniform["early"]
        figures["priors_regret_whole_uniform"] = uniform["whole"]
        figures["priors_regret_whole_declared"] = declared["whole"]
        for key in ("fixed_early", "fixed_whole"):  # against the best fixed model per λ
            figures[f"priors_regret_{key}_uniform"] = uniform[key]
            figures[f"priors_regret_{key}_declared"] = declared[key]
        print(json.dumps(figures, indent=1), flush=True)
    if not args.tune and args.only != "priors":
        for label, chosen_models in (("declared", with_priors(models)), ("borrowed", models)):
            got = onboarding(stream, chosen_models, args.seeds, args.weight)
            figures.update({f"onboarding_{label}_{k}": v for k, v in got.items()})
            print(label, json.dumps(got), flush=True)
    figures["declared_weight"] = args.weight
    figures["seconds"] = time.perf_counter() - started
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
