"""Sans-IO adapters for the three chat APIs, looked up by `Connection.kind`.

>>> from banditroute.gateway.providers import provider_for
>>> [provider_for(k).kind for k in ("openai", "anthropic", "gemini")]
['openai', 'anthropic', 'gemini']
"""

from __future__ import annotations

from ..errors import ProviderBadRequest
from .anthropic import AnthropicProvider
from .base import HttpRequest, Provider, StreamParser
from .gemini import GeminiProvider
from .openai import OpenAIProvider
from .sse import SSEDecoder, SSEEvent

__all__ = [
    "AnthropicProvider",
    "GeminiProvider",
    "HttpRequest",
    "OpenAIProvider",
    "Provider",
    "SSEDecoder",
    "SSEEvent",
    "StreamParser",
    "provider_for",
]

_PROVIDERS: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "anthropic": AnthropicProvider(),
    "gemini": GeminiProvider(),
}


def provider_for(kind: str) -> Provider:
    """The adapter for a connection kind (``openai``, ``anthropic`` or ``gemini``)."""
    try:
        return _PROVIDERS[kind]
    except KeyError:
        raise ProviderBadRequest(
            f"connection kind == {kind!r}, must be one of {sorted(_PROVIDERS)}"
        ) from None
