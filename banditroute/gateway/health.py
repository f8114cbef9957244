"""Active health checks: probe cooled-down models whose cooldown is over, off the request path.

Without checks a cooled-down model is re-admitted by the first real request that probes it;
`check_health` sends a one-token request instead, so no user request pays for a failed probe.
Call it on a schedule (e.g. every few seconds from a background task) or on demand.

>>> import httpx
>>> from banditroute.gateway.breaker import CircuitBreaker
>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.health import check_health
>>> from banditroute.registry import ModelProfile
>>> breaker = CircuitBreaker(failure_threshold=1, cooldown_s=0.0)
>>> breaker.record_failure("m")
>>> ok = {"choices": [{"message": {"content": "."}, "finish_reason": "length"}]}
>>> client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=ok)))
>>> model = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1,
...                      connection=Connection(base_url="http://127.0.0.1:9/v1"))
>>> check_health([model], breaker, client), breaker.state("m")
({'m': None}, 'closed')
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from ..registry import ModelProfile
from .breaker import CircuitBreaker
from .errors import ProviderError
from .messages import ChatRequest
from .transport import send

__all__ = ["check_health"]

_PING = ChatRequest.from_prompt("ping", max_tokens=1)


def check_health(
    models: Iterable[ModelProfile],
    breaker: CircuitBreaker,
    client: httpx.Client,
    timeout_s: float = 10.0,
) -> dict[str, str | None]:
    """Probe every model due for a probe; return model → None (healthy again) or the error."""
    results: dict[str, str | None] = {}
    for model in models:
        if model.connection is None or not breaker.due_for_probe(model.id):
            continue
        if not breaker.acquire(model.id):
            continue
        deadline = time.monotonic() + min(timeout_s, model.connection.timeout_s)
        try:
            send(client, model.connection, _PING, model_id=model.id, deadline=deadline)
        except ProviderError as exc:
            breaker.record_failure(model.id)
            results[model.id] = f"{type(exc).__name__}: {exc}"
        else:
            breaker.record_success(model.id)
            results[model.id] = None
    return results
