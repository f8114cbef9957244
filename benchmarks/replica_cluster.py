"""Real processes for the replica benchmarks: a registry file over the fake provider, saved
engine states (to set λ), ``banditroute serve`` replicas on 127.0.0.1 and a real Redis.

`Cluster` starts N ``banditroute serve`` processes (``--embedder hashing``), optionally sharing
one Redis (``--redis``) and one decision-log folder (``--store``), each from its own copy of a
saved engine state (``--state``: how the cost weight λ and the seed reach a served engine), waits
(bounded) on ``/healthz`` and kills them in `Cluster.close` (SIGTERM, then SIGKILL).
Used by ``serve_replicas.py`` and ``replica_faults.py``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import tomli_w

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from banditroute import Engine  # noqa: E402
from banditroute.embedders import make_embedder  # noqa: E402
from banditroute.registry import ModelProfile  # noqa: E402
from banditroute.reward import Tradeoff  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.serve_helpers import ServerProcess, free_port, model_entry  # noqa: E402

__all__ = ["Cluster", "RedisServer", "chat", "feedback", "save_state", "write_config"]


def write_config(
    path: Path,
    models: Sequence[ModelProfile],
    openai_base_url: str,
    *,
    budget_usd: float | None = None,
    outcome_wait_s: float = 1.0,
) -> Path:
    """A registry file: ``models`` (prices kept) served by the fake provider, no scorer."""
    config: dict[str, object] = {
        "serve": {
            "embedder": "hashing",
            "store_outcome_wait_s": outcome_wait_s,
            "store_flush_interval_s": 0.2,
            "health_check_interval_s": 0,
            "decisions_kept": 1000,
            "log_level": "warning",
        },
        "gateway": {
            "scorer": "none",
            "timeout_s": 20,
            "retry": {"max_attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.05},
        },
        "model": [
            model_entry(
                m.id,
                m.input_usd_per_mtok,
                m.output_usd_per_mtok,
                openai_base_url,
                20,
                capabilities=sorted(m.capabilities),
            )
            | {"provider": m.provider}
            for m in models
        ],
    }
    if budget_usd is not None:
        config["budget"] = [{"name": "hard", "limit_usd": budget_usd, "period": "total"}]
    path.write_text(tomli_w.dumps(config))
    return path


def save_state(config: Path, folder: Path, cost_weight: float, seed: int) -> Path:
    """A saved engine over ``config`` with reward q − ``cost_weight``·cost and this seed."""
    engine = Engine.from_registry(config, embedder=make_embedder("hashing384"), seed=seed)
    engine.tradeoff = Tradeoff(cost_weight=cost_weight)
    engine.save(folder)
    engine.close()
    return folder


class Cluster:
    """``n`` serve replicas (see the module); `urls`, `clients`, `processes`, `close`."""

    def __init__(
        self,
        work: Path,
        config: Path,
        n: int,
        *,
        state: Path | None = None,
        redis_url: str | None = None,
        store: Path | None = None,
    ) -> None:
        self.processes: list[ServerProcess] = []
        self.clients: list[httpx.Client] = []
        try:
            for k in range(n):
                args = ["--config", str(config), "--embedder", "hashing"]
                if state is not None:
                    copy = work / f"state-{k}"
                    shutil.rmtree(copy, ignore_errors=True)
                    shutil.copytree(state, copy)
                    args += ["--state", str(copy)]
                if redis_url is not None:
                    args += ["--redis", redis_url]
                if store is not None:
                    args += ["--store", str(store)]
                port = free_port()
                self.processes.append(ServerProcess(args, port, work / f"serve-{k}.log"))
            for process in self.processes:
                process.wait_ready(90.0)
                self.clients.append(httpx.Client(base_url=process.url, timeout=30.0))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the clients, then stop every process still running (SIGTERM, then kill)."""
        for client in self.clients:
            client.close()
        for process in self.processes:
            process.stop(30.0)


def chat(client: httpx.Client, prompt: str) -> tuple[int, dict[str, Any] | None]:
    """POST /v1/chat/completions with ``model="auto"``: the status and the JSON (2xx only)."""
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
    reply = client.post("/v1/chat/completions", json=body)
    return reply.status_code, reply.json() if reply.is_success else None


def feedback(client: httpx.Client, decision_id: str, quality: float, cost: float | None) -> int:
    """POST /v1/feedback: the status."""
    body: dict[str, Any] = {"decision_id": decision_id, "quality": quality}
    if cost is not None:
        body["cost_usd"] = cost
    return client.post("/v1/feedback", json=body).status_code
