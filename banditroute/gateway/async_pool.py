"""The gateway's default async connection pool: httpx over aiohttp's connector under asyncio.

At hundreds of requests in flight, httpx's own async pool (httpcore) delays a few percent of
calls by tenths of a second (it re-scans its connections and queue on every event, cf.
encode/httpx#3215); with sub-second attempt deadlines those delays look like provider timeouts,
trip the circuit breakers of healthy models and collapse throughput. aiohttp's connector does
not have the problem, so under asyncio the gateway's async client keeps httpx's API (deadlines,
typed errors, streaming) over `httpx_aiohttp.AiohttpTransport`. Under another event loop (trio)
or without ``httpx-aiohttp`` installed, httpx's own pool is used.

>>> import asyncio
>>> async def kind() -> str:
...     client = make_async_client()
...     name = type(client._transport).__name__
...     await client.aclose()
...     return name
>>> asyncio.run(kind())
'AiohttpTransport'
"""

from __future__ import annotations

import httpx
import sniffio  # installed with httpx (through anyio)

__all__ = ["ASYNC_LIMITS", "make_async_client"]

#: connections the default async client may open, and keep alive between calls
ASYNC_LIMITS = httpx.Limits(
    max_connections=2000, max_keepalive_connections=500, keepalive_expiry=15
)
#: connections to one host (a provider) at once: more only queue at the server's accept
PER_HOST = 500


def make_async_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over ``transport``, or over the best default pool for the
    running event loop (call it inside the loop that will use it)."""
    if transport is None:
        transport = _aiohttp_transport()
    return httpx.AsyncClient(transport=transport, limits=ASYNC_LIMITS)


def _aiohttp_transport() -> httpx.AsyncBaseTransport | None:
    try:
        if sniffio.current_async_library() != "asyncio":
            return None
    except sniffio.AsyncLibraryNotFoundError:
        pass  # not inside a loop: the client is made for asyncio, the usual case
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:  # pragma: no cover - httpx-aiohttp is a dependency
        return None
    import aiohttp

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=ASYNC_LIMITS.max_connections or 0,
            limit_per_host=PER_HOST,
            keepalive_timeout=ASYNC_LIMITS.keepalive_expiry,
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector)

    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        limits=ASYNC_LIMITS, trust_env=False, client=session
    )
    return transport
