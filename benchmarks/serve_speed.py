"""`banditroute serve`: time added per request, and requests/s against LiteLLM's proxy.

    python benchmarks/serve_speed.py [--json out/serve_speed.json] [--quick]

Everything runs on 127.0.0.1 against ``tests/fake_provider.FakeProvider`` (a real uvicorn
server) in a child process (`gateway_scenarios.RemoteFake`). Servers are real subprocesses:
``python -m banditroute.cli serve`` and LiteLLM's ``litellm --config`` proxy, both on uvicorn
with uvloop (LiteLLM forces it; uvicorn picks it for us since ``litellm[proxy]`` installs it)
and h11 (httptools is not installed). The machine has 2 cores: the server measured, the fake
provider and the client (this process) share them; nothing is pinned.

Serve's registry: three models ``m1``..``m3`` on the fake's OpenAI route, ``embedder =
"hashing"`` (HashingEmbedder), ``[gateway] scorer = "none"`` (no learning on the request path:
feedback comes later through ``/v1/feedback``), no response cache, no health probes, no
decision log unless said. Requests are ``{"model": "auto", "messages": [one user message]}``.
Every request repeats ONE prompt, so after the first the engine's featurizer serves its vector
from its cache: the embedding is excluded, as the issue asks; choosing (context, policy, gate)
and everything HTTP are included.

Overhead (fake latency 0, one client, one call at a time): after 300 warm-up rounds, ``calls``
rounds (2,000; 300 with ``--quick``) of, in this order, a direct ``httpx.Client.post`` of the
chat body to the fake (model ``m1``), the same through serve (model ``auto``), then the same two
with the official ``openai`` client (``chat.completions.create``). ``serve_overhead_p50_ms`` /
``_p99_ms`` are DIFFERENCES OF PERCENTILES (p50 through serve minus p50 direct); the per-pair
figures (percentiles of serve_i - direct_i over adjacent calls) are reported too. Then a second
serve process with the decision log on (``store`` in a temporary folder; ``store_outcome_wait_s =
1``, ``store_flush_interval_s = 0.5``, so that rows are written while it is measured, not 30 s
later) runs beside the first: ``calls / 2`` rounds (after 300 warm-up rounds) of direct, serve
without the log, serve with the log, httpx only. ``store_serve_overhead_*`` compare the
log-writing serve with direct calls; ``store_added_p50_ms`` is its p50 minus the p50 of the
serve without the log, in the same rounds.

Requests/s (fake latency 50 ms on every model, so that hundreds of requests are in flight; at
these loads each server is CPU-bound on its core): LiteLLM's proxy with one model group
``auto`` of three deployments (``openai/m1``..``m3``, ``api_base`` the fake's ``/v1``, default
simple-shuffle routing), no master key (``dangerously_permit_weak_or_unset_master_key``, as
serve needs none on 127.0.0.1), no database, no callbacks, no cache, message logging off; serve
as above, decision log OFF (its cost is the overhead figure above). The load generator is one
asyncio loop in this process with one `banditroute.gateway.async_pool.make_async_client` (httpx
over aiohttp), ``C`` workers each sending the next request as soon as its last one returned
(closed loop), until ``n`` requests are done; rps = successful requests / wall time. C = 100
(n = 2,000) and C = 500 (n = 4,000) (``--quick``: 1,000 and 2,000). Arms: ``direct`` (the same
load straight to the fake: what this machine can measure at all), ``serve``, ``litellm``; after
an untimed burst of 200 per arm, 3 repetitions in a rotating order; medians reported, and
``serve_rps / litellm_proxy_rps``; ``*_failures_*``: failed requests per arm (non-200 or
transport errors; the first one is printed). With one uvicorn worker each, then (without
``--quick``) two workers each (``_w2``), both servers running throughout (idle when not
measured).
``serve_rps`` and ``litellm_proxy_rps`` are the C = 100, one-worker medians. Other work on the
machine shifts every figure a lot: ``loadavg_max_*`` is the highest 1-minute load average seen
after a measurement, ``loadavg_overhead`` / ``loadavg_store`` the one at the end of each
overhead phase (2 means both cores were busy with this benchmark alone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _p in (str(BENCH), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_output import (  # type: ignore[import-not-found]  # noqa: E402
    overhead_figures,
    report,
    timed_rounds,
)
from gateway_scenarios import RemoteFake  # type: ignore[import-not-found]  # noqa: E402
from openai import OpenAI  # noqa: E402
from serve_servers import (  # type: ignore[import-not-found]  # noqa: E402
    MODELS,
    LiteLLMProxy,
    litellm_config,
    serve_config,
    start_serve,
)

from banditroute.gateway.async_pool import make_async_client  # noqa: E402
from tests.serve_helpers import ServerProcess, free_port  # noqa: E402

__all__ = ["run"]

PROMPT = "Write a haiku about the sea at night."
WARMUP = 300
LOADS = ((100, 2000), (500, 4000))
REPEATS = 3


def _body(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}]}


# --------------------------------------------------------------------------- overhead


def _stats(prefix: str, direct: list[float], served: list[float]) -> dict[str, float]:
    return overhead_figures(prefix, "serve", "serve_overhead", direct, served)


def _httpx_call(client: httpx.Client, url: str, model: str) -> Callable[[], str]:
    def call() -> str:
        reply = client.post(url + "/chat/completions", json=_body(model))
        reply.raise_for_status()
        return str(reply.json()["choices"][0]["message"]["content"])

    return call


def _openai_call(client: OpenAI, model: str) -> Callable[[], str]:
    def call() -> str:
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}]
        )
        return str(answer.choices[0].message.content)

    return call


def overhead(
    fake: RemoteFake, serve_url: str, calls: int, *, openai: bool, store_url: str | None = None
) -> dict[str, float]:
    """Interleaved direct / through-serve calls, one at a time (httpx, the openai client, and
    a serve process with the decision log on when ``store_url`` is given)."""
    direct_url, via_url = fake.openai_base_url, serve_url + "/v1"
    with httpx.Client(timeout=30.0) as client:
        arms: dict[str, Callable[[], object]] = {
            "direct": _httpx_call(client, direct_url, MODELS[0]),
            "serve": _httpx_call(client, via_url, "auto"),
        }
        if store_url is not None:
            arms["store"] = _httpx_call(client, store_url + "/v1", "auto")
        clients = []
        if openai:
            clients = [
                OpenAI(base_url=u, api_key="unused", max_retries=0, timeout=30.0)
                for u in (direct_url, via_url)
            ]
            arms["openai_direct"] = _openai_call(clients[0], MODELS[0])
            arms["openai_serve"] = _openai_call(clients[1], "auto")
        times = timed_rounds(arms, calls, WARMUP)
        for c in clients:
            c.close()
    if store_url is not None:
        figures = _stats("store_", times["direct"], times["store"])
        with_log, without = (np.percentile(times[k], 50) * 1000.0 for k in ("store", "serve"))
        figures["store_nolog_serve_p50_ms"] = float(without)
        figures["store_added_p50_ms"] = float(with_log - without)
        return figures
    figures = _stats("", times["direct"], times["serve"])
    if openai:
        figures.update(_stats("openai_", times["openai_direct"], times["openai_serve"]))
    return figures


# --------------------------------------------------------------------------- requests/s


async def _load(url: str, model: str, concurrency: int, n: int) -> tuple[float, int]:
    """Closed-loop load: ``concurrency`` workers until ``n`` requests; (rps, failures)."""
    client = make_async_client()
    client.timeout = httpx.Timeout(60.0)
    counter = iter(range(n))
    ok = 0
    errors: list[str] = []

    async def worker() -> None:
        nonlocal ok
        for _ in counter:
            try:
                reply = await client.post(url + "/v1/chat/completions", json=_body(model))
                if reply.status_code == 200 and reply.json()["choices"]:
                    ok += 1
                    continue
                errors.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    if errors:
        print(f"  {len(errors)} failed at {url}, first: {errors[0]}", flush=True)
    return ok / elapsed, len(errors)


def throughput(
    arms: dict[str, tuple[str, str]], loads: tuple[tuple[int, int], ...], suffix: str
) -> dict[str, float]:
    """Median rps per arm and load; ``arms``: name -> (base url, model)."""
    figures: dict[str, float] = {}
    names = list(arms)
    for url, model in arms.values():
        asyncio.run(_load(url, model, 100, 200))  # untimed: connections, lazy imports
    for concurrency, n in loads:
        rps: dict[str, list[float]] = {name: [] for name in names}
        failures, load = dict.fromkeys(names, 0), 0.0
        for rep in range(REPEATS):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                url, model = arms[name]
                value, failed = asyncio.run(_load(url, model, concurrency, n))
                rps[name].append(value)
                failures[name] += failed
                load = max(load, os.getloadavg()[0])
                print(
                    f"  c={concurrency}{suffix} rep {rep} {name}: {value:.0f} rps"
                    f" (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        tag = f"_c{concurrency}{suffix}"
        for name in names:
            key = "litellm_proxy" if name == "litellm" else name
            figures[f"{key}_rps{tag}"] = statistics.median(rps[name])
        figures[f"serve_litellm_rps_ratio{tag}"] = statistics.median(
            rps["serve"]
        ) / statistics.median(rps["litellm"])
        for name in names:
            key = "litellm_proxy" if name == "litellm" else name
            figures[f"{key}_failures{tag}"] = float(failures[name])
        figures[f"loadavg_max{tag}"] = load  # other work on the 2 cores (1-min load average)
    return figures


# --------------------------------------------------------------------------- run


def run(quick: bool = False) -> dict[str, float]:
    """All the figures (see the module docstring); ``quick``: fewer calls, one worker only."""
    calls = 300 if quick else 2000
    loads = ((100, 1000), (500, 2000)) if quick else LOADS
    figures: dict[str, float] = {}
    fake = RemoteFake()
    running: list[ServerProcess | LiteLLMProxy] = []
    try:
        with tempfile.TemporaryDirectory(prefix="serve_speed_") as folder:
            tmp = Path(folder)
            serve_cfg = serve_config(tmp / "models.toml", fake.openai_base_url)
            lite_cfg = litellm_config(tmp / "litellm.yaml", fake.openai_base_url)
            for model in MODELS:
                fake.set_model(model, 0.0)
            server = start_serve(serve_cfg, tmp, "serve")
            running.append(server)
            figures.update(overhead(fake, server.url, calls, openai=True))
            figures["loadavg_overhead"] = os.getloadavg()[0]
            print({k: round(v, 3) for k, v in figures.items()}, flush=True)
            store_cfg = serve_config(tmp / "store.toml", fake.openai_base_url, tmp / "log")
            store = start_serve(store_cfg, tmp, "serve_store")
            running.append(store)
            figures.update(
                overhead(fake, server.url, calls // 2, openai=False, store_url=store.url)
            )
            figures["loadavg_store"] = os.getloadavg()[0]
            server.stop()
            store.stop()
            print({k: round(v, 3) for k, v in figures.items() if "store" in k}, flush=True)
            for model in MODELS:
                fake.set_model(model, 0.05)
            for workers in (1,) if quick else (1, 2):
                w = ["--workers", str(workers)] if workers > 1 else []
                server = start_serve(serve_cfg, tmp, f"serve_w{workers}", *w)
                running.append(server)
                proxy = LiteLLMProxy(lite_cfg, free_port(), workers, tmp / f"lite{workers}.log")
                running.append(proxy)
                proxy.wait_ready()
                arms = {
                    "direct": (fake.base_url, MODELS[0]),
                    "serve": (server.url, "auto"),
                    "litellm": (proxy.url, "auto"),
                }
                suffix = "" if workers == 1 else f"_w{workers}"
                figures.update(throughput(arms, loads, suffix))
                server.stop()
                proxy.stop()
    finally:
        for process in running:
            process.stop()
        fake.stop()
    figures["serve_rps"] = figures["serve_rps_c100"]
    figures["litellm_proxy_rps"] = figures["litellm_proxy_rps_c100"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="fewer calls, one worker only")
    args = parser.parse_args()
    report(run(args.quick), args.json)


if __name__ == "__main__":
    main()
