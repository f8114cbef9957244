"""The gateway: calls the models the engine chooses, with failover, guards, caches and learning.

Names are imported lazily (``import banditroute`` stays light: the registry only needs
`Connection`).

>>> from banditroute.gateway import Connection, Gateway
>>> Connection(base_url="http://127.0.0.1:11434/v1").kind, Gateway.__name__
('openai', 'Gateway')
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AllAttemptsFailed",
    "Attempt",
    "Budget",
    "BudgetBook",
    "ChatRequest",
    "ChatResponse",
    "CircuitBreaker",
    "Completion",
    "CompletionFailed",
    "Connection",
    "CostPacer",
    "DeadlineExceeded",
    "ExactCache",
    "Gateway",
    "GatewayConfig",
    "Guards",
    "Message",
    "ProviderError",
    "RateLimiter",
    "RetryPolicy",
    "SemanticCache",
    "StreamChunk",
    "Usage",
]

_HOMES = {
    "AllAttemptsFailed": "errors",
    "Attempt": "completion",
    "Budget": "budget",
    "BudgetBook": "budget",
    "ChatRequest": "messages",
    "ChatResponse": "messages",
    "CircuitBreaker": "breaker",
    "Completion": "completion",
    "CompletionFailed": "attempts",
    "Connection": "connection",
    "CostPacer": "pacing",
    "DeadlineExceeded": "errors",
    "ExactCache": "cache",
    "Gateway": "client",
    "GatewayConfig": "config",
    "Guards": "guards",
    "Message": "messages",
    "ProviderError": "errors",
    "RateLimiter": "ratelimit",
    "RetryPolicy": "retry",
    "SemanticCache": "semantic_cache",
    "StreamChunk": "messages",
    "Usage": "messages",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
