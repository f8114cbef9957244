"""``banditroute demo``: route the synthetic workload online and show what the engine learned.

>>> from banditroute.demo import run_demo
>>> from banditroute.features import HashingEmbedder
>>> report = run_demo(n_prompts=300, seed=0, embedder=HashingEmbedder(dim=128), progress=False)
>>> report.n_prompts, sorted(report.by_kind)[:2]
(300, ['chat', 'code'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .engine import Engine
from .features import Embedder
from .reward import Tradeoff
from .synthetic import make_workload

__all__ = ["DemoReport", "KindSummary", "run_demo"]


@dataclass(frozen=True)
class KindSummary:
    """What the router did on one kind of prompt, beside the best fixed model overall."""

    n: int
    traffic: dict[str, float]  # share of this kind's prompts per model
    quality: float
    cost_usd: float
    reward: float
    fixed_quality: float
    fixed_cost_usd: float
    fixed_reward: float


@dataclass(frozen=True)
class DemoReport:
    n_prompts: int
    best_fixed_model: str
    tradeoff: Tradeoff
    by_kind: dict[str, KindSummary]
    router_reward: float  # over the second half of the stream, after learning
    fixed_reward: float

    def to_markdown(self) -> str:
        """The summary table printed by the CLI."""
        lines = [
            f"Synthetic workload: {self.n_prompts} prompts, reward = quality − "
            f"{self.tradeoff.cost_weight:g}·cost_usd; best fixed model in hindsight: "
            f"{self.best_fixed_model}",
            "",
            "| kind | n | traffic (top models) | quality | cost $/req | reward | "
            f"{self.best_fixed_model} reward |",
            "|---|---:|---|---:|---:|---:|---:|",
        ]
        for kind, s in sorted(self.by_kind.items()):
            top = sorted(s.traffic.items(), key=lambda kv: -kv[1])[:3]
            traffic = ", ".join(f"{m} {share:.0%}" for m, share in top if share > 0)
            lines.append(
                f"| {kind} | {s.n} | {traffic} | {s.quality:.3f} | {s.cost_usd:.2e} | "
                f"{s.reward:.3f} | {s.fixed_reward:.3f} |"
            )
        lines += [
            "",
            f"Second half of the stream (after learning): router reward {self.router_reward:.3f} "
            f"vs {self.best_fixed_model} {self.fixed_reward:.3f} per request.",
        ]
        return "\n".join(lines)


def run_demo(
    n_prompts: int = 3000,
    seed: int = 0,
    embedder: Embedder | None = None,
    cost_weight: float = 10.0,
    progress: bool = True,
) -> DemoReport:
    """Route a synthetic stream with bandit feedback (the engine sees only its choice's outcome)."""
    log, models = make_workload(n_prompts=n_prompts, seed=seed)
    tradeoff = Tradeoff(cost_weight=cost_weight)
    engine = Engine(models, embedder=embedder, tradeoff=tradeoff, seed=seed)
    engine.embedder.embed(log.prompts)  # batch-embed once; choose() then hits the cache
    chosen = np.empty(n_prompts, dtype=np.intp)
    column = {m: j for j, m in enumerate(log.models)}
    for i in tqdm(range(n_prompts), desc="routing", disable=not progress, unit="prompt"):
        decision = engine.choose(log.prompts[i])
        j = column[decision.model]
        chosen[i] = j
        engine.feedback(
            decision,
            quality=float(log.quality[i, j]),
            cost_usd=float(log.cost[i, j]),
            latency_ms=float(log.latency[i, j]) if log.latency is not None else None,
        )
    rows = np.arange(n_prompts)
    reward_all = log.quality - cost_weight * log.cost
    best = int(np.argmax(reward_all.mean(axis=0)))
    tasks = np.array(log.tasks)
    by_kind = {}
    for kind in sorted(set(log.tasks)):
        mask = tasks == kind
        picks = chosen[mask]
        by_kind[kind] = KindSummary(
            n=int(mask.sum()),
            traffic={m: float(np.mean(picks == j)) for m, j in column.items()},
            quality=float(log.quality[rows[mask], picks].mean()),
            cost_usd=float(log.cost[rows[mask], picks].mean()),
            reward=float(reward_all[rows[mask], picks].mean()),
            fixed_quality=float(log.quality[mask, best].mean()),
            fixed_cost_usd=float(log.cost[mask, best].mean()),
            fixed_reward=float(reward_all[mask, best].mean()),
        )
    half = rows >= n_prompts // 2
    return DemoReport(
        n_prompts=n_prompts,
        best_fixed_model=log.models[best],
        tradeoff=tradeoff,
        by_kind=by_kind,
        router_reward=float(reward_all[rows[half], chosen[half]].mean()),
        fixed_reward=float(reward_all[half, best].mean()),
    )
