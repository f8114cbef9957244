"""The static encoder (distilled locally from MiniLM) against MiniLM: speed and routing quality.

Figures, all in one run (the shared datasets are read from ../shared/datasets, never copied):

* prompts/s of each encoder on real prompts: every RouterBench prompt (the four files hold
  1,911, fewer than 2,000) and 2,000 MMLU-Pro prompts (seeded sample), nothing cached;
* seconds of the static encoder's first-use build (in a fresh cache folder) and of a cached load;
* AIQ of ``thompson`` (3 seeds, the replay's default λ grid) with each encoder on RouterBench
  cold (4 files), RouterBench train → test warm, MMLU-Pro cold (train + test), and the difference;
* seconds of ``banditroute evaluate`` on the AlpacaEval file with the static encoder (the two
  halves of benchmarks/bench_evaluator.py, nothing cached) and how much of it is embedding.

``--default-speed`` measures only ``embed_prompts_per_s`` of the default encoder (the one
`Engine`, the CLI and ``serve`` use when none is named: `default_embedder`, the static encoder
since it became the default) on the same real prompts, nothing cached (the slower of the two).

``--tune`` instead compares recipes (PCA dims × weighting × whole or clipped prompt) on the
*_train files only: RouterBench train cold and MMLU-Pro train cold::

    python benchmarks/bench_encoder.py --json out/bench_encoder.json --minilm-cache CACHE
    python benchmarks/bench_encoder.py --tune --json out/encoder_tuning.json --minilm-cache CACHE
    python benchmarks/bench_encoder.py --default-speed --json out/bench_default_encoder.json

(CACHE: a folder of MiniLM vectors of the shared files, as `banditroute replay --cache-dir`.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from banditroute.embedders import MINILM_NAME, Embedder, MiniLMEmbedder, embedder_name
from banditroute.registry import Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.prices import replay_models
from banditroute.replay.report import summarize
from banditroute.replay.runner import ReplaySettings, prepare, replay
from banditroute.static_embedder import StaticEmbedder, default_embedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RB, MMLU = DATA / "routerbench", DATA / "mmlupro"
RB_TRAIN = [RB / "arc_challenge_train.csv", RB / "mbpp_train.csv"]
RB_TEST = [RB / "arc_challenge_test.csv", RB / "mbpp_test.csv"]
MMLU_FILES = [MMLU / "mmlupro_train.csv", MMLU / "mmlupro_test.csv"]
STREAMS = {  # name: (routed files, warm-start files, registry)
    "routerbench_cold": (RB_TRAIN + RB_TEST, None, None),
    "routerbench_warm": (RB_TEST, RB_TRAIN, None),
    "mmlupro_cold": (MMLU_FILES, None, MMLU / "models.toml"),
}
TUNE_STREAMS = {
    "routerbench_train_cold": (RB_TRAIN, None, None),
    "mmlupro_train_cold": (MMLU_FILES[:1], None, MMLU / "models.toml"),
}
TUNE_RECIPES = [(d, w, c) for d in (32, 64, 128, 256, 384) for w in ("sif", "flat") for c in (0, 1)]


def prompts(n: int = 2000) -> dict[str, list[str]]:
    rb = pd.concat([pd.read_csv(p)["prompt"] for p in RB_TRAIN + RB_TEST]).astype(str)
    mmlu = pd.concat([pd.read_csv(p)["prompt"] for p in MMLU_FILES]).astype(str)
    return {
        "routerbench": rb.tolist()[:n],
        "mmlupro": mmlu.sample(n, random_state=0).tolist(),
    }


def prompts_per_s(embedder: Embedder, texts: list[str], batch: int = 64) -> float:
    embedder.embed(["warm-up: load the model"])
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.embed(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def speed(minilm: Embedder, static: Embedder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for source, texts in prompts().items():
        rates = {"minilm": prompts_per_s(minilm, texts), "static": prompts_per_s(static, texts)}
        out[source] = {
            "prompts": len(texts),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "minilm_prompts_per_s": round(rates["minilm"], 1),
            "static_prompts_per_s": round(rates["static"], 1),
            "ratio": round(rates["static"] / rates["minilm"], 1),
        }
        print(source, out[source], flush=True)
    return out


def default_speed() -> dict[str, Any]:
    """``embed_prompts_per_s`` of the default encoder on real prompts (the slower stream)."""
    embedder = default_embedder()
    out: dict[str, Any] = {"encoder": embedder_name(embedder)}
    for source, texts in prompts().items():
        rate = prompts_per_s(embedder, texts)
        out[source] = {
            "prompts": len(texts),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "prompts_per_s": round(rate, 1),
        }
        print(source, out[source], flush=True)
    out["embed_prompts_per_s"] = min(out[s]["prompts_per_s"] for s in ("routerbench", "mmlupro"))
    return out


def build_seconds(dims: int, weighting: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        StaticEmbedder(dims, weighting, cache_dir=folder).load()  # type: ignore[arg-type]
        built = time.perf_counter() - started
        started = time.perf_counter()
        StaticEmbedder(dims, weighting, cache_dir=folder).load()  # type: ignore[arg-type]
        return {
            "first_use_build_s": round(built, 1),
            "cached_load_s": time.perf_counter() - started,
        }


def thompson_aiq(
    stream: tuple[list[Path], list[Path] | None, Path | None],
    embedder: Embedder,
    name: str,
    cache_dir: Path | None,
    seeds: int,
) -> dict[str, Any]:
    files, warm_files, registry_path = stream
    registry = Registry.load(registry_path or example_registry_path())
    loaded = load_logs(files, registry)
    models, _ = replay_models(loaded, registry, explicit=registry_path is not None)
    test = prepare(loaded.log, embedder, name, cache_dir, False)
    warm = None
    if warm_files:
        warm = prepare(load_logs(warm_files, registry).log, embedder, name, cache_dir, False)
    settings = ReplaySettings(seeds=seeds, policies=("thompson",))
    figures = summarize(replay(test, models, settings, warm=warm, progress=False))
    router = figures.routers["thompson"]
    return {
        "aiq": round(router.aiq, 4),
        "sd": round(router.aiq_std, 4),
        "per_seed": [round(v, 4) for v in router.aiq_per_seed],
    }


def quality(streams: dict[str, Any], encoders: dict[str, Any], seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stream, spec in streams.items():
        row: dict[str, Any] = {}
        for name, (embedder, cache_dir) in encoders.items():
            started = time.perf_counter()
            row[name] = thompson_aiq(spec, embedder, name, cache_dir, seeds)
            row[name]["seconds"] = round(time.perf_counter() - started, 1)
            print(stream, name, row[name], flush=True)
        base = row[MINILM_NAME]["aiq"]
        for name in encoders:
            if name != MINILM_NAME:
                row[name]["diff_vs_minilm"] = round(row[name]["aiq"] - base, 4)
        out[stream] = row
    return out


def evaluate_seconds(encoder: StaticEmbedder) -> dict[str, Any]:
    """``banditroute evaluate`` on the AlpacaEval halves (fit + evaluated) with nothing cached."""
    from banditroute.cli import main

    source = DATA / "alpacaeval" / "ae2_outcomes.parquet"
    log = pd.read_parquet(source)
    odd = log["prompt_id"].astype(str).map(lambda p: zlib.crc32(p.encode()) % 2 == 1)
    with tempfile.TemporaryDirectory() as folder:
        fit, held_out, out = (Path(folder) / n for n in ("fit.parquet", "eval.parquet", "e.json"))
        log[~odd].to_parquet(fit)
        log[odd].to_parquet(held_out)
        started = time.perf_counter()
        argv = [str(held_out), "--fit", str(fit), "--embedder", "static", "--quiet"]
        argv += ["--cache-dir", str(Path(folder) / "cache"), "--json", str(out)]
        status = main(["evaluate", *argv])
        seconds = time.perf_counter() - started
        figures = json.loads(out.read_text()) if status == 0 else {}
    texts = log["prompt"].astype(str).tolist() + log["response"].astype(str).str[:2000].tolist()
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        encoder.embed(texts[start : start + 64])
    return {
        "responses": len(log),
        "exit_status": status,
        "seconds": round(seconds, 1),
        "static_embedding_of_all_prompts_and_responses_s": round(time.perf_counter() - started, 1),
        "figures": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--minilm-cache", type=Path, default=Path(".banditroute-cache"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--weighting", default="flat", choices=["sif", "flat"])
    parser.add_argument("--tune", action="store_true", help="compare recipes on *_train only")
    parser.add_argument(
        "--default-speed", action="store_true", help="only the default encoder's prompts/s"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["speed", "build", "evaluate", "aiq"]
    )
    args = parser.parse_args()
    minilm = MiniLMEmbedder()
    figures: dict[str, Any] = {}
    if args.default_speed:
        figures["default_encoder"] = default_speed()
        print("embed_prompts_per_s", figures["default_encoder"]["embed_prompts_per_s"])
        args.skip, args.tune = ["speed", "build", "evaluate", "aiq"], False
    encoders: dict[str, Any] = {MINILM_NAME: (minilm, args.minilm_cache)}
    static = StaticEmbedder(args.dims, args.weighting)
    if args.tune:
        for dims, weighting, clip in TUNE_RECIPES:
            embedder = StaticEmbedder(dims, weighting, bool(clip))  # type: ignore[arg-type]
            encoders[embedder.name] = (embedder, None)
        figures["tuning"] = quality(TUNE_STREAMS, encoders, args.seeds)
    else:
        if "build" not in args.skip:
            figures["build"] = build_seconds(args.dims, args.weighting)
            print("build", figures["build"], flush=True)
        if "speed" not in args.skip:
            figures["speed"] = speed(minilm, static)
        clipped = StaticEmbedder(args.dims, args.weighting, clip=True)
        encoders.update({static.name: (static, None), clipped.name: (clipped, None)})
        if "aiq" not in args.skip:
            figures["aiq"] = quality(STREAMS, encoders, args.seeds)
        if "evaluate" not in args.skip:
            figures["evaluate"] = evaluate_seconds(static)
            print("evaluate", {k: v for k, v in figures["evaluate"].items() if k != "figures"})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
