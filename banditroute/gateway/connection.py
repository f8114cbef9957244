"""How to reach one model: API kind, base URL, provider model name, where its key lives.

A `Connection` holds the NAME of the environment variable with the API key, never the key; the
key is read at call time. This module imports only the standard library and pydantic.

>>> from banditroute.gateway.connection import Connection
>>> c = Connection(kind="anthropic", base_url="https://api.anthropic.com/v1/",
...                api_key_env="ANTHROPIC_API_KEY")
>>> c.base_url, c.provider_model("claude-x"), c.timeout_s
('https://api.anthropic.com/v1', 'claude-x', 60.0)
"""

from __future__ import annotations

import math
import os
import re
from typing import Literal

from pydantic import Field, field_validator

from .._validation import StrictModel
from .errors import ProviderAuthError

__all__ = ["Connection", "ConnectionKind"]

ConnectionKind = Literal["openai", "anthropic", "gemini"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Connection(StrictModel):
    """Where and how to call one model.

    Parameters
    ----------
    kind : {"openai", "anthropic", "gemini"}
        The API spoken: OpenAI-compatible chat completions (also vLLM, Ollama, OpenRouter, ...),
        Anthropic Messages or Google Gemini ``generateContent``.
    base_url : str
        ``http(s)://`` URL the API paths are appended to, e.g. ``https://api.openai.com/v1``;
        a trailing slash is dropped.
    model_name : str, optional
        The provider's own model name; None means the registry id.
    api_key_env : str, optional
        Name of the environment variable holding the API key; None sends no key (local servers).
    timeout_s : float
        Longest one call may take, start to last byte (default 60 s).
    """

    kind: ConnectionKind = "openai"
    base_url: str = Field(min_length=1)
    model_name: str | None = Field(default=None, min_length=1)
    api_key_env: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must start with http:// or https:// and name a host")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("api_key_env must be an environment variable NAME (letters, _, 0-9)")
        return value

    @field_validator("timeout_s")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("timeout_s must be finite")
        return value

    def provider_model(self, model_id: str) -> str:
        """The model name sent to the provider: ``model_name`` or else the registry id."""
        return self.model_name or model_id

    def read_api_key(self, model_id: str | None = None) -> str | None:
        """The API key from the environment now; None when ``api_key_env`` is None.

        Raises `ProviderAuthError` naming the variable (never a value) when it is unset or empty.
        """
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ProviderAuthError(
                f"environment variable {self.api_key_env} (the API key) is not set",
                model=model_id,
            )
        return key
