"""Shared parts of the benchmark scripts: an aligned table on the terminal and JSON on request;
interleaved timing rounds and overhead percentiles."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np


def report(results: dict[str, float], json_path: Path | None) -> None:
    """Print ``name  value`` lines and, when asked, write the same figures as JSON."""
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.4f}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2))


def timed_rounds(
    arms: dict[str, Callable[[], object]], calls: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds of each arm's call, the arms interleaved round by round; ``warmup`` rounds first
    are not kept."""
    times: dict[str, list[float]] = {name: [] for name in arms}
    for n in range(warmup + calls):
        for name, call in arms.items():
            started = time.perf_counter()
            call()
            if n >= warmup:
                times[name].append(time.perf_counter() - started)
    return times


async def atimed_rounds(
    arms: dict[str, Callable[[], Awaitable[object]]], calls: int, warmup: int
) -> dict[str, list[float]]:
    """`timed_rounds` of async calls, awaited one at a time."""
    times: dict[str, list[float]] = {name: [] for name in arms}
    for n in range(warmup + calls):
        for name, call in arms.items():
            started = time.perf_counter()
            await call()
            if n >= warmup:
                times[name].append(time.perf_counter() - started)
    return times


def overhead_figures(
    prefix: str, arm: str, overhead: str, direct: list[float], via: list[float]
) -> dict[str, float]:
    """p50 / p99 (ms) of direct calls and of calls through ``arm``, the overhead as the
    difference of percentiles and as percentiles of the paired differences."""
    d, v = np.asarray(direct) * 1000.0, np.asarray(via) * 1000.0
    d50, d99 = np.percentile(d, [50, 99])
    v50, v99 = np.percentile(v, [50, 99])
    p50, p99 = np.percentile(v - d, [50, 99])
    return {
        f"{prefix}direct_p50_ms": float(d50),
        f"{prefix}direct_p99_ms": float(d99),
        f"{prefix}{arm}_p50_ms": float(v50),
        f"{prefix}{arm}_p99_ms": float(v99),
        f"{prefix}{overhead}_p50_ms": float(v50 - d50),
        f"{prefix}{overhead}_p99_ms": float(v99 - d99),
        f"{prefix}{overhead}_pairwise_p50_ms": float(p50),
        f"{prefix}{overhead}_pairwise_p99_ms": float(p99),
    }
