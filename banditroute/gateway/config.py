"""The gateway's configuration, read from the same TOML / JSON file as the models.

A file holds the models (``[[model]]``, with ``[model.connection]``) and, optionally, the
gateway's tables; `Registry.load` reads the models and leaves these tables to `GatewayConfig`:

.. code-block:: toml

    [gateway]
    timeout_s = 30            # total deadline of one call, retries and fallbacks included
    scorer = "evaluator"      # or "none": the caller feeds back the quality later
    cache = true              # exact cache of deterministic requests (temperature 0)
    cache_ttl_s = 3600

    [gateway.retry]           # banditroute.gateway.RetryPolicy
    max_attempts = 2

    [gateway.breaker]         # banditroute.gateway.CircuitBreaker
    failure_threshold = 5
    cooldown_s = 30

    [preset.ops]              # named Constraints, chosen per call with preset="ops"
    max_cost_usd = 0.001

    [[budget]]                # banditroute.gateway.Budget
    name = "team-a"
    limit_usd = 20
    period = "day"
    tags = ["team-a"]

    [pacing]                  # banditroute.gateway.CostPacer
    target_usd_per_request = 0.002

>>> from banditroute.gateway.config import GatewayConfig
>>> config = GatewayConfig.from_records({"preset": {"ops": {"max_cost_usd": 0.001}},
...                                      "gateway": {"retry": {"max_attempts": 3}}})
>>> config.presets["ops"].max_cost_usd, config.gateway.retry.max_attempts
(0.001, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from .._validation import StrictModel
from ..constraints import Constraints
from ..errors import invalid
from ..registry import GATEWAY_TABLES, read_config
from .breaker import CircuitBreaker
from .budget import Budget, BudgetBook
from .cache import ExactCache
from .guards import Guards
from .pacing import CostPacer
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ..engine import Engine
    from .client import Gateway

__all__ = ["BreakerSettings", "GatewayConfig", "GatewaySettings", "PacingSettings"]


class BreakerSettings(StrictModel):
    """Arguments of `CircuitBreaker`."""

    failure_threshold: int = Field(default=5, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, ge=0)


class PacingSettings(StrictModel):
    """Arguments of `CostPacer`: the ceiling on the mean cost per request."""

    target_usd_per_request: float = Field(gt=0)


class GatewaySettings(StrictModel):
    """The ``[gateway]`` table."""

    timeout_s: float = Field(default=60.0, gt=0)
    scorer: Literal["evaluator", "none"] = "evaluator"
    cache: bool = False
    cache_ttl_s: float = Field(default=3600.0, gt=0)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()


class GatewayConfig(StrictModel):
    """Everything but the models: gateway settings, presets, budgets and pacing."""

    gateway: GatewaySettings = GatewaySettings()
    preset: dict[str, Constraints] = Field(default_factory=dict)
    budget: tuple[Budget, ...] = ()
    pacing: PacingSettings | None = None

    @property
    def presets(self) -> dict[str, Constraints]:
        return self.preset

    @classmethod
    def from_records(cls, data: dict[str, Any]) -> GatewayConfig:
        """From the gateway tables of a file already read (other keys are ignored)."""
        if not isinstance(data, Mapping):
            raise invalid("data", data, "a mapping of the file's tables")
        return cls(**{k: v for k, v in data.items() if k in GATEWAY_TABLES})

    @classmethod
    def load(cls, path: str | Path | None) -> GatewayConfig:
        """Read the gateway tables of a ``.toml`` or ``.json`` registry file (None: defaults)."""
        if path is None:
            return cls()
        return cls.from_records(read_config(path))  # bounded, typed errors: see `read_config`

    def build(self, engine: Engine, **overrides: Any) -> Gateway:
        """A `Gateway` for ``engine`` as configured (keyword arguments override)."""
        from .client import Gateway

        g = self.gateway
        options: dict[str, Any] = {
            "guards": Guards(
                breaker=CircuitBreaker(
                    g.breaker.failure_threshold, g.breaker.window_s, g.breaker.cooldown_s
                ),
                budgets=BudgetBook(list(self.budget)) if self.budget else None,
            ),
            "retry": g.retry,
            "cache": ExactCache(ttl_s=g.cache_ttl_s) if g.cache else None,
            "pacer": None if self.pacing is None else CostPacer(self.pacing.target_usd_per_request),
            "presets": self.preset,
            "scorer": None if g.scorer == "none" else "evaluator",
            "timeout_s": g.timeout_s,
        }
        options.update(overrides)
        return Gateway(engine, **options)
