"""Helpers for the service tests: a registry file over the fake provider, and real
``banditroute serve`` processes on 127.0.0.1 (started, awaited on ``/healthz``, stopped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import tomli_w
from openai import OpenAI

from tests.fake_provider import FakeProvider

REPO = Path(__file__).resolve().parents[1]

__all__ = ["ServerProcess", "free_port", "write_config"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, provider: FakeProvider) -> Path:
    """A registry file: four models on the fake provider, presets, a tiny budget, [serve]."""
    openai_url, anthropic_url = provider.openai_base_url, provider.base_url + "/v1"
    models = [
        ("big", "openai", openai_url, 10.0, ["code"]),
        ("small", "openai", openai_url, 0.2, []),
        ("claude", "anthropic", anthropic_url, 1.0, []),
        ("flaky", "openai", openai_url, 0.1, []),
    ]
    config = {
        "serve": {
            "embedder": "hashing",
            "store_outcome_wait_s": 1.0,
            "store_flush_interval_s": 0.2,
            "health_check_interval_s": 0,
            "decisions_kept": 1000,
        },
        "gateway": {
            "scorer": "none",
            "timeout_s": 10,
            "retry": {"max_attempts": 2, "base_delay_s": 0.01, "max_delay_s": 0.05},
            "breaker": {"failure_threshold": 3, "cooldown_s": 300},
        },
        "preset": {"code": {"capabilities": ["code"]}, "cheap": {"allow_models": ["small"]}},
        "budget": [{"name": "capped", "limit_usd": 1e-9, "period": "total", "tags": ["capped"]}],
        "model": [
            model_entry(model_id, price, price, url, 5, kind=kind, capabilities=capabilities)
            for model_id, kind, url, price, capabilities in models
        ],
    }
    path.write_text(tomli_w.dumps(config))
    return path


def model_entry(
    model_id: str,
    input_usd_per_mtok: float,
    output_usd_per_mtok: float,
    base_url: str,
    timeout_s: float,
    *,
    kind: str = "openai",
    capabilities: Sequence[str] = (),
) -> dict[str, object]:
    """One ``[[model]]`` table of a registry file: a model served at ``base_url``."""
    return {
        "id": model_id,
        "provider": kind,
        "input_usd_per_mtok": input_usd_per_mtok,
        "output_usd_per_mtok": output_usd_per_mtok,
        "capabilities": sorted(capabilities),
        "connection": {"kind": kind, "base_url": base_url, "timeout_s": timeout_s},
    }


def answers_health(
    process: subprocess.Popen[bytes],
    url: str,
    tail: Callable[[], str],
    timeout_s: float,
    interval_s: float,
) -> bool:
    """Whether ``url`` answers 200 within ``timeout_s``; raise with ``tail()`` (the log's end)
    when the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited {process.returncode}:\n{tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(interval_s)
    return False


class ServerProcess:
    """``python -m banditroute.cli serve ARGS`` on ``port``, logging into ``log``."""

    def __init__(
        self, args: Sequence[str], port: int, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.port, self.log = port, log
        full_env = {k: v for k, v in os.environ.items() if k != "BANDITROUTE_SERVICE_KEYS"}
        full_env.update(env or {})
        command = [sys.executable, "-m", "banditroute.cli", "serve", *args, "--port", str(port)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = "unused") -> OpenAI:
        """The official OpenAI client pointed at this server (no retries: tests see statuses)."""
        return OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=20.0)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Return once ``/healthz`` answers; raise with the log when it never does."""
        if not answers_health(self.process, self.url + "/healthz", self.tail, timeout_s, 0.1):
            self.stop()
            raise RuntimeError(f"server not ready in {timeout_s} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (graceful: the lifespan writes the log and saves the state), then kill."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)
