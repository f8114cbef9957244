"""`ServeSettings`: how `banditroute serve` runs, from the ``[serve]`` table of the registry
file, the command line and the environment.

The same TOML / JSON file that holds the models and the gateway's tables may hold a ``[serve]``
table; command-line flags override it, and ``BANDITROUTE_SERVICE_KEYS`` (comma-separated
SHA-256 hex digests) adds service keys:

.. code-block:: toml

    [serve]
    host = "127.0.0.1"
    port = 8000
    store = "decisions/"          # the LanceDB decision log (optional)
    embedder = "static"           # or "minilm", "hashing"; default: see ServeTable.embedder
    service_key_hashes = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]

Only hashes of service keys are ever configured (see `banditroute.serve.auth.hash_key`); the
Redis URL is left out of the settings' repr (it may hold a password).

>>> s = ServeSettings(config="models.toml", port=9000, embedder="hashing")
>>> s.port, s.host, s.workers, s.embedder
(9000, '127.0.0.1', 1, 'hashing')
>>> ServeSettings.from_env(s.to_env()) == s
True
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from .._validation import StrictModel
from ..errors import InvalidInput, RegistryError
from ..registry import read_config

__all__ = ["KEYS_ENV", "SETTINGS_ENV", "ServeSettings", "ServeTable", "keys_from_env"]

KEYS_ENV = "BANDITROUTE_SERVICE_KEYS"  #: comma-separated SHA-256 hex digests of service keys
SETTINGS_ENV = "BANDITROUTE_SERVE_SETTINGS"  #: the settings as JSON, for worker processes
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ServeTable(StrictModel):
    """The ``[serve]`` table of a registry file (every field optional).

    Parameters
    ----------
    host, port : str, int
        Where to listen (default 127.0.0.1:8000). A non-loopback host needs service keys.
    store : str, optional
        Folder of the LanceDB decision log (several replicas may share one).
    state : str, optional
        Folder of a saved engine: loaded at start when it holds one, saved at shutdown.
    redis : str, optional
        ``redis://`` URL of the state shared between replicas (`banditroute.shared`).
    redis_retire_after_s : float
        A replica silent this long in the shared state has its sums folded into the models'
        shared base (`banditroute.shared.compaction`), so restarts do not grow Redis.
    workers : int
        uvicorn worker processes (each one a replica; without ``redis`` each learns alone).
    embedder : {"static", "minilm", "hashing"}, optional
        Prompt encoder. Default (unset): the encoder the saved ``state`` or the decision log
        ``store`` was written with, else ``static`` (`banditroute.static_embedder`: distilled
        from MiniLM, built once and cached). ``minilm`` needs ``banditroute[embed]``.
    service_key_hashes : list of str
        SHA-256 hex digests of the keys callers send as ``Authorization: Bearer <key>``.
    decisions_kept : int
        Recent decisions each replica keeps in memory for ``GET /v1/decisions/{id}``.
    replica_id : str, optional
        This replica's name in metrics, health and shared state (default: host name and pid).
    seed : int, optional
        Seed of the engine's policy.
    max_body_bytes : int
        Largest request body accepted (413 beyond).
    health_check_interval_s : float
        How often cooled-down models are probed off the request path (0: never).
    store_flush_interval_s, store_outcome_wait_s : float
        The decision log writer's batching (see `DecisionStore`).
    log_level : str
        uvicorn's log level ("info": where it listens; requests are never logged).
    """

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=0, le=65535)
    store: str | None = Field(default=None, min_length=1)
    state: str | None = Field(default=None, min_length=1)
    redis: str | None = Field(default=None, min_length=1, repr=False)
    redis_retire_after_s: float = Field(default=3600.0, gt=0)
    workers: int = Field(default=1, ge=1, le=256)
    embedder: Literal["static", "minilm", "hashing"] | None = None
    service_key_hashes: tuple[str, ...] = ()
    decisions_kept: int = Field(default=10_000, ge=1, le=10_000_000)
    replica_id: str | None = Field(default=None, min_length=1, max_length=128)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    max_body_bytes: int = Field(default=8 * 2**20, ge=1024)
    health_check_interval_s: float = Field(default=10.0, ge=0)
    store_flush_interval_s: float = Field(default=2.0, gt=0)
    store_outcome_wait_s: float = Field(default=30.0, ge=0)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("service_key_hashes", mode="before")
    @classmethod
    def _hashes(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a list of SHA-256 hex digests, not one string")
        if isinstance(value, list | tuple):
            out = []
            for item in value:
                digest = item.strip().lower() if isinstance(item, str) else item
                if not isinstance(digest, str) or not _HEX64.match(digest):
                    raise ValueError("each must be a SHA-256 hex digest (64 hex digits)")
                out.append(digest)
            return tuple(out)
        return value

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class ServeSettings(ServeTable):
    """Everything `banditroute serve` needs: the ``[serve]`` fields and the registry file."""

    config: str = Field(min_length=1)

    @classmethod
    def from_config(
        cls, config: str | Path, env: dict[str, str] | None = None, **overrides: Any
    ) -> ServeSettings:
        """The ``[serve]`` table of ``config``, then ``overrides`` that are not None, plus the
        service keys of `KEYS_ENV` in ``env`` (default: ``os.environ``)."""
        data = read_config(config)
        table = data.get("serve", {})
        if not isinstance(table, dict):
            raise RegistryError(f"{config}: [serve] must be a table")
        fields: dict[str, Any] = {**table, "config": str(config)}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        extra = keys_from_env(os.environ if env is None else env)
        if extra:
            fields["service_key_hashes"] = [*fields.get("service_key_hashes", ()), *extra]
        try:
            return cls(**fields)
        except InvalidInput as exc:
            raise InvalidInput(f"{config}: [serve]: {exc}") from None

    def to_env(self) -> str:
        """The settings as JSON, to hand to worker processes (`SETTINGS_ENV`)."""
        return json.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_env(cls, text: str | None = None) -> ServeSettings:
        """Settings written by `to_env` (default: read from `SETTINGS_ENV`)."""
        text = os.environ.get(SETTINGS_ENV) if text is None else text
        if not text:
            raise InvalidInput(f"{SETTINGS_ENV} is not set: start workers with `banditroute serve`")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"{SETTINGS_ENV} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{SETTINGS_ENV} must hold a JSON object")
        return cls(**data)


def keys_from_env(env: dict[str, str] | os._Environ[str]) -> list[str]:
    """The hashes listed in `KEYS_ENV` (empty when unset).

    >>> keys_from_env({KEYS_ENV: " AB" + "0" * 62 + " ,"})
    ['ab00000000000000000000000000000000000000000000000000000000000000']
    """
    text = env.get(KEYS_ENV, "")
    hashes = [part.strip().lower() for part in text.split(",") if part.strip()]
    for digest in hashes:
        if not _HEX64.match(digest):
            raise InvalidInput(f"{KEYS_ENV} must list SHA-256 hex digests (64 hex digits each)")
    return hashes
