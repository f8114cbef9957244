"""Compare settings of the engine's Thompson policy on tuning data (train files only).

Each variant is ``name:param=value,param=value`` (keyword arguments of
`LinearThompsonSampling`); every variant runs in one replay beside the default ``thompson`` and
the Zero router, same seeds and orders. Hyper-parameters for issue #14 were chosen with this on
the synthetic workload and ``*_train`` files only.

    python benchmarks/tune_policy.py ../shared/datasets/mmlupro/mmlupro_train.csv \
        --registry ../shared/datasets/mmlupro/models.toml --variant common:common_part=true
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from banditroute.cli_checks import EMBEDDERS, command_embedder
from banditroute.features import ContextBuilder
from banditroute.outcome_log import OutcomeLog
from banditroute.policies import LinearThompsonSampling
from banditroute.registry import ModelProfile, Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.prices import replay_models
from banditroute.replay.report import summarize
from banditroute.replay.routers import ROUTERS, RouteJob, RouterSpec, Stream, run_engine
from banditroute.replay.runner import ReplaySettings, prepare, replay
from banditroute.synthetic import make_workload


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, body = text.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, body.split(",")):
        key, _, value = pair.partition("=")
        params[key] = {"true": True, "false": False}.get(value.lower())
        if params[key] is None:
            params[key] = float(value)
    return name, params


def register(name: str, params: dict[str, Any]) -> None:
    """A router named ``name``; ``components=N`` sets the context projection's size."""
    components = params.pop("components", None)

    def run(job: RouteJob) -> Any:
        policy = LinearThompsonSampling(seed=job.seed, **params)
        context = None
        if components is not None:
            context = ContextBuilder(job.test.embeddings.shape[1], int(components))
        return run_engine(
            policy, job.models, job.test, job.order, job.cost_weight, job.warm, context
        )

    ROUTERS[name] = RouterSpec(run, engine_policy=True)


def tuning_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every tuning script takes (data, registry, encoder, variants, seeds)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data", nargs="*", type=Path, help="none: the synthetic workload")
    parser.add_argument("--registry", type=Path)
    parser.add_argument("--embedder", choices=EMBEDDERS, help="default: the default encoder")
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    parser.add_argument("--json", type=Path)
    return parser


def register_variants(
    texts: list[str], add: Callable[[str, dict[str, Any]], None] | None = None
) -> list[str]:
    """Router names for ``--variant`` texts: a peer by name (knn, paretobandit, ...) as it is,
    else ``name:params`` registered by ``add`` (default `register`)."""
    names = []
    for text in texts:
        if ":" not in text and text in ROUTERS:
            names.append(text)
            continue
        name, params = parse_variant(text)
        (add or register)(name, params)
        names.append(name)
    return names


def tuning_log(args: argparse.Namespace) -> tuple[Registry, OutcomeLog, list[ModelProfile]]:
    """The registry, the log of ``args.data`` and its models (the synthetic workload, as
    `make demo` replays it, when no data are given)."""
    registry = Registry.load(args.registry or example_registry_path())
    if not args.data:
        log, models = make_workload(n_prompts=2000, seed=0)
        return registry, log, models
    loaded = load_logs(args.data, registry)
    return registry, loaded.log, replay_models(loaded, registry, explicit=True)[0]


def main(argv: list[str] | None = None) -> int:
    parser = tuning_parser(__doc__.splitlines()[0])
    parser.add_argument("--warm-start", nargs="+", type=Path)
    args = parser.parse_args(argv)
    names = register_variants(args.variant)
    registry, log, models = tuning_log(args)
    embedder, name = command_embedder(args.embedder)
    test = prepare(log, embedder, name, args.cache_dir, False)
    warm = None
    if args.warm_start:
        warm_log = load_logs(args.warm_start, registry).log
        warm = prepare(warm_log, embedder, name, args.cache_dir, False)
    replay_and_report(test, models, names, args, warm)
    return 0


def replay_and_report(
    test: Stream,
    models: list[ModelProfile],
    names: list[str],
    args: argparse.Namespace,
    warm: Stream | None = None,
    detail: bool = False,
) -> None:
    """Replay ``thompson`` and ``names`` (zero and oracle come with it); print each AIQ and
    write it to ``args.json`` when given (``detail``: also per seed and seconds)."""
    settings = ReplaySettings(seeds=args.seeds, policies=("thompson", *names))
    summary = summarize(replay(test, models, settings, warm=warm, progress=False))
    figures: dict[str, Any] = {"zero": summary.zero.aiq}
    figures.update({n: f.aiq for n, f in summary.routers.items()})
    if detail:
        figures.update({f"{n}_per_seed": list(f.aiq_per_seed) for n, f in summary.routers.items()})
        figures.update({f"{n}_seconds": t for n, t in summary.seconds.items()})
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    sys.exit(main())
