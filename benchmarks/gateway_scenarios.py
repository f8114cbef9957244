"""Parts of ``bench_gateway.py``: the fake provider in a child process, the engines, LiteLLM set
up offline, and the fault-injection scenario (see that script's docstring for the protocol)."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from banditroute import Engine, HashingEmbedder, ModelProfile
from banditroute.errors import BanditRouteError
from banditroute.gateway import CircuitBreaker, Connection, Gateway, Guards
from banditroute.policies import FixedModel, Policy

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FAULTY, BACKUPS = "flaky", ("backup1", "backup2")

__all__ = [
    "FaultResult",
    "OfflineGuard",
    "RemoteFake",
    "engine_for",
    "fault_figures",
    "import_litellm",
    "run_faults",
]


# --------------------------------------------------------------------------- the fake server


def _serve(pipe: Pipe) -> None:
    """Child process: run a `FakeProvider` and obey the parent's calls until "stop"."""
    sys.path.insert(0, TESTS)
    from fake_provider import FakeProvider

    server = FakeProvider()
    pipe.send(server.base_url)
    while True:
        method, args, kwargs = pipe.recv()
        if method == "stop":
            server.stop()
            pipe.send(None)
            return
        pipe.send(getattr(server, method)(*args, **kwargs))


class RemoteFake:
    """`tests/fake_provider.FakeProvider` run in its own process (its own GIL and core), so the
    client measured has the benchmark process to itself; scripted over a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        if not self._pipe.poll(30):
            self._process.kill()
            raise RuntimeError("the fake provider's process did not start within 30 s")
        self.base_url: str = self._pipe.recv()
        self.openai_base_url = self.base_url + "/v1"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._pipe.send((method, args, kwargs))
        if not self._pipe.poll(60):
            raise RuntimeError(f"the fake provider's process did not answer {method!r}")
        return self._pipe.recv()

    def set_model(self, model: str, latency_s: float) -> None:
        self._call("set_model", model, latency_s=latency_s)

    def set_fault_rates(self, model: str, rates: Any) -> None:
        """``rates``: a `fake_provider.FaultRates` or None."""
        self._call("set_fault_rates", model, rates)

    def clear(self) -> None:
        self._call("clear")

    def stop(self) -> None:
        self._call("stop")
        self._process.join(timeout=5)


# --------------------------------------------------------------------------- engines, LiteLLM


def engine_for(
    models: Sequence[str],
    base_url: str,
    *,
    timeout_s: float = 60.0,
    policy: Policy | None = None,
    seed: int = 0,
) -> Engine:
    """An engine over ``models`` served by the fake's OpenAI route (HashingEmbedder(64), whose
    vector of a repeated prompt comes from the featurizer's cache)."""
    link = Connection(base_url=base_url, timeout_s=timeout_s)
    prices = [(0.1 * (i + 1), 0.4 * (i + 1)) for i in range(len(models))]
    profiles = [
        ModelProfile(
            id=m, provider="fake", input_usd_per_mtok=pi, output_usd_per_mtok=po, connection=link
        )
        for m, (pi, po) in zip(models, prices, strict=True)
    ]
    return Engine(profiles, policy=policy, embedder=HashingEmbedder(64), seed=seed)


class OfflineGuard:
    """Refuses (and records) every name lookup of a host other than this machine's loopback."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self._real = socket.getaddrinfo

    def install(self) -> None:
        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and name not in LOCAL_HOSTS:
                self.refused.append(str(name))
                raise socket.gaierror(socket.EAI_NONAME, f"benchmark is offline: {name}")
            return self._real(host, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def import_litellm() -> Any:
    """LiteLLM configured offline: the bundled cost map, no telemetry, no callbacks, quiet."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["LITELLM_OFFLINE_MODE"] = "true"
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.callbacks, litellm.success_callback, litellm.failure_callback = [], [], []
    return litellm


# --------------------------------------------------------------------------- faults


class CountingBreaker(CircuitBreaker):
    """The default breaker that also counts ``watched``'s failures until it first opens."""

    def __init__(self, watched: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watched = watched
        self.failures = 0
        self.failures_at_first_open: int | None = None
        self.in_flight_after_first_open = 0  # failures recorded during the first cooldown

    def record_failure(self, model: str) -> None:
        super().record_failure(model)
        if model != self.watched:
            return
        if self.failures_at_first_open is None:
            self.failures += 1
            if self.state(model) == "open":
                self.failures_at_first_open = self.failures
        elif self.state(model) == "open" and self.status().times_opened == 1:
            self.in_flight_after_first_open += 1

    def status(self) -> Any:
        return next(s for s in self.snapshot() if s.model == self.watched)


@dataclass(frozen=True)
class Served:
    """One request of the fault run."""

    ok: bool
    elapsed_s: float
    model: str | None


@dataclass(frozen=True)
class FaultResult:
    """What the fault run measured."""

    requests: list[Served]
    deadline_s: float
    failures_at_first_open: int | None
    in_flight_after_first_open: int
    times_opened: int
    readmit_cooldown_left_s: float
    readmitted_after_s: float
    readmitted_after_requests: int


async def _one(gateway: Gateway, i: int, deadline_s: float) -> Served:
    started = time.monotonic()
    try:
        answer = await gateway.acomplete(
            f"Request {i}: what is {i} plus {i}?", timeout_s=deadline_s
        )
    except BanditRouteError:
        return Served(False, time.monotonic() - started, None)
    return Served(True, time.monotonic() - started, answer.model)


async def _run_faults(
    server: RemoteFake,
    rates: Any,
    n: int,
    concurrency: int,
    deadline_s: float,
    cooldown_s: float,
    transport: Callable[[], httpx.AsyncBaseTransport] | None,
) -> FaultResult:
    policy = FixedModel(model=FAULTY)
    engine = engine_for((FAULTY, *BACKUPS), server.openai_base_url, timeout_s=0.2, policy=policy)
    breaker = CountingBreaker(FAULTY, cooldown_s=cooldown_s)
    gateway = Gateway(
        engine,
        async_transport=None if transport is None else transport(),
        guards=Guards(breaker=breaker),
        scorer=lambda p, t: 1.0,
        seed=0,
    )
    for i in range(20):  # warm-up, faults off: lazy imports, first connections
        await _one(gateway, -1 - i, deadline_s)
    server.set_fault_rates(FAULTY, rates)
    served: list[Served] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            served.append(await _one(gateway, i, deadline_s))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for i in range(n, n + 1000):  # make sure it is cooled down before it recovers
        if breaker.state(FAULTY) == "open":
            break
        await _one(gateway, i, deadline_s)
    server.set_fault_rates(FAULTY, None)  # it recovers
    left, recovered = breaker.status().open_for_s, time.monotonic()
    readmitted_s, tries = math.nan, 0
    while time.monotonic() - recovered < 20 * cooldown_s:
        tries += 1
        if (await _one(gateway, tries, deadline_s)).model == FAULTY:
            readmitted_s = time.monotonic() - recovered
            break
        await asyncio.sleep(0.05)
    await gateway.aclose()
    return FaultResult(
        served,
        deadline_s,
        breaker.failures_at_first_open,
        breaker.in_flight_after_first_open,
        breaker.status().times_opened,
        left,
        readmitted_s,
        tries,
    )


def run_faults(
    server: RemoteFake,
    n: int = 10_000,
    concurrency: int = 20,
    deadline_s: float = 2.0,
    cooldown_s: float = 2.0,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
) -> FaultResult:
    """``n`` requests, ``concurrency`` in flight, against a preferred model failing half its
    calls (30 % 503, 10 % hangs, 10 % 429 with ``Retry-After: 0.05``) and two healthy ones;
    ``transport`` makes the gateway's async transport (default: the gateway's own client)."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    from fake_provider import FaultRates

    for model in (FAULTY, *BACKUPS):
        server.set_model(model, 0.02)
    rates = FaultRates(
        status_5xx=0.3, timeout=0.1, rate_limited=0.1, retry_after_s=0.05, timeout_s=1.0, seed=0
    )
    try:
        return asyncio.run(
            _run_faults(server, rates, n, concurrency, deadline_s, cooldown_s, transport)
        )
    finally:
        server.clear()


def fault_figures(
    result: FaultResult, at_50: FaultResult, at_50_same: FaultResult
) -> dict[str, float]:
    """The fault run's figures (floats, for `bench_output.report`)."""
    elapsed = np.array([r.elapsed_s for r in result.requests])
    ok = [r for r in result.requests if r.ok]

    def rate(run: FaultResult) -> float:
        return sum(r.ok for r in run.requests) / len(run.requests)

    return {
        "fault_requests": float(len(result.requests)),
        "fault_success_rate": rate(result),
        "deadline_overruns": float(np.sum(elapsed > result.deadline_s)),
        "fault_elapsed_p50_s": float(np.percentile(elapsed, 50)),
        "fault_elapsed_p99_s": float(np.percentile(elapsed, 99)),
        "fault_elapsed_max_s": float(elapsed.max()),
        "served_by_preferred_share": sum(r.model == FAULTY for r in ok) / max(len(ok), 1),
        "cooldown_after_failures": float(result.failures_at_first_open or math.nan),
        "failures_in_flight_at_first_open": float(result.in_flight_after_first_open),
        "times_cooled_down": float(result.times_opened),
        "readmit_cooldown_left_s": result.readmit_cooldown_left_s,
        "readmitted_after_s": result.readmitted_after_s,
        "readmitted_after_requests": float(result.readmitted_after_requests),
        "fault_success_rate_50_in_flight": rate(at_50),
        "fault_success_rate_50_in_flight_same_client": rate(at_50_same),
    }
