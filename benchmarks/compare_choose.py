"""choose() p50 of this tree against another checkout of banditroute, measured in one run.

Usage::

    git worktree add /tmp/base <commit>        # the version to compare with
    python benchmarks/compare_choose.py /tmp/base [--rounds 4] [--calls 3000] [--json OUT]

Each round runs `bench_choose.bench_engine` (11 models, given 384-dim embeddings, so no
embedder cost) in a fresh process for the other tree, then for this one, alternating, so both
see the same machine load; reports each p50 and the ratio new / old of their medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench_output import report

HERE = Path(__file__).resolve().parent
SNIPPET = (
    "import json, sys; sys.path.insert(0, {bench!r}); from bench_choose import bench_engine; "
    "print(json.dumps(bench_engine({calls})))"
)


def measure(tree: Path, calls: int) -> float:
    code = SNIPPET.format(bench=str(HERE), calls=calls)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env={"PYTHONPATH": str(tree)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["choose_p50_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path, help="another checkout of the repository")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    old, new = [], []
    for _ in range(args.rounds):
        old.append(measure(args.baseline.resolve(), args.calls))
        new.append(measure(HERE.parent, args.calls))
    figures = {
        "choose_p50_ms_baseline": statistics.median(old),
        "choose_p50_ms_this_tree": statistics.median(new),
        "ratio_this_over_baseline": statistics.median(new) / statistics.median(old),
        "rounds": float(args.rounds),
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
