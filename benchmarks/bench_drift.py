"""Drift handling, whole: a model's quality halved, the same change undone later, no change.

Per scenario and seed (the replay's seeded orders, λ = 0, `thompson`), three streams: *drifted*
(the model's quality halved from START on), *restored* (halved from START to END only) and
*unchanged*; on each: no drift handling, the engine's (`DriftMonitor()`, or with ``--set``
overrides), the same with the probation settings it had before (``earlier``: every 20th
decision for 1,000 decisions, recovered models re-learned from the prior) and, for reference,
*informed* handling (told the change and the restoration the moment they happen, no probes:
what perfect detection would leave).

Figures: decisions routed to the model after the change until detection (per seed); false
resets (events that are not the injected change or its undoing) per 10,000 decisions; regret
against the per-prompt oracle from START on, per strategy, beside the best fixed model's over
that window and the share of no handling's excess over informed handling that remains; the
same window on the unchanged stream; the model's traffic share over the 300 decisions before
START and over the last 300 (restored stream), beside its share over those last 300 on the
unchanged stream; decisions from END until the probes saw the restoration.

Tuning sets (``--tuning``; the probation and recovery defaults were chosen on these only): the
synthetic workload (2,000 and 12,000 prompts, hashing embedder, frontier-xl), RouterBench's two
``*_train.csv`` (gpt-4-1106-preview) and ``mmlupro_train.csv`` alone (gemini-1.5-pro-002,
halved from half-way, restored at three quarters, as on the full stream). Measured, never tuned
on: the full MMLU-Pro stream (train + test, halved from 6,000, restored at 9,000); ``--only
routerbench`` re-measures RESULTS.md's RouterBench figures.

    python benchmarks/bench_drift.py --cache-dir /work/emb-cache --json out/bench_drift.json
    python benchmarks/bench_drift.py --tuning --cache-dir /work/emb-cache [--set probe_every=25]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from banditroute.drift import DriftEvent, DriftMonitor, Reaction
from banditroute.features import HashingEmbedder, MiniLMEmbedder
from banditroute.policies import LinearThompsonSampling
from banditroute.registry import ModelProfile, Registry, example_registry_path
from banditroute.replay.drift_injection import DriftSpec, inject
from banditroute.replay.loaders import load_logs
from banditroute.replay.metrics import regret_per_prompt
from banditroute.replay.prices import replay_models
from banditroute.replay.routers import Stream, run_engine
from banditroute.replay.runner import prepare
from banditroute.synthetic import make_workload

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SHARE_WINDOW = 300
VARIANTS = ("no_handling", "handling", "earlier", "informed")
EARLIER = {"probe_every": 20, "probation": 1000, "recovery": "reset"}  # the settings before


@dataclass(frozen=True)
class Scenario:
    """A stream and the two injected changes (drifted, restored); ``files`` empty: synthetic."""

    files: tuple[str, ...]
    registry: str | None
    drop: str
    restore: str
    synthetic_prompts: int = 0


RB, MP, HALF = "routerbench/", "mmlupro/", ":quality*0.5"
GPT4, GEMINI, XL = "gpt-4-1106-preview@", "gemini-1.5-pro-002@", "frontier-xl@"
RB_TRAIN, MP_TOML = (RB + "arc_challenge_train.csv", RB + "mbpp_train.csv"), MP + "models.toml"
RB_ALL = (*RB_TRAIN, RB + "arc_challenge_test.csv", RB + "mbpp_test.csv")
SCENARIOS = {
    "synthetic": Scenario((), None, XL + "1000" + HALF, XL + "700-1300" + HALF, 2000),
    "synthetic_long": Scenario((), None, XL + "6000" + HALF, XL + "6000-9000" + HALF, 12000),
    "routerbench_train": Scenario(RB_TRAIN, None, GPT4 + "630" + HALF, GPT4 + "420-840" + HALF),
    "mmlupro_train": Scenario((MP + "mmlupro_train.csv",), MP_TOML, GEMINI + "4250" + HALF,
                              GEMINI + "4250-6400" + HALF),
    "routerbench": Scenario(RB_ALL, None, GPT4 + "900" + HALF, GPT4 + "600-1200" + HALF),
    "mmlupro": Scenario((MP + "mmlupro_train.csv", MP + "mmlupro_test.csv"), MP_TOML,
                        GEMINI + "6000" + HALF, GEMINI + "6000-9000" + HALF),
}  # fmt: skip
TUNING = ("synthetic", "synthetic_long", "routerbench_train", "mmlupro_train")


class Informed(DriftMonitor):
    """Told each change as it happens (at the first outcome from START on, and from END on):
    the handling's reactions with no detection delay and no probes."""

    def __init__(self, spec: DriftSpec, recovery: str) -> None:
        super().__init__(recovery=recovery)  # type: ignore[arg-type]
        self.spec = spec

    def next_probe(self, feasible: list[str]) -> str | None:
        return None

    def outcome(self, model: str, step: int, *_: object, **__: object) -> list[Any]:
        m, start, end = self.spec.model, self.spec.start, self.spec.end
        if step == start + 1:
            return [(DriftEvent(m, "quality", step, 0.0, -0.1), Reaction(m, "reset", -0.1))]
        if end is not None and step == end + 1:
            action = "restore" if self.recovery == "restore" else "reset"
            return [(DriftEvent(m, "quality", step, 0.0, 0.1), Reaction(m, action, 0.1))]
        return []


@dataclass
class Figures:
    """One scenario's figures (lists: one per seed; regrets: means over seeds; per variant)."""

    drop: str
    restore: str
    decisions: int
    monitor: dict[str, Any]
    delay_decisions: dict[str, list[int | None]] = field(default_factory=dict)
    false_resets: dict[str, list[int]] = field(default_factory=dict)
    false_resets_per_10k: dict[str, float] = field(default_factory=dict)
    post_change_regret: dict[str, float] = field(default_factory=dict)
    best_fixed_regret: float = 0.0
    unchanged_regret: dict[str, float] = field(default_factory=dict)
    restored_regret: dict[str, float] = field(default_factory=dict)
    share_before: list[float] = field(default_factory=list)
    share_at_end: dict[str, list[float]] = field(default_factory=dict)
    unchanged_share_at_end: list[float] = field(default_factory=list)
    restoration_seen_after: dict[str, list[int | None]] = field(default_factory=dict)
    seconds: float = 0.0


def load(s: Scenario, cache: Path | None) -> tuple[Stream, list[ModelProfile]]:
    if not s.files:
        log, models = make_workload(s.synthetic_prompts, seed=0)
        return prepare(log, HashingEmbedder(384), "hashing384", cache, progress=False), models
    registry = Registry.load(DATA / s.registry if s.registry else example_registry_path())
    loaded = load_logs([DATA / f for f in s.files], registry)
    models, _ = replay_models(loaded, registry, explicit=s.registry is not None)
    by_id = {m.id: m for m in models}
    stream = prepare(loaded.log, MiniLMEmbedder(), "minilm-clip200-500", cache, progress=False)
    return stream, [by_id[m] for m in loaded.log.models]


def monitor(variant: str, spec: DriftSpec, overrides: dict[str, Any]) -> DriftMonitor | None:
    if variant == "handling":
        return DriftMonitor(**overrides)
    if variant == "earlier":
        return DriftMonitor(**{**overrides, **EARLIER})
    if variant == "informed":
        return Informed(spec, DriftMonitor(**overrides).recovery)
    return None


def changes(events: list[DriftEvent], spec: DriftSpec | None) -> tuple[int | None, int | None, int]:
    """Steps of the change's detection and of the recovery seen after END, and how many other
    events there were (all of them on the unchanged stream: ``spec`` None)."""
    if spec is None:
        return None, None, len(events)
    mine = [e for e in events if e.model == spec.model and e.signal in ("quality", "errors")]
    drops = [e.step for e in mine if e.step > spec.start and e.mean_after < e.mean_before]
    rises = [e.step for e in mine if e.mean_after > e.mean_before and e.step > (spec.end or 1e18)]
    hit, rise = (drops or [None])[0], (rises or [None])[0]
    return hit, rise, len(events) - (hit is not None) - (rise is not None)


class Run:
    """One scenario: every variant on the drifted, restored and unchanged stream, per seed."""

    def __init__(self, s: Scenario, stream: Stream, models: list[ModelProfile]) -> None:
        self.scenario, self.stream, self.models = s, stream, models
        self.n = stream.log.n_prompts
        self.drop, self.restore = DriftSpec.parse(s.drop), DriftSpec.parse(s.restore)
        self.j = stream.log.models.index(self.drop.model)

    def share(self, chosen: np.ndarray, positions: np.ndarray) -> float:
        return float(np.mean(chosen[positions] == self.j))

    def measure(
        self, variants: list[str], seeds: int, overrides: dict[str, Any], bar: tqdm
    ) -> Figures:
        started, n, log, j = time.perf_counter(), self.n, self.stream.log, self.j
        params = DriftMonitor(**overrides).get_params()
        f = Figures(self.scenario.drop, self.scenario.restore, n, params)
        raw: dict[str, list[float]] = {}
        fixed: list[float] = []
        streams = (("drifted", self.drop), ("restored", self.restore), ("unchanged", None))
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(n)
            last = order[n - SHARE_WINDOW :]
            for name, spec in streams:
                log_ = log if spec is None else inject(log, order, spec, seed)[0]
                target = Stream(log_, self.stream.embeddings)
                window = order[(spec or self.drop).start :]  # unchanged: the drifted window
                if name == "drifted":
                    q = log_.quality[window]
                    fixed.append(float(q.max(axis=1).sum() - q.sum(axis=0).max()))
                for v in variants:
                    if spec is None and v == "informed":
                        continue
                    events: list[DriftEvent] = []
                    mon = monitor(v, spec or self.drop, overrides)
                    policy = LinearThompsonSampling(seed=seed)
                    chosen = run_engine(
                        policy, self.models, target, order, 0.0, drift=mon, events=events
                    )
                    bar.update(1)
                    regret = regret_per_prompt(log_.quality, log_.cost, chosen, 0.0)
                    raw.setdefault(f"{name}:{v}", []).append(float(regret[window].sum()))
                    if name == "restored":
                        f.share_at_end.setdefault(v, []).append(self.share(chosen, last))
                        if v == "no_handling":
                            start = self.restore.start
                            before = order[max(0, start - SHARE_WINDOW) : start]
                            f.share_before.append(self.share(chosen, before))
                    if name == "unchanged" and v == "no_handling":
                        f.unchanged_share_at_end.append(self.share(chosen, last))
                    if mon is None or v == "informed":
                        continue
                    hit, rise, other = changes(events, spec)
                    f.false_resets.setdefault(v, []).append(other)
                    if name == "drifted":
                        routed = None if hit is None else chosen[order[self.drop.start : hit]] == j
                        f.delay_decisions.setdefault(v, []).append(
                            None if routed is None else int(routed.sum())
                        )
                    if name == "restored":
                        seen = None if rise is None else rise - int(self.restore.end or 0)
                        f.restoration_seen_after.setdefault(v, []).append(seen)
        mean = {k: float(np.mean(v)) for k, v in raw.items()}
        f.post_change_regret = {v: mean[f"drifted:{v}"] for v in variants}
        f.restored_regret = {v: mean[f"restored:{v}"] for v in variants}
        f.unchanged_regret = {v: mean[f"unchanged:{v}"] for v in variants if v != "informed"}
        f.best_fixed_regret = float(np.mean(fixed))
        f.false_resets_per_10k = {
            v: 1e4 * sum(c) / (3 * n * seeds) for v, c in f.false_resets.items()
        }
        f.seconds = time.perf_counter() - started
        return f


def _cells(f: Figures) -> list[tuple[str, str]]:
    """(figure, value) rows of one scenario."""
    nan, regret, handled = float("nan"), f.post_change_regret, list(f.delay_decisions)
    none, informed = regret.get("no_handling", nan), regret.get("informed", nan)
    unchanged_none = f.unchanged_regret.get("no_handling", nan)

    def per(d: dict[str, float], fmt: str = "{:,.1f}") -> str:
        return "; ".join(f"{v}: {fmt.format(x)}" for v, x in d.items())

    def each(d: dict[str, list[Any]], fmt: str = "{}") -> str:
        return "; ".join(f"{v}: " + " / ".join(fmt.format(x) for x in xs) for v, xs in d.items())

    ratios = {v: x / none for v, x in regret.items() if v != "no_handling"}
    left = {v: (regret[v] - informed) / (none - informed) for v in handled}
    unchanged = {v: f.unchanged_regret[v] / unchanged_none for v in handled}
    return [
        ("decisions to detection", each(f.delay_decisions)),
        ("false resets per 10k decisions", per(f.false_resets_per_10k, "{:.2f}")),
        ("post-change regret", per(regret)),
        ("ratio to no handling", per(ratios, "{:.2f}×")),
        ("best fixed model over that window", f"{f.best_fixed_regret:,.1f}"),
        ("excess over informed, share of no handling's left", per(left, "{:.2f}")),
        ("unchanged stream, ratio to no handling", per(unchanged, "{:.3f}×")),
        ("restored stream, regret from START", per(f.restored_regret)),
        ("restored: share before the change", " / ".join(f"{x:.2f}" for x in f.share_before)),
        ("restored: share at the end", each(f.share_at_end, "{:.2f}")),
        (
            "unchanged stream: share at the end",
            " / ".join(f"{x:.2f}" for x in f.unchanged_share_at_end),
        ),
        ("restoration seen after (decisions)", each(f.restoration_seen_after)),
        ("seconds", f"{f.seconds:.0f}"),
    ]


def markdown(results: dict[str, Figures]) -> str:
    out = []
    for name, f in results.items():
        out += [f"\n{name}: drifted {f.drop}, restored {f.restore}, {f.decisions} decisions", ""]
        out += ["| figure | value |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in _cells(f)]
    return "\n".join(out)


def parse_set(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``, the value as JSON when it is (50, 0.001, null), else as text."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning", action="store_true", help="the tuning sets, not MMLU-Pro")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    names = args.only or (TUNING if args.tuning else ("mmlupro",))
    overrides = dict(parse_set(s) for s in args.set)
    if any(SCENARIOS[k].files for k in names) and not DATA.is_dir():
        print(f"shared datasets not found at {DATA}", file=sys.stderr)
        return 1
    results: dict[str, Figures] = {}
    for name in names:
        run = Run(SCENARIOS[name], *load(SCENARIOS[name], args.cache_dir))
        runs = args.seeds * (3 * len(args.variants) - ("informed" in args.variants))
        with tqdm(total=runs, desc=name, unit="run") as bar:
            results[name] = run.measure(args.variants, args.seeds, overrides, bar)
    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({k: asdict(v) for k, v in results.items()}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
