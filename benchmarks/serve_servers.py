"""Parts of ``serve_speed.py``: the registry and LiteLLM config files over the fake provider,
and the two servers as subprocesses on 127.0.0.1 (see that script's docstring for the protocol).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import tomli_w

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.serve_helpers import (  # noqa: E402
    ServerProcess,
    answers_health,
    free_port,
    model_entry,
)

__all__ = ["MODELS", "LiteLLMProxy", "litellm_config", "serve_config", "start_serve"]

MODELS = ("m1", "m2", "m3")
START_S = 120.0  #: longest wait for a server to answer its health route


def serve_config(path: Path, fake_url: str, store: Path | None = None) -> Path:
    """Three models on ``fake_url`` (OpenAI route), hashing embedder, no scorer, optional log."""
    serve: dict[str, object] = {
        "embedder": "hashing",
        "health_check_interval_s": 0,
        "log_level": "warning",
    }
    if store is not None:  # rows written while measured, not 30 s later
        serve |= {"store": str(store), "store_outcome_wait_s": 1.0, "store_flush_interval_s": 0.5}
    config = {
        "serve": serve,
        "gateway": {"scorer": "none", "timeout_s": 60},
        "model": [
            model_entry(model, 0.1 * i, 0.4 * i, fake_url, 60)
            for i, model in enumerate(MODELS, start=1)
        ],
    }
    path.write_text(tomli_w.dumps(config))
    return path


def litellm_config(path: Path, fake_url: str) -> Path:
    """One model group ``auto`` of ``openai/m1``..``m3``; no key, database, callbacks."""
    lines = ["model_list:"]
    for model in MODELS:
        lines += [
            "  - model_name: auto",
            "    litellm_params:",
            f"      model: openai/{model}",
            f"      api_base: {fake_url}",
            "      api_key: unused",
        ]
    lines += [
        "litellm_settings:",
        "  callbacks: []",
        "  success_callback: []",
        "  failure_callback: []",
        "  telemetry: false",
        "  turn_off_message_logging: true",
        "  request_timeout: 60",
        "general_settings:",
        "  disable_spend_logs: true",
        "  disable_error_logs: true",
        "  dangerously_permit_weak_or_unset_master_key: true",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class LiteLLMProxy:
    """``litellm --config CONFIG`` on 127.0.0.1:``port`` (no database, offline cost map)."""

    def __init__(self, config: Path, port: int, workers: int, log: Path) -> None:
        self.port, self.log = port, log
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_HOST")}
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
        env.update(LITELLM_OFFLINE_MODE="true", LITELLM_TELEMETRY="False")
        exe = str(Path(sys.executable).with_name("litellm"))
        command = [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--num_workers", str(workers)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = START_S) -> None:
        url = self.url + "/health/liveliness"
        if not answers_health(self.process, url, self.tail, timeout_s, 0.2):
            self.stop()
            raise RuntimeError(f"litellm not ready in {timeout_s} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_serve(config: Path, tmp: Path, name: str, *extra: str) -> ServerProcess:
    """``banditroute serve --config config *extra`` on a free port, awaited on ``/healthz``."""
    server = ServerProcess(["--config", str(config), *extra], free_port(), tmp / f"{name}.log")
    server.wait_ready(START_S)
    return server
