"""The ``banditroute`` command.

>>> from banditroute.cli import build_parser
>>> build_parser().parse_args(["demo", "--prompts", "100"]).prompts
100
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import BanditRouteError

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
