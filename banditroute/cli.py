"""The ``banditroute`` command.

>>> from banditroute.cli import build_parser
>>> build_parser().parse_args(["demo", "--prompts", "100"]).prompts
100
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BanditRouteError

if TYPE_CHECKING:
    from .features import Embedder

__all__ = ["build_parser", "main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .features import HashingEmbedder, MiniLMEmbedder

    embedder = HashingEmbedder() if args.embedder == "hashing" else MiniLMEmbedder()
    report = run_demo(
        n_prompts=args.prompts,
        seed=args.seed,
        embedder=embedder,
        cost_weight=args.cost_weight,
        progress=not args.quiet,
    )
    print(report.to_markdown())
    return 0


def _write_json(path: Path, figures: dict[str, Any]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    print(f"wrote {path}")


def _embedder(name: str) -> tuple[Embedder, str]:
    from .features import HashingEmbedder, MiniLMEmbedder

    if name == "hashing":
        return HashingEmbedder(384), "hashing384"
    return MiniLMEmbedder(), "minilm-clip200-500"


def _replay(args: argparse.Namespace) -> int:
    from .registry import Registry, example_registry_path
    from .replay.loaders import load_logs
    from .replay.report import plot_frontiers, summarize
    from .replay.runner import ReplaySettings, prepare, replay
    from .synthetic import make_workload

    registry = Registry.load(args.registry or example_registry_path())
    dropped = 0
    if args.data:
        loaded = load_logs(args.data, registry)
        log, models, dropped = loaded.log, list(registry), loaded.dropped_missing_quality
    else:
        log, models = make_workload(n_prompts=args.synthetic_prompts, seed=0)
        print(f"no DATA given: replaying the synthetic workload ({log.n_prompts} prompts)")
    embedder, name = _embedder(args.embedder)
    progress = not args.quiet
    test = prepare(log, embedder, name, args.cache_dir, progress)
    warm = None
    if args.warm_start:
        warm_loaded = load_logs(args.warm_start, registry)
        dropped += warm_loaded.dropped_missing_quality
        warm = prepare(warm_loaded.log, embedder, name, args.cache_dir, progress)
    settings = ReplaySettings(
        lambdas=tuple(args.lambdas) if args.lambdas else ReplaySettings().lambdas,
        seeds=args.seeds,
        policies=tuple(args.policies) if args.policies else ReplaySettings().policies,
    )
    store = None
    if args.store is not None:
        from .store import DecisionStore

        store = DecisionStore(args.store, embedder.dim, embedder=name, background=False)
    result = replay(test, models, settings, warm=warm, progress=progress, store=store)
    if store is not None:
        store.close()
        print(f"logged the first run of {settings.policies[0]} into {args.store}")
    summary = summarize(result, dropped_missing_quality=dropped)
    drift = None
    if args.drift:
        from .replay.drift_injection import DriftSpec, drift_report

        spec = DriftSpec.parse(args.drift)
        weight = settings.lambdas[0] / result.cost_scale
        by_id = {m.id: m for m in models}
        drift = drift_report(test, [by_id[m] for m in log.models], spec, settings.seeds, weight)
    summary = replace(
        summary,
        drift=drift,
        warm_start=tuple(str(p) for p in args.warm_start or []),
        data=tuple(str(p) for p in args.data) or ("synthetic",),
        embedder=name,
    )
    print(summary.to_markdown())
    if args.json:
        _write_json(args.json, summary.to_json())
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_frontiers(summary, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation.study import load_judged_log, run_study

    embedder, name = _embedder(args.embedder)
    study = run_study(
        load_judged_log(args.data),
        None if args.fit is None else load_judged_log(args.fit),
        embedder=embedder,
        embedder_name=name,
        cache_dir=args.cache_dir,
        penalty=args.penalty,
        progress=not args.quiet,
    )
    study = replace(
        study,
        data=str(args.data),
        fit=None if study.fit is None else replace(study.fit, file=str(args.fit)),
    )
    print(study.summary())
    if args.json:
        _write_json(args.json, study.to_json())
    return 0


def _ask(args: argparse.Namespace) -> int:
    from .store import DecisionStore, ask

    embedder, name = _embedder(args.embedder)
    store = DecisionStore(args.store, embedder.dim, embedder=name, background=False)
    print(ask(store, args.question, embedder, evidence=args.evidence))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="banditroute", description="Route each prompt to the LLM that is best for it."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="route a seeded synthetic workload and show what was learned"
    )
    demo.add_argument("--prompts", type=int, default=3000, help="stream length (default 3000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    demo.add_argument(
        "--cost-weight", type=float, default=10.0, help="λ: quality points per USD (default 10)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)

    rp = sub.add_parser("replay", help="replay logged workloads through routers (AIQ, regret)")
    rp.add_argument(
        "data",
        nargs="*",
        type=Path,
        help="log files (.csv/.parquet/.pkl, RouterBench wide or long); "
        "none: the synthetic workload",
    )
    rp.add_argument(
        "--warm-start",
        nargs="+",
        type=Path,
        metavar="TRAIN",
        help="full-information logs to learn from before routing DATA",
    )
    rp.add_argument(
        "--policies",
        nargs="+",
        metavar="NAME",
        help="thompson epsilon_greedy linucb random mabwiser_lints knn (default: all)",
    )
    rp.add_argument(
        "--lambdas",
        nargs="+",
        type=float,
        metavar="L",
        help="willingness-to-pay grid (reward = quality − λ·cost/cost_scale)",
    )
    rp.add_argument("--seeds", type=int, default=3)
    rp.add_argument("--registry", type=Path, help="models and prices (default: RouterBench's 11)")
    rp.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    rp.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".banditroute-cache"),
        help="where prompt embeddings are kept between runs",
    )
    rp.add_argument("--synthetic-prompts", type=int, default=2000)
    rp.add_argument(
        "--drift",
        metavar="SPEC",
        help="inject a degradation, e.g. 'gpt-4-1106-preview@900:quality*0.5' "
        "(MODEL@START[-END]:quality*F | quality=OTHER | latency*F | errors=RATE); "
        "measured at the first λ for no handling, detect-and-reset and discounting",
    )
    rp.add_argument(
        "--store", type=Path, help="log the first policy's first run into this LanceDB folder"
    )
    rp.add_argument("--json", type=Path, help="write the full figures here")
    rp.add_argument("--plot", type=Path, help="write the cost–quality frontier plot here (.png)")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    rp.set_defaults(run=_replay)

    ev = sub.add_parser("evaluate", help="agreement of the response evaluator with judge labels")
    ev.add_argument("data", type=Path, help="long-format log: prompt, response, quality (0..1)")
    ev.add_argument(
        "--fit", type=Path, help="labelled log to fit on (its rows on DATA's prompts are dropped)"
    )
    ev.add_argument("--penalty", type=float, default=1.0, help="ridge penalty of the fit")
    ev.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    ev.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    ev.add_argument("--json", type=Path, help="write the figures here")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(run=_evaluate)

    ak = sub.add_parser("ask", help="ask the decision log a question, e.g. 'best model for code?'")
    ak.add_argument("question")
    ak.add_argument("--store", type=Path, required=True, help="the LanceDB folder of the log")
    ak.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    ak.add_argument("--evidence", type=int, default=300, help="nearest decisions used")
    ak.set_defaults(run=_ask)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; library errors become a one-line message and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BanditRouteError as exc:
        print(f"banditroute: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
