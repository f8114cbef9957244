"""Network I/O of provider calls: `send` / `asend` (whole answers), `stream` / `astream` (chunks).

``deadline`` is an absolute ``time.monotonic()``; a call ends by it (or by the connection's
``timeout_s``, whichever comes first), also against a server that trickles bytes. Async calls
run under an anyio cancel scope. Sync calls set every httpx timeout to the time left, check the
clock after every chunk, and a watchdog timer shuts the connection's socket down at the cutoff
so a blocked read returns at once (HTTP/1.1; on a reused pooled connection the socket is known
from the response headers on, so a server trickling its headers is bounded by the per-read
timeout instead). Every failure is raised as a typed `ProviderError`.

>>> import time, httpx
>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.messages import ChatRequest
>>> from banditroute.gateway.transport import send
>>> reply = {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}],
...          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
>>> client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=reply)))
>>> answer = send(client, Connection(base_url="http://127.0.0.1:8000/v1"),
...               ChatRequest.from_prompt("hi"), model_id="m", deadline=time.monotonic() + 5)
>>> answer.text, answer.usage.output_tokens
('hello', 1)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterator
from types import TracebackType
from typing import Any, NoReturn

import anyio
import httpx

from .connection import Connection
from .exchange import Exchange
from .messages import ChatRequest, ChatResponse, StreamChunk

__all__ = ["asend", "astream", "send", "stream"]

_CLOSE_GRACE_S = 0.05  # closing a response never waits on the peer for longer than this
_WATCHED_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class _Watchdog:
    """Shuts the call's socket down at the cutoff so that a blocked read returns (sync only).

    The shutdown happens under a lock and never after `finish`, which the transport calls
    before the response is closed (and its connection returned to the pool).
    """

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._fired = False
        self._done = False
        delay = max(0.0, exchange.cutoff - time.monotonic())
        self._timer = threading.Timer(delay, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` hook: learns the socket of a new connection."""
        if event in _WATCHED_EVENTS:
            self._watch(info.get("return_value"))

    def watch_response(self, response: httpx.Response) -> None:
        """Learn the socket from the response (also for a reused pooled connection)."""
        if response.http_version not in ("HTTP/1.1", "HTTP/1.0"):
            with self._lock:  # a multiplexed connection is shared: never shut it down
                self._socket = None
            return
        self._watch(response.extensions.get("network_stream"))

    def _watch(self, stream: object) -> None:
        get_extra_info = getattr(stream, "get_extra_info", None)
        sock = get_extra_info("socket") if callable(get_extra_info) else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if self._done:
                return
            self._socket = sock
            if self._fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._fired = True
            self._exchange.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed
                self._socket.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        """The call is over: the socket is left alone from now on."""
        with self._lock:
            self._done = True
        self._timer.cancel()


def _raise(exchange: Exchange, exc: Exception) -> NoReturn:
    error = exchange.failure(exc)
    if error is None:
        raise exc
    if error is exc:
        raise error
    raise error from exc


def _sync_body(response: httpx.Response) -> Iterator[bytes]:
    body = response.stream
    if not isinstance(body, httpx.SyncByteStream):
        raise TypeError("send() and stream() need an httpx.Client, not an AsyncClient")
    yield from body  # raw bytes; the response is closed by the caller, after the watchdog


async def _async_body(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    body = response.stream
    if not isinstance(body, httpx.AsyncByteStream):
        raise TypeError("asend() and astream() need an httpx.AsyncClient, not a Client")
    async for data in body:
        yield data


def send(
    client: httpx.Client,
    connection: Connection,
    request: ChatRequest,
    *,
    model_id: str,
    deadline: float,
) -> ChatResponse:
    """Call the model and return its whole answer; raises a typed `ProviderError`.

    Parameters
    ----------
    client : httpx.Client
        Shared client (connection pool); its own timeouts are replaced per call.
    connection, request : Connection, ChatRequest
        Where to send what.
    model_id : str
        Registry id of the model (in errors; the provider model name by default).
    deadline : float
        Absolute ``time.monotonic()`` by which the call ends (`DeadlineExceeded` otherwise).
    """
    exchange = Exchange(connection, request, model_id=model_id, deadline=deadline, stream=False)
    with _Watchdog(exchange) as watchdog:
        try:
            built = exchange.build(client, trace=watchdog.trace)
            response = client.send(built, stream=True)
            try:
                watchdog.watch_response(response)
                exchange.remaining()
                exchange.start(response.status_code, response.headers)
                for data in _sync_body(response):
                    exchange.feed(data)
                    exchange.remaining()
            finally:
                watchdog.finish()
                response.close()
            return exchange.finish_plain()
        except Exception as exc:
            _raise(exchange, exc)


def stream(
    client: httpx.Client,
    connection: Connection,
    request: ChatRequest,
    *,
    model_id: str,
    deadline: float,
) -> Generator[StreamChunk, None, None]:
    """Call the model and yield its answer as it arrives; the last chunk has ``finish_reason``.

    Same parameters as `send`; the deadline covers the whole stream, including the time the
    consumer spends between chunks. Close the iterator to stop early.
    """
    exchange = Exchange(connection, request, model_id=model_id, deadline=deadline, stream=True)
    with _Watchdog(exchange) as watchdog:
        try:
            response = client.send(exchange.build(client, trace=watchdog.trace), stream=True)
            try:
                watchdog.watch_response(response)
                exchange.remaining()
                exchange.start(response.status_code, response.headers)
                for data in _sync_body(response):
                    chunks = exchange.feed(data)
                    exchange.remaining()
                    yield from chunks
            finally:
                watchdog.finish()
                response.close()
            yield from exchange.finish_stream()
        except Exception as exc:
            _raise(exchange, exc)


async def asend(
    client: httpx.AsyncClient,
    connection: Connection,
    request: ChatRequest,
    *,
    model_id: str,
    deadline: float,
) -> ChatResponse:
    """Async `send` (httpx.AsyncClient, asyncio or trio); the whole call runs under one
    cancel scope that ends at the deadline."""
    exchange = Exchange(connection, request, model_id=model_id, deadline=deadline, stream=False)
    try:
        with anyio.fail_after(exchange.remaining()):
            response = await client.send(exchange.build(client), stream=True)
            try:
                exchange.start(response.status_code, response.headers)
                async for data in _async_body(response):
                    exchange.feed(data)
            finally:
                with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
                    await response.aclose()
        return exchange.finish_plain()
    except Exception as exc:
        _raise(exchange, exc)


async def astream(
    client: httpx.AsyncClient,
    connection: Connection,
    request: ChatRequest,
    *,
    model_id: str,
    deadline: float,
) -> AsyncGenerator[StreamChunk, None]:
    """Async `stream`; each wait for bytes runs under a cancel scope ending at the deadline.

    Close it early with ``aclose()`` (e.g. ``contextlib.aclosing``) to free the connection.
    """
    exchange = Exchange(connection, request, model_id=model_id, deadline=deadline, stream=True)
    response: httpx.Response | None = None
    body: AsyncGenerator[bytes, None] | None = None
    try:
        with anyio.fail_after(exchange.remaining()):
            response = await client.send(exchange.build(client), stream=True)
        exchange.start(response.status_code, response.headers)
        body = _async_body(response)
        while True:
            with anyio.fail_after(exchange.remaining()):
                data = await anext(body, None)
            if data is None:
                break
            for chunk in exchange.feed(data):
                yield chunk
        for chunk in exchange.finish_stream():
            yield chunk
    except Exception as exc:
        _raise(exchange, exc)
    finally:
        with anyio.move_on_after(_CLOSE_GRACE_S, shield=True):
            if body is not None:
                await body.aclose()
            if response is not None:
                await response.aclose()
