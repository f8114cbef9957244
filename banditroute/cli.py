"""The ``banditroute`` command.

Whatever a user can fix (a bad flag value, a missing, empty or unreadable file, a column that
is not numeric, a decision log that does not exist, an unwritable output path) ends with one
line on stderr, ``banditroute: error: ...``, and exit status 2; never a traceback.

>>> from banditroute.cli import build_parser, main
>>> build_parser().parse_args(["demo", "--prompts", "100"]).prompts
100
>>> main(["replay", "--seeds", "0"])
2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .cli_checks import (
    EMBEDDERS,
    Parser,
    UsageError,
    command_embedder,
    fail,
    output_path,
    real,
    whole,
)
from .errors import BanditRouteError

__all__ = ["build_parser", "main"]

MAX_PROMPTS = 1_000_000  #: longest synthetic stream the demo and replay accept
_EMBEDDER_HELP = "prompt encoder (default static: distilled from MiniLM, cached; minilm: MiniLM)"


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    embedder, _ = command_embedder(args.embedder)
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


def _replay(args: argparse.Namespace) -> int:
    from .registry import Registry, example_registry_path
    from .replay.drift_injection import DriftSpec, drift_report
    from .replay.loaders import load_logs
    from .replay.prices import replay_models
    from .replay.report import plot_frontiers, summarize
    from .replay.runner import ReplaySettings, prepare, replay
    from .synthetic import make_workload

    settings = ReplaySettings(  # checked before any data is read
        lambdas=tuple(args.lambdas) if args.lambdas else ReplaySettings().lambdas,
        seeds=args.seeds,
        policies=tuple(args.policies) if args.policies else ReplaySettings().policies,
    )
    spec = DriftSpec.parse(args.drift) if args.drift else None
    output_path(args.json, "--json")
    output_path(args.plot, "--plot")
    registry = Registry.load(args.registry or example_registry_path())
    dropped = 0
    if args.data:
        loaded = load_logs(args.data, registry)
        log, dropped = loaded.log, loaded.dropped_missing_quality
        models, note = replay_models(loaded, registry, explicit=args.registry is not None)
        if note:
            print(note)
    else:
        log, models = make_workload(n_prompts=args.synthetic_prompts, seed=0)
        print(f"no DATA given: replaying the synthetic workload ({log.n_prompts} prompts)")
    embedder, name = command_embedder(args.embedder, args.store)
    store = None
    if args.store is not None:
        from .store import DecisionStore

        store = DecisionStore(args.store, embedder.dim, embedder=name, background=False)
    progress = not args.quiet
    test = prepare(log, embedder, name, args.cache_dir, progress)
    warm = None
    if args.warm_start:
        warm_loaded = load_logs(args.warm_start, registry)
        dropped += warm_loaded.dropped_missing_quality
        warm = prepare(warm_loaded.log, embedder, name, args.cache_dir, progress)
    result = replay(test, models, settings, warm=warm, progress=progress, store=store)
    if store is not None:
        store.close()
        print(f"logged the first run of {settings.policies[0]} into {args.store}")
    summary = summarize(result, dropped_missing_quality=dropped)
    drift = None
    if spec is not None:
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

    output_path(args.json, "--json")
    data = load_judged_log(args.data)
    fit = None if args.fit is None else load_judged_log(args.fit)
    embedder, name = command_embedder(args.embedder)
    study = run_study(
        data,
        fit,
        embedder=embedder,
        embedder_name=name,
        cache_dir=args.cache_dir,
        penalty=args.penalty,
        progress=not args.quiet,
        text_signal=not args.no_text_signal,
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

    embedder, name = command_embedder(args.embedder, args.store)
    store = DecisionStore(args.store, embedder.dim, embedder=name, read_only=True)
    print(ask(store, args.question, embedder, evidence=args.evidence))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serve.run import run
    from .serve.settings import ServeSettings

    settings = ServeSettings.from_config(
        args.config,
        host=args.host,
        port=args.port,
        store=None if args.store is None else str(args.store),
        state=None if args.state is None else str(args.state),
        redis=args.redis,
        workers=args.workers,
        embedder=args.embedder,
    )
    run(settings)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="banditroute", description="Route each prompt to the LLM that is best for it."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="route a seeded synthetic workload and show what was learned"
    )
    demo.add_argument(
        "--prompts", type=whole(0, MAX_PROMPTS), default=3000, help="stream length (default 3000)"
    )
    demo.add_argument("--seed", type=whole(0, 2**32 - 1), default=0)
    demo.add_argument("--embedder", choices=EMBEDDERS, default="static", help=_EMBEDDER_HELP)
    demo.add_argument(
        "--cost-weight",
        type=real(0, 1e9),
        default=10.0,
        help="λ: quality points per USD (default 10)",
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
        help="thompson epsilon_greedy linucb random mabwiser_lints knn (the default), "
        "paretobandit paretobandit_default",
    )
    rp.add_argument(
        "--lambdas",
        nargs="+",
        type=real(0, 1e12),
        metavar="L",
        help="willingness-to-pay grid (reward = quality − λ·cost/cost_scale)",
    )
    rp.add_argument("--seeds", type=whole(1, 1000), default=3)
    rp.add_argument(
        "--registry",
        type=Path,
        help="models and prices (default: RouterBench's 11; models it does not list are "
        "priced from the log's costs)",
    )
    rp.add_argument("--embedder", choices=EMBEDDERS, default="static", help=_EMBEDDER_HELP)
    rp.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".banditroute-cache"),
        help="where prompt embeddings are kept between runs",
    )
    rp.add_argument("--synthetic-prompts", type=whole(1, MAX_PROMPTS), default=2000)
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
    ev.add_argument("--penalty", type=real(0, 1e12), default=1.0, help="ridge penalty of the fit")
    ev.add_argument(
        "--no-text-signal",
        action="store_true",
        help="fit without the learned TF-IDF text signal (the evaluator before it)",
    )
    ev.add_argument("--embedder", choices=EMBEDDERS, default="static", help=_EMBEDDER_HELP)
    ev.add_argument("--cache-dir", type=Path, default=Path(".banditroute-cache"))
    ev.add_argument("--json", type=Path, help="write the figures here")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(run=_evaluate)

    ak = sub.add_parser("ask", help="ask the decision log a question, e.g. 'best model for code?'")
    ak.add_argument("question")
    ak.add_argument("--store", type=Path, required=True, help="the LanceDB folder of the log")
    ak.add_argument("--embedder", choices=EMBEDDERS, help="default: the log's own encoder")
    ak.add_argument("--evidence", type=int, default=300, help="nearest decisions used")
    ak.set_defaults(run=_ask)

    sv = sub.add_parser("serve", help="an OpenAI-compatible routing service (model='auto')")
    sv.add_argument("--config", type=Path, required=True, help="models, gateway and [serve] file")
    sv.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=whole(0, 65535), help="default 8000")
    sv.add_argument("--store", type=Path, help="LanceDB folder of the decision log")
    sv.add_argument(
        "--state", type=Path, help="engine state folder: loaded at start, saved at exit"
    )
    sv.add_argument("--redis", metavar="URL", help="share learning and guards between replicas")
    sv.add_argument("--workers", type=whole(1, 256), help="worker processes (default 1)")
    sv.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        help="default: the encoder of the saved --state or --store, else static",
    )
    sv.set_defaults(run=_serve)

    from .ope.command import add_ope_command

    add_ope_command(sub)

    from .news.command import add_news_command

    add_news_command(sub)

    from .report.command import add_report_command

    add_report_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; whatever a user can fix becomes a one-line message and exit status 2
    (argparse's own refusals included); Ctrl-C exits with 130."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except UsageError as exc:
        return fail(str(exc), prefix=False)
    except BanditRouteError as exc:
        return fail(str(exc))
    except OSError as exc:  # a path that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}")
    except ModuleNotFoundError as exc:
        return fail(f"a package this command needs is not installed ({exc})")
    except KeyboardInterrupt:
        print("banditroute: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
