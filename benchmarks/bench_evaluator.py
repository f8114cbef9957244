"""Evaluator vs the AlpacaEval-2 judge on held-out prompts, and the evaluator's speed.

Split: prompts whose crc32(prompt_id) is even are the fit half, odd ones are evaluated (the
design choices were made by cross-validation inside the even half only). The two halves are
written to out/ (never to the repository: licence) and measured with the real command:

    python benchmarks/bench_evaluator.py            # → out/evaluate_ae2.json, then speed

It runs ``banditroute evaluate`` twice: as it is (the calibration stacks the learned TF-IDF
`TextSignal`, cross-fitted) and with ``--no-text-signal`` (the signals-only calibration before
it, → out/evaluate_ae2_signals_only.json), and prints both side by side.

Speed: one (prompt, response) pair at a time with MiniLM, nothing cached (target ≤ 30 ms), and
what the text signal fitted on the fit half adds per response (target ≤ 1 ms).
"""

from __future__ import annotations

import argparse
import json
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


def text_speed(fit: Path, held_out: Path, pairs: int = 200) -> dict[str, float]:
    """Per-response cost of the text signal (fitted on the fit half), one response at a time."""
    from banditroute.evaluation.text_signal import TextSignal

    train = pd.read_parquet(fit)
    signal = TextSignal().fit(train["response"].fillna("").tolist(), train["quality"].tolist())
    responses = pd.read_parquet(held_out)["response"].fillna("").sample(pairs, random_state=0)
    times = []
    for response in responses:
        started = time.perf_counter()
        signal.score([response])
        times.append(1000 * (time.perf_counter() - started))
    times.sort()
    return {
        "text_signal_ms_p50": statistics.median(times),
        "text_signal_ms_p90": times[int(0.9 * len(times))],
    }


def compare(out: Path) -> None:
    """The fitted evaluator with and without the text signal, held-out prompts."""
    rows = [("fitted, signals only (--no-text-signal)", "evaluate_ae2_signals_only.json")]
    rows.append(("fitted, + text signal (default)", "evaluate_ae2.json"))
    print(f"{'held-out half':<42} {'agreement':>10} {'length-matched':>15}")
    for label, name in rows:
        fitted = json.loads((out / name).read_text())["fitted"]
        agree, matched = fitted["agreement"], fitted["agreement_length_matched"]
        print(f"{label:<42} {agree:>10.3f} {matched:>15.3f}")


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
    command = ["evaluate", str(held_out), "--fit", str(fit), "--json"]
    for extra in (["evaluate_ae2_signals_only.json", "--no-text-signal"], ["evaluate_ae2.json"]):
        started = time.perf_counter()
        main([*command, str(args.out / extra[0]), *extra[1:]])
        print(f"banditroute evaluate {' '.join(extra[1:])}: {time.perf_counter() - started:.1f} s")
    compare(args.out)
    for key, value in {**text_speed(fit, held_out), **speed(args.data)}.items():
        print(f"{key:<30} {value:8.2f}")
