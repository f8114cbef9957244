"""Two ``banditroute serve`` replicas on one real Redis under faults: kill -9, a Redis restart,
and a hard budget. Called by ``serve_replicas.run``; the setting is in that module's docstring.

Protocols
---------
``kill_lost_feedback`` (target 0): two replicas, one Redis, one decision-log folder
(``--store``, ``store_outcome_wait_s = 1``, flush every 0.2 s), 3 models. `WORKERS` client
threads send `kill_requests` requests (5,000; quick 1,000) round-robin over the live replicas;
each thread sends the feedback of its decisions `LAG` decisions late (so decisions made just
before the kill get their feedback after it), each to a replica drawn at random (seeded). After
half the requests one replica is killed with SIGKILL; from then on requests and feedback go to
the survivor, and a request or feedback that failed on the dead replica's connection is sent
again to the survivor (what a load balancer does). Counted: ``kill_lost_feedback`` = decisions
returned to the caller whose feedback was never accepted (404, or an error at the survivor);
``kill_failed_requests`` = requests cut by the kill (then retried). After the survivor stops
(SIGTERM), the log folder is read: ``kill_logged_missing_rows`` (answered decisions without a
row) and ``kill_logged_missing_outcomes`` (accepted feedback not in its row), split by replica.
``sync_put_cost_us``: the p50 of `Engine.choose` with the pending decision written to Redis
before it returns, minus the p50 with the background writer (in process, 2,000 calls each).

``redis_restart_errors`` (target 0): two replicas, `WORKERS` threads, `restart_requests`
requests (3,000; quick 800) alternating between replicas, feedback (lag `LAG`) to the replica
that did not decide; after a third of the requests Redis is killed and started again on the
same port, empty, 0.5 s later. Counted: non-2xx or failed chat requests
(``redis_restart_errors``) and feedbacks not accepted (``redis_restart_failed_feedback``).

``budget_*`` (target: overshoot ≤ one request's cost per replica): a hard total budget of
`BUDGET_USD` in the config, two replicas on Redis, 8 threads sending requests alternately to
both until each has been refused 3 times in a row; then one client alone, one request every
0.3 s alternating, until refused 5 times in a row (refusals under load can be reservations
of requests in flight, not spend). Spend = the sum of the ``cost_usd`` of the
answered requests; overshoot = spend − limit, in USD and in units of the largest request cost.
"""

from __future__ import annotations

import random
import signal
import statistics
import threading
import time
from collections import deque
from pathlib import Path

import httpx
import numpy as np
from replica_cluster import Cluster, RedisServer, chat, feedback, write_config

from banditroute.registry import ModelProfile

__all__ = ["MODELS", "run_faults"]

MODELS = ("cheap", "mid", "dear")
PRICES = {"cheap": 0.5, "mid": 3.0, "dear": 15.0}
WORKERS, LAG, BUDGET_USD = 4, 8, 0.02


def _profiles() -> list[ModelProfile]:
    return [
        ModelProfile(id=m, provider="fake", input_usd_per_mtok=p, output_usd_per_mtok=p)
        for m, p in PRICES.items()
    ]


class _Run:
    """Shared counters of one fault run (threads append under `lock`)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster, self.lock = cluster, threading.Lock()
        self.alive = [True] * len(cluster.clients)
        self.done = 0
        self.failed_requests = self.non_2xx = 0
        self.answered: dict[str, int] = {}  # decision id → replica that decided
        self.accepted: set[str] = set()
        self.refused: list[tuple[str, int]] = []

    def live(self) -> list[int]:
        return [k for k, up in enumerate(self.alive) if up]

    def ask(self, k: int, prompt: str) -> tuple[str, int] | None:
        """A decision from replica ``k`` (the survivor when ``k`` is dead or dies)."""
        for _ in range(3):
            if not self.alive[k]:
                k = self.live()[0]
            try:
                _status, body = chat(self.cluster.clients[k], prompt)
            except httpx.TransportError:
                with self.lock:
                    self.failed_requests += 1
                if self.alive[k]:
                    return None
                continue
            if body is None:
                with self.lock:
                    self.non_2xx += 1
                return None
            did = str(body["banditroute"]["decision_id"])
            with self.lock:
                self.answered[did] = k
            return did, k
        return None

    def tell(self, k: int, did: str, quality: float) -> None:
        """Feedback to replica ``k`` (again to the survivor if ``k`` is dead)."""
        status = 0
        for _ in range(3):
            if not self.alive[k]:
                k = self.live()[0]
            try:
                status = feedback(self.cluster.clients[k], did, quality, None)
                break
            except httpx.TransportError:
                status = -1
        with self.lock:
            if status == 200:
                self.accepted.add(did)
            else:
                self.refused.append((did, status))


def _drive(run: _Run, n: int, at: int, fault: object, route: str, seed: int) -> None:
    """WORKERS threads send ``n`` requests; ``fault()`` runs once ``at`` are done."""

    def worker(w: int) -> None:
        rng, waiting = random.Random(seed * 100 + w), deque[tuple[str, int]]()
        for i in range(w, n, WORKERS):
            live = run.live()
            got = run.ask(live[i % len(live)], f"request {i}: question about topic {i % 13}")
            if got is not None:
                waiting.append(got)
            while len(waiting) > (LAG if i + WORKERS < n else 0):
                did, decider = waiting.popleft()
                live = run.live()
                target = rng.choice(live) if route == "random" else (decider + 1) % len(live)
                run.tell(target, did, 0.3 + 0.6 * (int(did[:4], 16) % 97) / 96)
            with run.lock:
                run.done += 1
                fire = run.done == at
            if fire:
                fault()  # type: ignore[operator]

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _read_log(folder: Path) -> dict[str, bool]:
    import lancedb

    table = lancedb.connect(str(folder)).open_table("decisions")
    rows = table.search().select(["id", "has_outcome"]).limit(10_000_000).to_arrow()
    return dict(zip(rows["id"].to_pylist(), rows["has_outcome"].to_pylist(), strict=True))


def kill_run(work: Path, url: str, n: int) -> dict[str, float]:
    config = write_config(work / "kill.toml", _profiles(), url)
    store = work / "log"
    redis = RedisServer(work / "redis")
    redis.folder.mkdir()
    redis.start()
    cluster = None
    try:
        cluster = Cluster(work, config, 2, redis_url=redis.url, store=store)
        run = _Run(cluster)

        def kill() -> None:
            run.alive[1] = False
            cluster.processes[1].process.send_signal(signal.SIGKILL)

        started = time.perf_counter()
        _drive(run, n, n // 2, kill, "random", seed=1)
        seconds = time.perf_counter() - started
        cluster.processes[0].stop(60.0)  # graceful: writes its rows and the late outcomes
    finally:
        if cluster is not None:
            cluster.close()
        redis.stop()
    logged = _read_log(store)
    out = {
        "kill_requests": float(n),
        "kill_answered": float(len(run.answered)),
        "kill_lost_feedback": float(len(set(run.answered) - run.accepted)),
        "kill_refused_404": float(sum(1 for _, s in run.refused if s == 404)),
        "kill_failed_requests": float(run.failed_requests + run.non_2xx),
        "kill_seconds": seconds,
    }
    for k, name in ((0, "survivor"), (1, "killed")):
        mine = [d for d, r in run.answered.items() if r == k]
        out[f"kill_logged_missing_rows_{name}"] = float(sum(1 for d in mine if d not in logged))
        out[f"kill_logged_missing_outcomes_{name}"] = float(
            sum(1 for d in mine if d in run.accepted and d in logged and not logged[d])
        )
        out[f"kill_decisions_{name}"] = float(len(mine))
    return out


def restart_run(work: Path, url: str, n: int) -> dict[str, float]:
    config = write_config(work / "restart.toml", _profiles(), url)
    redis = RedisServer(work / "redis")
    redis.folder.mkdir()
    redis.start()
    cluster = None
    try:
        cluster = Cluster(work, config, 2, redis_url=redis.url)
        run = _Run(cluster)
        _drive(run, n, n // 3, lambda: redis.restart(down_s=0.5), "other", seed=2)
    finally:
        if cluster is not None:
            cluster.close()
        redis.stop()
    return {
        "redis_restart_requests": float(n),
        "redis_restart_errors": float(run.failed_requests + run.non_2xx),
        "redis_restart_failed_feedback": float(len(run.refused)),
    }


def budget_run(work: Path, url: str) -> dict[str, float]:
    config = write_config(work / "budget.toml", _profiles(), url, budget_usd=BUDGET_USD)
    redis = RedisServer(work / "redis")
    redis.folder.mkdir()
    redis.start()
    costs: list[float] = []
    lock = threading.Lock()
    cluster = None
    try:
        cluster = Cluster(work, config, 2, redis_url=redis.url)
        clients = cluster.clients

        def worker(w: int) -> None:
            refused, i = 0, w
            while refused < 3 and i < 100_000:
                _status, body = chat(clients[i % 2], f"budget request {i} about topic {i % 7}")
                i += 8
                if body is None:
                    refused += 1
                    continue
                refused = 0
                with lock:
                    costs.append(float(body["banditroute"]["cost_usd"]))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        concurrent = len(costs)
        # refusals under load may be in-flight reservations: go on alone, slowly, until refused
        # 5 times in a row, so the spend measured is where the budget really stops
        refused, i = 0, 0
        while refused < 5 and i < 10_000:
            time.sleep(0.3)
            _status, body = chat(clients[i % 2], f"budget tail {i}")
            i += 1
            refused = refused + 1 if body is None else 0
            if body is not None:
                costs.append(float(body["banditroute"]["cost_usd"]))
    finally:
        if cluster is not None:
            cluster.close()
        redis.stop()
    spend, largest = sum(costs), max(costs, default=0.0)
    over = spend - BUDGET_USD
    return {
        "budget_limit_usd": BUDGET_USD,
        "budget_spend_usd": spend,
        "budget_overshoot_usd": over,
        "budget_overshoot_request_costs": over / largest if largest else 0.0,
        "budget_largest_request_usd": largest,
        "budget_answered_requests": float(len(costs)),
        "budget_answered_concurrent": float(concurrent),
    }


def sync_put_cost(work: Path) -> dict[str, float]:
    from banditroute import Engine, HashingEmbedder
    from banditroute.shared import attach

    redis = RedisServer(work / "redis-put")
    redis.folder.mkdir()
    redis.start()
    try:
        engine = Engine(_profiles(), embedder=HashingEmbedder(384), seed=0)
        shared = attach(engine, None, redis.url, "bench", sync_interval_s=0.2)
        p50 = {}
        for synchronous in (False, True, False, True):
            shared.pending.synchronous = synchronous
            times = []
            for i in range(2000):
                t = time.perf_counter()
                engine.choose(f"prompt {i} about topic {i % 11}")
                times.append(time.perf_counter() - t)
            shared.pending.flush()
            p50[synchronous] = statistics.median(times) * 1e6
        shared.close()
    finally:
        redis.stop()
    return {
        "sync_put_choose_p50_us": p50[True],
        "async_put_choose_p50_us": p50[False],
        "sync_put_cost_us": p50[True] - p50[False],
    }


def run_faults(work: Path, url: str, quick: bool) -> dict[str, float]:
    """Every fault figure (see the module); ``quick``: fewer requests."""
    out: dict[str, float] = {}
    for name, job in (
        ("put", lambda d: sync_put_cost(d)),
        ("kill", lambda d: kill_run(d, url, 1000 if quick else 5000)),
        ("restart", lambda d: restart_run(d, url, 800 if quick else 3000)),
        ("budget", lambda d: budget_run(d, url)),
    ):
        folder = work / name
        folder.mkdir()
        figures = job(folder)
        print({k: round(v, 6) for k, v in figures.items()})
        out |= figures
    out["kill_lag_decisions"] = float(LAG)
    out["fault_client_threads"] = float(WORKERS)
    return {k: float(np.float64(v)) for k, v in out.items()}
