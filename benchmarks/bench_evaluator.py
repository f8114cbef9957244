"""Evaluator vs the AlpacaEval-2 judge on held-out prompts, and the evaluator's speed.

Split: prompts whose crc32(prompt_id) is even are the fit half, odd ones are evaluated (the
design choices were made by cross-validation inside the even half only). The two halves are
written to out/ (never to the repository: licence) and measured with the real command:

    python benchmarks/bench_evaluator.py            # → out/evaluate_ae2.json, then speed

Speed: one (prompt, response) pair at a time with MiniLM, nothing cached (target ≤ 30 ms).
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from pathlib import Path

import pandas as pd

from banditroute.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "alpacaeval"


def split(source: Path, out: Path) -> tuple[Path, Path]:
    log = pd.read_parquet(source)
    odd = log["prompt_id"].astype(str).map(lambda p: zlib.crc32(p.encode()) % 2 == 1)
    out.mkdir(parents=True, exist_ok=True)
    fit, held_out = out / "ae2_fit.parquet", out / "ae2_eval.parquet"
    log[~odd].to_parquet(fit)
    log[odd].to_parquet(held_out)
    return fit, held_out


def speed(source: Path, pairs: int = 200) -> dict[str, float]:
    """Per-pair latency with MiniLM: nothing cached, and with the prompt's embedding cached as
    it is when the engine scores a response to a prompt it has just routed."""
    from banditroute.evaluation import Evaluator
    from banditroute.features import CachedEmbedder, MiniLMEmbedder

    log = pd.read_parquet(source).sample(pairs + 5, random_state=0)
    embedder = CachedEmbedder(MiniLMEmbedder())
    evaluator = Evaluator(embedder=embedder)
    cold, warm = [], []
    for k, row in enumerate(log.itertuples()):
        prompt, response = f"{row.prompt} [{k}]", f"{row.response} [{k}]"  # never seen before
        started = time.perf_counter()
        evaluator.evaluate(prompt, response)
        cold.append(1000 * (time.perf_counter() - started))
        prompt = f"{row.prompt} [{k}b]"
        embedder.embed_one(prompt)  # what Engine.choose did
        started = time.perf_counter()
        evaluator.evaluate(prompt, f"[{k}b] {row.response}")
        warm.append(1000 * (time.perf_counter() - started))
    cold, warm = sorted(cold[5:]), sorted(warm[5:])  # the first calls load the encoder
    return {
        "evaluate_ms_p50_uncached": statistics.median(cold),
        "evaluate_ms_p90_uncached": cold[int(0.9 * len(cold))],
        "evaluate_ms_p50_prompt_cached": statistics.median(warm),
        "evaluate_ms_p90_prompt_cached": warm[int(0.9 * len(warm))],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "ae2_outcomes.parquet")
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    fit, held_out = split(args.data, args.out)
    main(
        [
            "evaluate",
            str(held_out),
            "--fit",
            str(fit),
            "--json",
            str(args.out / "evaluate_ae2.json"),
        ]
    )
    for key, value in speed(args.data).items():
        print(f"{key:<30} {value:8.2f}")
