"""Gateway: per-call overhead, throughput against LiteLLM, and failover under injected faults.

    python benchmarks/bench_gateway.py [--json out/bench_gateway.json] [--calls 3000]

Everything runs against ``tests/fake_provider.FakeProvider`` (a real uvicorn HTTP server on
127.0.0.1), started in a child process so the client being measured has this process (and its
GIL) to itself; the machine's other core serves. No other network: a guard refuses every name
lookup of a host other than the loopback, and LiteLLM is told to use its bundled cost map.

Engines: three models (``m1``..``m3``, or ``flaky``/``backup1``/``backup2``) on the fake's
OpenAI route, ``HashingEmbedder(64)``, seed 0. The overhead and throughput calls repeat one
prompt, whose embedding the engine's featurizer caches after the first call: the embedding is
excluded, as the issue asks; choosing (context, policy, gate) is included.

Overhead (fake latency 0): after 300 warm-up rounds, ``--calls`` rounds of, in this order, a
direct call (``httpx.Client().post`` of a one-message chat body, JSON parsed, text taken), then
``Gateway.complete`` with ``scorer=None`` (the caller scores later), then ``complete`` with a
constant scorer (the engine learns on every call). The gateway uses its own default clients.
``overhead_p50_ms`` / ``overhead_p99_ms`` are DIFFERENCES OF PERCENTILES (p50 of the gateway's
latencies minus p50 of the direct ones; the same at p99): the quantile shift that a user sees.
The per-pair figures (percentiles of gateway_i - direct_i over adjacent calls) are reported too;
their p99 mixes the jitter of two calls, so it is the more pessimistic. ``async_*``: the same
with ``httpx.AsyncClient`` and ``await Gateway.acomplete`` on one event loop, one call at a time.

Throughput (fake latency 50 ms, so both sides are I/O-bound): 1,000 concurrent calls
(``asyncio.gather``) of ``Gateway.acomplete`` (``scorer=None``) and of LiteLLM's
``Router.acompletion`` over a model group of the same three deployments on the fake's OpenAI
route; 3 repetitions, each arm once per repetition in a rotating order, after one untimed burst
of 100 per arm; median rps (successful calls / wall time) reported. Client arrangements:

* as shipped (``throughput_rps``, ``litellm_throughput_rps``, ``throughput_ratio``): nothing
  given to either; the gateway makes its one async client (`gateway.async_pool`: httpx over
  ``httpx_aiohttp.AiohttpTransport``, 2,000 connections); LiteLLM makes its own client, an
  ``httpx.AsyncClient`` over its default aiohttp-backed transport.
* same client (``throughput_same_client_rps``, ``throughput_same_client_ratio``, against the
  same LiteLLM figure): the gateway is given LiteLLM's own default transport,
  ``Gateway(async_transport=AsyncHTTPHandler.create_aiohttp_transport())``, so both run over the
  same HTTP client stack and only their own work differs.

Until 2026-11-23 the gateway shipped with httpx's own async pool (httpcore): at 1,000 concurrent
calls it re-scans its connections and queue on every event and reached 78-110 rps against
LiteLLM's 297-352 in the same runs (ratio 0.37), and at 50 requests in flight with 0.2 s attempt
timeouts its delays tripped the breakers of healthy models (success rate 0.05, below). That is
why the default became the aiohttp-backed pool.

Faults: ``flaky`` (preferred: the engine's policy is ``FixedModel("flaky")``, so it is chosen
whenever the guards allow it) fails 30 % of calls with 503, 10 % by hanging 1 s, 10 % with 429
and ``Retry-After: 0.05`` (the fake's seeded ``FaultRates``); ``backup1`` and ``backup2`` are
healthy; every model answers in 20 ms and has ``Connection(timeout_s=0.2)``. The gateway keeps
its defaults (retry: 2 attempts per model, 0.2 s back-off with jitter; breaker: 5 failures in
60 s) except the breaker's cooldown, 2 s instead of 30 s (doubling after a failed probe up to
16 s), so that the run and the re-admission take seconds, not minutes. After 20 untimed warm-up
calls without faults, 10,000 requests (``acomplete``, a distinct prompt each, a constant scorer,
``timeout_s=2``) run with 20 in flight (a pool of 20 workers); each records success, elapsed
time (against its 2 s deadline) and the model that served. ``cooldown_after_failures``: the
failures of ``flaky`` recorded by the breaker until it first opened;
``failures_in_flight_at_first_open``: failures of calls already in flight then, recorded during
that first cooldown (they cannot be refused any more). Re-admission: once the run is over (and
the breaker is open: requests are sent until it is), the faults are removed, then one request
goes every 50 ms until ``flaky`` serves one: ``readmitted_after_s`` since the recovery,
``readmitted_after_requests``, and ``readmit_cooldown_left_s`` (the cooldown left at the
recovery, which bounds it).

Why 20 in flight, and the two extra runs: with httpx's own pool (httpcore), at 30 or more
requests in flight against this server (which answers in 20 ms) a few percent of calls were
delayed by 0.15-0.9 s (measured with bare httpx, no gateway: p99 ~0.4 s at 30 in flight, against
~33 ms for aiohttp on the same server; cf. encode/httpx#3215). With 0.2 s attempt timeouts,
those delays looked like timeouts of the HEALTHY models and the run collapsed. Two extra runs of
2,000 requests with 50 in flight check that this is gone: ``fault_success_rate_50_in_flight``
(the default pool) and ``fault_success_rate_50_in_flight_same_client`` (LiteLLM's transport).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from bench_output import (  # type: ignore[import-not-found]
    atimed_rounds,
    overhead_figures,
    report,
    timed_rounds,
)
from gateway_scenarios import (  # type: ignore[import-not-found]
    OfflineGuard,
    RemoteFake,
    engine_for,
    fault_figures,
    import_litellm,
    run_faults,
)

from banditroute.gateway import Gateway

MODELS = ("m1", "m2", "m3")
PROMPT = "Write a haiku about the sea at night."
WARMUP = 300
CONCURRENCY = 1000
REPEATS = 3


def _gateway(server: RemoteFake, **kwargs: Any) -> Gateway:
    return Gateway(engine_for(MODELS, server.openai_base_url), seed=0, **kwargs)


def _percentiles(prefix: str, arms: dict[str, list[float]]) -> dict[str, float]:
    figures = overhead_figures(prefix, "gateway", "overhead", arms["direct"], arms["gateway"])
    learning = overhead_figures(
        prefix, "learning", "overhead_learning", arms["direct"], arms["learning"]
    )
    for p in ("p50", "p99"):  # the learning arm: its overhead only
        figures[f"{prefix}overhead_learning_{p}_ms"] = learning[f"{prefix}overhead_learning_{p}_ms"]
    return figures


def _body() -> dict[str, Any]:
    return {"model": MODELS[0], "messages": [{"role": "user", "content": PROMPT}]}


def sync_overhead(server: RemoteFake, calls: int) -> dict[str, float]:
    """Interleaved direct / gateway / learning-gateway calls, one at a time."""
    client, url = httpx.Client(), server.openai_base_url + "/chat/completions"
    plain, learning = _gateway(server, scorer=None), _gateway(server, scorer=lambda p, t: 1.0)

    def direct() -> str:
        reply = client.post(url, json=_body())
        reply.raise_for_status()
        return str(reply.json()["choices"][0]["message"]["content"])

    arms: dict[str, Callable[[], object]] = {
        "direct": direct,
        "gateway": lambda: plain.complete(PROMPT),
        "learning": lambda: learning.complete(PROMPT),
    }
    times = timed_rounds(arms, calls, WARMUP)
    client.close()
    plain.close()
    learning.close()
    return _percentiles("", times)


async def _async_overhead(server: RemoteFake, calls: int) -> dict[str, float]:
    client, url = httpx.AsyncClient(), server.openai_base_url + "/chat/completions"
    plain, learning = _gateway(server, scorer=None), _gateway(server, scorer=lambda p, t: 1.0)

    async def direct() -> str:
        reply = await client.post(url, json=_body())
        reply.raise_for_status()
        return str(reply.json()["choices"][0]["message"]["content"])

    arms: dict[str, Callable[[], Awaitable[object]]] = {
        "direct": direct,
        "gateway": lambda: plain.acomplete(PROMPT),
        "learning": lambda: learning.acomplete(PROMPT),
    }
    times = await atimed_rounds(arms, calls, WARMUP)
    await client.aclose()
    await plain.aclose()
    await learning.aclose()
    return _percentiles("async_", times)


async def _burst(call: Callable[[], Awaitable[object]], n: int) -> tuple[float, int]:
    """Successful calls per second of ``n`` concurrent calls, and the failures."""
    started = time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    failures = sum(isinstance(r, BaseException) for r in results)
    return (n - failures) / elapsed, failures


def _litellm_transport() -> httpx.AsyncBaseTransport:
    """LiteLLM's default async transport (aiohttp-backed), as LiteLLM makes it for itself."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    return AsyncHTTPHandler.create_aiohttp_transport()


async def _throughput(server: RemoteFake, litellm: Any) -> dict[str, float]:
    base, key = server.openai_base_url, "unused"  # the fake checks no key
    params = [{"model": f"openai/{m}", "api_base": base, "api_key": key} for m in MODELS]
    deployments = [{"model_name": "m", "litellm_params": p} for p in params]
    router = litellm.Router(model_list=deployments)
    messages = [{"role": "user", "content": PROMPT}]
    shipped = _gateway(server, scorer=None)
    same = _gateway(server, scorer=None, async_transport=_litellm_transport())
    arms: dict[str, Callable[[], Awaitable[object]]] = {
        "throughput_rps": lambda: shipped.acomplete(PROMPT),
        "litellm_throughput_rps": lambda: router.acompletion(model="m", messages=messages),
        "throughput_same_client_rps": lambda: same.acomplete(PROMPT),
    }
    rps: dict[str, list[float]] = {name: [] for name in arms}
    failures = 0
    for call in arms.values():  # untimed: connections, lazy imports
        failures += (await _burst(call, 100))[1]
    for rep in range(REPEATS):
        names = list(arms)
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            value, failed = await _burst(arms[name], CONCURRENCY)
            rps[name].append(value)
            failures += failed
            print(f"  {name}: {value:.0f}", file=sys.stderr)
    await shipped.aclose()
    await same.aclose()
    await litellm.close_litellm_async_clients()
    out = {name: statistics.median(values) for name, values in rps.items()}
    out["throughput_ratio"] = out["throughput_rps"] / out["litellm_throughput_rps"]
    out["throughput_same_client_ratio"] = (
        out["throughput_same_client_rps"] / out["litellm_throughput_rps"]
    )
    out["throughput_failures"] = float(failures)
    return out


TARGETS = (
    ("overhead_p50_ms", "<=", 1.0),
    ("overhead_p99_ms", "<=", 3.0),
    ("async_overhead_p50_ms", "<=", 1.0),
    ("throughput_ratio", ">=", 1.0),
    ("fault_success_rate", ">=", 0.999),
    ("deadline_overruns", "<=", 0.0),
    ("cooldown_after_failures", "<=", 10.0),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--calls", type=int, default=3000, help="overhead rounds (after warm-up)")
    parser.add_argument("--fault-requests", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    guard = OfflineGuard()
    guard.install()
    server = RemoteFake()
    try:
        for model in MODELS:
            server.set_model(model, 0.0)
        results = sync_overhead(server, args.calls)
        print("  sync overhead done", file=sys.stderr)
        results |= asyncio.run(_async_overhead(server, args.calls))
        print("  async overhead done", file=sys.stderr)
        for model in MODELS:
            server.set_model(model, 0.05)
        results |= asyncio.run(_throughput(server, import_litellm()))
        server.clear()
        faults = run_faults(server, n=args.fault_requests, concurrency=20)
        print("  fault run done", file=sys.stderr)
        at_50 = run_faults(server, n=2000, concurrency=50)
        same = run_faults(server, n=2000, concurrency=50, transport=_litellm_transport)
        results |= fault_figures(faults, at_50, same)
    finally:
        server.stop()
    results["offline_refusals"] = float(len(guard.refused))
    results["run_time_s"] = time.perf_counter() - started
    report(results, args.json)
    if guard.refused:
        print("refused lookups:", sorted(set(guard.refused)))
    for name, sense, bound in TARGETS:
        value = results[name]
        met = value <= bound if sense == "<=" else value >= bound
        print(f"target {name} {sense} {bound:g}: {'met' if met else 'NOT met'} ({value:.4g})")


if __name__ == "__main__":
    main()
