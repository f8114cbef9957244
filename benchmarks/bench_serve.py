"""`banditroute serve`: overhead and requests/s against LiteLLM's proxy, and replicas on Redis.

    python benchmarks/bench_serve.py [--json out/bench_serve.json] [--quick] [--only speed|replicas]

Two parts, each with its protocol in its own module's docstring:

* `serve_speed` — ``serve_overhead_p50_ms`` (serve minus a direct call to the same fake
  provider, one client, embedding excluded) and ``serve_rps`` / ``litellm_proxy_rps`` (same
  client load, same fake provider, same run).
* `serve_replicas` — ``replicas_aiq_gap`` (RouterBench through HTTP with bandit feedback, two
  replicas sharing Redis vs one process), ``kill_lost_feedback`` (kill -9 of one of two replicas
  during a run with feedback), ``redis_restart_errors`` (Redis restarted mid-run) and the spend
  of two replicas against one hard budget.

Everything runs on 127.0.0.1: real ``banditroute serve`` processes on uvicorn, a real
``redis-server``, the fake provider of ``tests/fake_provider/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench_output import report  # type: ignore[import-not-found]

TARGETS = (
    ("serve_overhead_p50_ms", "<=", 2.0),
    ("serve_rps_ratio", ">=", 1.0),
    ("replicas_aiq_gap_abs", "<=", 0.005),
    ("kill_lost_feedback", "<=", 0.0),
    ("redis_restart_errors", "<=", 0.0),
    ("budget_overshoot_request_costs", "<=", 2.0),  # one request per replica, 2 replicas
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--only", choices=("speed", "replicas"), default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, float] = {}
    if args.only in (None, "speed"):
        import serve_speed  # type: ignore[import-not-found]

        results |= serve_speed.run(args.quick)
    if args.only in (None, "replicas"):
        import serve_replicas  # type: ignore[import-not-found]

        results |= serve_replicas.run(args.quick)
    if "serve_rps" in results and results.get("litellm_proxy_rps"):
        results.setdefault("serve_rps_ratio", results["serve_rps"] / results["litellm_proxy_rps"])
    if "replicas_aiq_gap" in results:
        results.setdefault("replicas_aiq_gap_abs", abs(results["replicas_aiq_gap"]))
    results["run_time_s"] = time.perf_counter() - started
    report(results, args.json)
    for name, sense, bound in TARGETS:
        if name not in results:
            print(f"target {name} {sense} {bound:g}: not measured in this run")
            continue
        value = results[name]
        met = value <= bound if sense == "<=" else value >= bound
        print(f"target {name} {sense} {bound:g}: {'met' if met else 'NOT met'} ({value:.4g})")


if __name__ == "__main__":
    main()
