"""ParetoBandit's onboarding scenario on its k4 files, banditroute and ParetoBandit side by side.

Protocol: ParetoBandit's own (its repository's ``experiments/04_model_onboarding/
run_model_onboarding.py``): phase 1 routes its val split with the three models (llama-3.1-8b,
mistral-large-2512, gemini-2.5-pro), learning online; then google/gemini-2.5-flash is added
(its ``register_model``, ``speed="fast"``, its list prices) and phase 2 routes the k4 test split
with four models, still learning online. Each phase in its own seeded random order (seed s:
``default_rng(s)`` permutes phase 1, then phase 2). Phase 1 is ``paretobandit_val.csv`` (their
``val.jsonl``, 1,785 prompts) by default, or ``--phase1 val_k4`` (the 1,766 of them with Flash
labels). Their runs use a budget pacer for cost pressure; here cost pressure is our λ, mapped
to its ``cost_penalty`` as in ``banditroute replay`` (`paretobandit_peer.cost_penalty_for`).

λ = 0 and λ = 0.1 (reward = quality − λ·cost / cost_scale, cost_scale = the dearest model's mean
cost). 0.1 was picked on ``paretobandit_val_k4.csv`` alone: there Flash is the best fixed model
and gemini-2.5-pro is priced out of the oracle (3% of its picks), so the newcomer has a niche.

Routers: ``thompson`` (banditroute's `Learner`, the newcomer borrows the posterior of the models
most like it: `Learner.add_model` → `Policy.borrow_prior`; driven by ``bench_priors.route``);
``paretobandit`` (its tuned cold start, as the replay router); ``paretobandit_warmup`` (the
router of their onboarding script: its shipped warm-up priors, fitted on its own train split, and
``BEST_K3_HPARAMS``: alpha 0.01, n_eff 1163.9, gamma 0.997); ``paretobandit_paper`` (the same
priors with the settings its paper reports for these onboarding runs: alpha 0.1, n_eff 1,000,
gamma 0.995).

Figures per router and λ, mean over seeds (and per seed in the JSON): decisions after the
addition until the newcomer's share over the last 100 decisions first reaches 80% of its final
share (its share over phase 2's last 500 decisions; as ``bench_priors --only onboarding``), their
adoption step (share ≥ 10% over 100 decisions, held 50 decisions), the final share, mean quality
and mean reward after the addition, cost after it and over the whole stream (USD).

    python benchmarks/bench_onboarding_k4.py --cache-dir /work/emb-cache --json out/onb_k4.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import bench_priors  # type: ignore[import-not-found]
import numpy as np
from tqdm.auto import tqdm

from banditroute.embedders import MiniLMEmbedder
from banditroute.outcome_log import OutcomeLog
from banditroute.registry import ModelProfile, Registry
from banditroute.replay.loaders import load_logs
from banditroute.replay.routers import Stream
from banditroute.replay.runner import prepare

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "paretobandit"
NEWCOMER = "google/gemini-2.5-flash"
LAMBDAS = (0.0, 0.1)
FINAL_LAST, ADOPTED_SHARE, ADOPTED_HOLD = 500, 0.10, 50
ROUTERS = ("thompson", "paretobandit", "paretobandit_warmup", "paretobandit_paper")
PAPER_SETTINGS = (0.1, 1000.0, 0.995)  # alpha, n_eff, gamma of its paper's onboarding runs


@dataclass(frozen=True)
class Scenario:
    """Phase 1 then phase 2 as one stream (the newcomer's phase-1 cells: NaN quality, cost 0)."""

    stream: Stream
    models: list[ModelProfile]
    n_first: int
    mean_costs: np.ndarray  # per model, over the cells it has a quality for
    cost_scale: float


def _aligned(log: OutcomeLog, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    quality = np.full((log.n_prompts, len(models)), np.nan)
    cost = np.zeros_like(quality)
    for j, model in enumerate(models):
        if model in log.models:
            quality[:, j] = log.quality[:, log.models.index(model)]
            cost[:, j] = log.cost[:, log.models.index(model)]
    return quality, cost


def load_scenario(phase1: str, cache: Path | None) -> Scenario:
    registry = Registry.load(DATA / "models.toml")
    first = load_logs([DATA / f"paretobandit_{phase1}.csv"], registry).log
    second = load_logs([DATA / "paretobandit_test_k4.csv"], registry).log
    names = second.models
    (q1, c1), (q2, c2) = _aligned(first, names), _aligned(second, names)
    log = OutcomeLog(
        first.prompts + second.prompts,
        first.tasks + second.tasks,
        list(names),
        np.vstack([q1, q2]),
        np.vstack([c1, c2]),
        prompt_ids=first.prompt_ids + second.prompt_ids,
    )
    embedder = MiniLMEmbedder()
    parts = [
        prepare(x, embedder, "minilm-clip200-500", cache, progress=False) for x in (first, second)
    ]
    stream = Stream(log, np.vstack([p.embeddings for p in parts]))
    known = np.isfinite(log.quality)
    means = np.array([log.cost[known[:, j], j].mean() for j in range(len(names))])
    by_id = {m.id: m for m in registry}
    models = [by_id[m] for m in names]
    return Scenario(stream, models, first.n_prompts, means, float(means.max()))


def phase_order(n_first: int, n: int, seed: int) -> np.ndarray:
    """Their order: phase 1 permuted, then phase 2 permuted, by one seeded generator."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n_first), n_first + rng.permutation(n - n_first)])


def run_thompson(sc: Scenario, order: np.ndarray, weight: float, seed: int) -> np.ndarray:
    chosen = bench_priors.route(
        sc.stream, sc.models, order, weight, seed, 30.0, sc.n_first, newcomer=NEWCOMER
    )
    return np.asarray(chosen, dtype=np.intp)


def run_paretobandit(
    sc: Scenario, order: np.ndarray, weight: float, seed: int, name: str
) -> np.ndarray:
    """Its router over phase 1 with three models, ``register_model`` for the newcomer, phase 2."""
    from banditroute.replay import paretobandit_peer as peer

    features = peer.paretobandit_features(sc.stream.embeddings)
    assert features is not None, "MiniLM vectors expected"
    penalty = peer.cost_penalty_for(weight, sc.mean_costs, peer.normalised_prices(sc.models))
    first = [m for m in sc.models if m.id != NEWCOMER]
    new = next(m for m in sc.models if m.id == NEWCOMER)
    chosen = np.empty(sc.stream.log.n_prompts, dtype=np.intp)
    with peer.quiet_package():
        warmup, paper = name != "paretobandit", name == "paretobandit_paper"
        settings = PAPER_SETTINGS if paper else None
        router = peer.tabula_rasa_router(first, features.shape[1], penalty, seed, warmup, settings)
        head, tail = order[: sc.n_first], order[sc.n_first :]
        chosen[head] = peer.route_stream(router, features, sc.stream.log, head)[head]
        router.register_model(
            new.id,
            speed="fast",  # as their onboarding experiment registers it
            input_cost_per_m=new.input_usd_per_mtok,
            output_cost_per_m=new.output_usd_per_mtok,
        )
        chosen[tail] = peer.route_stream(router, features, sc.stream.log, tail)[tail]
    return chosen


@dataclass(frozen=True)
class Adoption:
    """One run's onboarding figures (decisions counted from the addition)."""

    router: str
    lam: float
    seed: int
    decisions_to_80pct: float | None  # None: final share 0, or never reached
    adopted_step: float | None  # their criterion; None: never
    final_share: float
    quality_after: float
    reward_after: float
    cost_after_usd: float
    total_cost_usd: float


def adopted_step(picked: np.ndarray) -> float | None:
    """Their adoption step (1-based): the first of ``ADOPTED_HOLD`` consecutive decisions at
    which the newcomer's share over the last (up to) 100 decisions is at least 10%."""
    window = bench_priors.WINDOW
    counts = np.concatenate([[0.0], np.cumsum(picked)])
    step = np.arange(1, picked.size + 1)
    low = np.maximum(step - window, 0)
    share = (counts[step] - counts[low]) / (step - low)
    held = np.convolve(share >= ADOPTED_SHARE, np.ones(ADOPTED_HOLD), mode="valid")
    first = np.nonzero(held >= ADOPTED_HOLD)[0]
    return float(first[0] + 1) if first.size else None


def adoption(
    sc: Scenario, chosen: np.ndarray, order: np.ndarray, weight: float, key: tuple[str, float, int]
) -> Adoption:
    log, j = sc.stream.log, sc.stream.log.models.index(NEWCOMER)
    picks = chosen[order]
    quality = log.quality[order, picks]
    cost = log.cost[order, picks]
    after = slice(sc.n_first, None)
    picked = (picks == j)[after].astype(float)
    final = float(picked[-FINAL_LAST:].mean())
    share = np.convolve(picked, np.ones(bench_priors.WINDOW) / bench_priors.WINDOW, mode="valid")
    hits = np.nonzero(share >= 0.8 * final)[0] if final > 0 else np.array([], dtype=np.intp)
    reach = float(hits[0] + bench_priors.WINDOW) if hits.size else None
    adopted = adopted_step(picked)
    return Adoption(
        *key,
        decisions_to_80pct=reach,
        adopted_step=adopted,
        final_share=final,
        quality_after=float(quality[after].mean()),
        reward_after=float((quality - weight * cost)[after].mean()),
        cost_after_usd=float(cost[after].sum()),
        total_cost_usd=float(cost.sum()),
    )


def mean_over_seeds(runs: list[Adoption]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"seeds": float(len(runs))}
    for f in fields(Adoption)[3:]:
        values = [getattr(r, f.name) for r in runs]
        out[f.name] = None if None in values else float(np.mean(values))
        if f.name == "decisions_to_80pct" and None not in values:
            out["decisions_to_80pct_max"] = float(np.max(values))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS))
    parser.add_argument("--phase1", choices=["val", "val_k4"], default="val")
    parser.add_argument("--routers", nargs="+", choices=ROUTERS, default=list(ROUTERS))
    parser.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    args = parser.parse_args(argv)
    if not (DATA / "paretobandit_test_k4.csv").exists():
        print(f"skipped: ParetoBandit's k4 files are not at {DATA}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sc = load_scenario(args.phase1, args.cache_dir)
    runs: list[Adoption] = []
    seconds: dict[str, float] = dict.fromkeys(args.routers, 0.0)
    total = len(args.routers) * len(args.lambdas) * args.seeds
    with tqdm(total=total, desc="onboarding k4", unit="run") as bar:
        for name in args.routers:
            for lam in args.lambdas:
                for seed in range(args.seeds):
                    weight, order = (
                        lam / sc.cost_scale,
                        phase_order(sc.n_first, len(sc.stream.log.prompts), seed),
                    )
                    begun = time.perf_counter()
                    if name == "thompson":
                        chosen = run_thompson(sc, order, weight, seed)
                    else:
                        chosen = run_paretobandit(sc, order, weight, seed, name)
                    seconds[name] += time.perf_counter() - begun
                    runs.append(adoption(sc, chosen, order, weight, (name, lam, seed)))
                    bar.update(1)
    summary = {
        f"{name}@{lam:g}": mean_over_seeds([r for r in runs if (r.router, r.lam) == (name, lam)])
        for name in args.routers
        for lam in args.lambdas
    }
    figures = {
        "protocol": f"phase 1 paretobandit_{args.phase1}.csv ({sc.n_first} prompts, 3 models), "
        f"{NEWCOMER} added, phase 2 paretobandit_test_k4.csv "
        f"({len(sc.stream.log.prompts) - sc.n_first} prompts, 4 models)",
        "summary": summary,
        "runs": [asdict(r) for r in runs],
        "router_seconds": seconds,
        "seconds": time.perf_counter() - started,
    }
    for key, row in summary.items():
        print(key, json.dumps(row))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    print(f"{figures['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
