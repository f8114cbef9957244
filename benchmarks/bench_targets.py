"""Issue #14's routing-quality targets in one command: every stream replayed with the default
encoder and routers, each peer in the same run, and a table of target against measured AIQ.

Usage::

    python benchmarks/bench_targets.py --out out/targets [--only mmlupro_cold ...] \
        [--seeds 3] [--cache-dir DIR] [--data ../shared/datasets]

Each stream runs twice, same seeds and orders: our routers with the default encoder
(``OUT/<stream>.json``), and the peers on MiniLM vectors (``OUT/<stream>.minilm.json``), so
ParetoBandit gets the features it is built for (MiniLM → its PCA-25; its shipped priors live
there) and kNN, LinUCB and ε-greedy are compared at the better of the two encoders. A target's
peer figure is the best of the runs holding that router. Each command is printed, so any row can
be re-run alone; a JSON already in ``--out`` is read, not re-run (delete it to re-measure).
Nothing here asserts: the figures go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """``router`` ≥ ``peer`` + ``margin`` in mean AIQ over the seeds."""

    router: str
    peer: str
    margin: float = 0.0

    def gap(self, aiq: dict[str, float]) -> float | None:
        if self.router not in aiq or self.peer not in aiq:
            return None
        return aiq[self.router] - aiq[self.peer] - self.margin

    def __str__(self) -> str:
        plus = f" + {self.margin:g}" if self.margin else ""
        return f"{self.router} ≥ {self.peer}{plus}"


@dataclass(frozen=True)
class Stream:
    """One replay of the issue: its files, registry, warm-start files, routers and targets."""

    name: str
    data: tuple[str, ...]
    routers: tuple[str, ...]
    targets: tuple[Target, ...]
    registry: str | None = None
    warm: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()  #: replayed on MiniLM vectors as well

    def command(
        self, root: Path, out: Path, seeds: int, cache: Path | None, peers: bool
    ) -> list[str]:
        """The replay of our routers (default encoder), or of the peers (MiniLM)."""
        cmd = ["banditroute", "replay", *(str(root / d) for d in self.data)]
        if self.warm:
            cmd += ["--warm-start", *(str(root / w) for w in self.warm)]
        if self.registry:
            cmd += ["--registry", str(root / self.registry)]
        routers = self.peers if peers else self.routers
        cmd += ["--policies", *routers, "--seeds", str(seeds), "--quiet"]
        if peers:
            cmd += ["--embedder", "minilm"]
        if cache is not None:
            cmd += ["--cache-dir", str(cache)]
        return [*cmd, "--json", str(out / f"{self.name}{'.minilm' if peers else ''}.json")]


RB_TEST = tuple(f"routerbench/{t}_test.csv" for t in ("arc_challenge", "mbpp"))
RB_TRAIN = tuple(f"routerbench/{t}_train.csv" for t in ("arc_challenge", "mbpp"))
MMLU = "mmlupro/models.toml"
PB = "paretobandit/models.toml"
ONLINE = ("thompson", "thompson_common", "linucb", "epsilon_greedy", "paretobandit")
OURS_ONLINE = ("thompson", "thompson_evidence", "thompson_common", "linucb", "epsilon_greedy")
#: the opt-in policy whose prior precision is learned (`EvidenceThompson`), held to the same targets
OPT_IN = "thompson_evidence"


def also_opt_in(*targets: Target) -> tuple[Target, ...]:
    """``targets``, then the same targets for the opt-in policy."""
    return (*targets, *(Target(OPT_IN, t.peer, t.margin) for t in targets))


STREAMS = (
    Stream(
        "mmlupro_cold",
        ("mmlupro/mmlupro_train.csv", "mmlupro/mmlupro_test.csv"),
        OURS_ONLINE,
        also_opt_in(
            Target("thompson", "zero", 0.01),
            Target("thompson", "paretobandit", 0.01),
            *(Target("thompson", peer) for peer in ONLINE[1:-1]),  # paretobandit: above
        ),
        registry=MMLU,
        peers=("linucb", "epsilon_greedy", "paretobandit", "paretobandit_default"),
    ),
    Stream(
        "routerbench_cold",
        tuple(sorted((*RB_TRAIN, *RB_TEST))),  # as the shell expands routerbench/*.csv
        ("thompson", OPT_IN, "thompson_common"),
        also_opt_in(Target("thompson", "zero")),
        peers=("paretobandit",),
    ),
    Stream(
        "routerbench_warm",
        RB_TEST,
        ("thompson", OPT_IN, "thompson_common", "knn"),
        also_opt_in(Target("thompson", "knn", 0.01)),
        warm=RB_TRAIN,
        peers=("knn", "paretobandit"),
    ),
    Stream(
        "mmlupro_warm",
        ("mmlupro/mmlupro_test.csv",),
        ("thompson", OPT_IN, "thompson_common", "knn"),
        also_opt_in(Target("thompson", "knn", 0.01)),
        registry=MMLU,
        warm=("mmlupro/mmlupro_train.csv",),
        peers=("knn", "paretobandit"),
    ),
    Stream(
        "paretobandit_cold",
        ("paretobandit/paretobandit_val.csv", "paretobandit/paretobandit_test.csv"),
        ("thompson", OPT_IN, "thompson_common"),
        also_opt_in(Target("thompson", "zero"), Target("thompson", "paretobandit", 0.01)),
        registry=PB,
        peers=("paretobandit", "paretobandit_default"),
    ),
    Stream(
        "paretobandit_warm",
        ("paretobandit/paretobandit_test.csv",),
        ("thompson", OPT_IN, "thompson_common", "knn"),
        also_opt_in(Target("thompson", "paretobandit", 0.01), Target("thompson", "knn")),
        registry=PB,
        warm=("paretobandit/paretobandit_val.csv",),
        peers=("paretobandit", "knn"),
    ),
)


def run(cmd: list[str]) -> dict[str, float]:
    """Mean AIQ per router of one replay (zero and oracle included), run unless its JSON is
    there."""
    path = Path(cmd[-1])
    print("$", shlex.join(cmd), flush=True)
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "banditroute.cli", *cmd[1:]], check=True)
        print(f"  {path.name}: {time.perf_counter() - started:.0f} s", flush=True)
    policies = json.loads(path.read_text())["policies"]
    return {name: float(figures["aiq"]) for name, figures in policies.items()}


def measure(stream: Stream, args: argparse.Namespace) -> dict[str, float]:
    """Each router's AIQ: ours with the default encoder; a peer at its better encoder."""
    aiq = run(stream.command(args.data, args.out, args.seeds, args.cache_dir, peers=False))
    if stream.peers:
        minilm = run(stream.command(args.data, args.out, args.seeds, args.cache_dir, peers=True))
        for name, value in minilm.items():
            if name in stream.peers:
                aiq[name] = max(value, aiq.get(name, value))
                aiq[f"{name} (minilm)"] = value
    return aiq


def table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| stream | target | measured | gap | met? |", "|---|---|---|---:|---|"]
    for stream in STREAMS:
        aiq = results.get(stream.name)
        if aiq is None:
            continue
        for target in stream.targets:
            gap = target.gap(aiq)
            if gap is None:
                lines.append(f"| {stream.name} | {target} | (router missing) | | |")
                continue
            measured = f"{aiq[target.router]:.4f} vs {aiq[target.peer]:.4f}"
            met = "met" if gap >= 0 else "**NOT met**"
            lines.append(f"| {stream.name} | {target} | {measured} | {gap:+.4f} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/targets"))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STREAMS])
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no datasets at {args.data}: pass --data", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        s.name: measure(s, args) for s in STREAMS if args.only is None or s.name in args.only
    }
    for name, aiq in results.items():
        print(name, " ".join(f"{r}={v:.4f}" for r, v in sorted(aiq.items(), key=lambda kv: -kv[1])))
    print(table(results))
    (args.out / "targets.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
