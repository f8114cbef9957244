"""The sans-IO state of one provider call, shared by the sync and async transports.

An `Exchange` builds the HTTP request (reading the API key from the environment now), takes the
status line and body bytes as they arrive, bounds their size, turns error statuses into typed
errors and maps any I/O exception to a `ProviderError`. The transport only moves bytes.

>>> import httpx
>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.exchange import Exchange
>>> from banditroute.gateway.messages import ChatRequest
>>> ex = Exchange(Connection(base_url="http://127.0.0.1:9"), ChatRequest.from_prompt("hi"),
...               model_id="m", deadline=float("inf"), stream=False)
>>> ex.start(429, httpx.Headers({"retry-after": "3"}))
>>> _ = ex.feed(b'{"error": {"message": "too many requests"}}')
>>> err = ex.failure(EOFError())  # whatever ends the call, the status is what counts
>>> type(err).__name__, err.retry_after_s, str(err)
('ProviderRateLimited', 3.0, 'm: HTTP 429: too many requests')
"""

from __future__ import annotations

import time
import zlib
from typing import Literal

import httpx

from .connection import Connection
from .errors import (
    DeadlineExceeded,
    MalformedResponse,
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
    excerpt,
    parse_retry_after,
)
from .messages import ChatRequest, ChatResponse, StreamChunk
from .providers import provider_for
from .providers.base import StreamParser, error_text
from .providers.sse import SSEDecoder

__all__ = ["MAX_BODY_BYTES", "MAX_ERROR_BODY_BYTES", "Exchange"]

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
_CLOCK_SLACK_S = 0.005  # socket timeouts may fire a hair before the cutoff
_IO_ERRORS = (httpx.HTTPError, httpx.StreamError, OSError, TimeoutError, EOFError)


class Exchange:
    """One call: request building, response reading and error mapping, without I/O.

    Parameters
    ----------
    connection, request : Connection, ChatRequest
        Where to send what.
    model_id : str
        Registry id (named in every error; the provider model name unless the connection has one).
    deadline : float
        Absolute ``time.monotonic()`` by which the call must end; the call also ends
        ``connection.timeout_s`` after it starts (`ProviderTimeout` instead of `DeadlineExceeded`).
    stream : bool
        Ask for server-sent events.
    """

    def __init__(
        self,
        connection: Connection,
        request: ChatRequest,
        *,
        model_id: str,
        deadline: float,
        stream: bool,
    ) -> None:
        self.model_id = model_id
        self.deadline = deadline
        self.timeout_s = connection.timeout_s
        self.cutoff = min(deadline, time.monotonic() + connection.timeout_s)
        self.expired = False  # set by a watchdog that ended the call at the cutoff
        self.stream = stream
        self.status: int | None = None
        try:
            self.provider = provider_for(connection.kind)
            self._secret = connection.read_api_key(model_id)
            self.http = self.provider.build_request(
                connection, request, model_id=model_id, api_key=self._secret, stream=stream
            )
        except ProviderError as exc:
            exc.model = exc.model or model_id
            raise
        self._mode: Literal["error", "plain", "stream"] = "plain"
        self._body = bytearray()
        self._limit = MAX_BODY_BYTES
        self._retry_after: float | None = None
        self._inflate: zlib._Decompress | None = None
        self._sse = SSEDecoder()
        self._parser: StreamParser = self.provider.stream_parser()

    # -- time ----------------------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds left before the cutoff; raises the expiry error when none are."""
        left = self.cutoff - time.monotonic()
        if left <= 0:
            raise self.expiry()
        return left

    def expiry(self) -> ProviderError:
        """`ProviderTimeout` if the connection's ``timeout_s`` ran out first, else
        `DeadlineExceeded`."""
        if self.cutoff < self.deadline:
            return ProviderTimeout(
                f"no complete answer within timeout_s={self.timeout_s:g}", model=self.model_id
            )
        return DeadlineExceeded(
            "the call's deadline passed before the answer was complete", model=self.model_id
        )

    def build(
        self, client: httpx.Client | httpx.AsyncClient, **extensions: object
    ) -> httpx.Request:
        """The httpx request, every timeout set to the time left."""
        left = self.remaining()
        headers = dict(self.http.headers)
        headers["accept-encoding"] = "identity"
        return client.build_request(
            self.http.method,
            self.http.url,
            headers=headers,
            content=self.http.body,
            timeout=httpx.Timeout(left),
            extensions=extensions or None,
        )

    # -- response ------------------------------------------------------------------------------
    def start(self, status: int, headers: httpx.Headers) -> None:
        """Take the status line and headers; decides how the body is read."""
        self.status = status
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "deflate", "x-gzip"):
            self._inflate = zlib.decompressobj(47)  # gzip or zlib, detected
        elif encoding not in ("", "identity"):
            raise MalformedResponse(f"unsupported content-encoding {encoding!r}")
        if not 200 <= status < 300:
            self._mode, self._limit = "error", MAX_ERROR_BODY_BYTES
            retry_after = parse_retry_after(headers.get("retry-after"))
            millis = parse_retry_after(headers.get("retry-after-ms"))
            self._retry_after = retry_after if millis is None else millis / 1000.0
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise MalformedResponse(f"response body of {length} bytes is over {MAX_BODY_BYTES}")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        json_body = media == "application/json" or media.endswith("+json")
        self._mode = "stream" if self.stream and not json_body else "plain"

    def feed(self, data: bytes) -> list[StreamChunk]:
        """Take body bytes; returns the stream chunks they complete (none for a plain call)."""
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data, MAX_BODY_BYTES + 1)
            except zlib.error:
                raise MalformedResponse("response body does not decompress") from None
            if len(data) > MAX_BODY_BYTES or self._inflate.unconsumed_tail:
                raise MalformedResponse(f"response body is over {MAX_BODY_BYTES} bytes")
        if self._mode == "stream":
            chunks: list[StreamChunk] = []
            for event in self._sse.feed(data):
                chunks.extend(self._parser.feed(event))
            return chunks
        room = self._limit - len(self._body)
        if len(data) > room:
            if self._mode == "error":
                self._body += data[:room]
                raise self.status_error()
            raise MalformedResponse(f"response body is over {MAX_BODY_BYTES} bytes")
        self._body += data
        return []

    def _flush(self) -> list[StreamChunk]:
        if self._inflate is None:
            return []
        inflate, self._inflate = self._inflate, None
        try:
            rest = inflate.flush()
        except zlib.error:
            raise MalformedResponse("response body does not decompress") from None
        return self.feed(rest) if rest else []

    def finish_plain(self) -> ChatResponse:
        """The answer once the body ended (or the typed error of an error status)."""
        self._flush()
        if self._mode == "error":
            raise self.status_error()
        return self.provider.parse_response(bytes(self._body))

    def finish_stream(self) -> list[StreamChunk]:
        """The last chunks once the body ended; the final one has ``finish_reason`` set."""
        chunks = self._flush()
        if self._mode == "error":
            raise self.status_error()
        if self._mode == "plain":  # the server answered a stream request with plain JSON
            whole = self.provider.parse_response(bytes(self._body))
            last = StreamChunk(
                tool_calls=whole.tool_calls,
                finish_reason=whole.finish_reason or "stop",
                usage=whole.usage,
                provider_model=whole.provider_model,
            )
            return [StreamChunk(text=whole.text), last] if whole.text else [last]
        for event in self._sse.flush():
            chunks.extend(self._parser.feed(event))
        chunks.append(self._parser.finish())
        return chunks

    def status_error(self) -> ProviderError:
        """The typed error of the error status, with an excerpt of the body read so far."""
        assert self.status is not None
        message = excerpt(error_text(bytes(self._body)), self._secret)
        return error_for_status(
            self.status,
            message,
            model=self.model_id,
            retry_after_s=self._retry_after,
            error_class=self.provider.error_class(self.status, message),
        )

    # -- failures ------------------------------------------------------------------------------
    def failure(self, exc: BaseException) -> ProviderError | None:
        """The `ProviderError` that ``exc`` means for this call (None: not an I/O failure, let
        it propagate)."""
        error: ProviderError
        if isinstance(exc, ProviderError):  # a body cut by the watchdog reads as malformed
            error = self.expiry() if self.expired and isinstance(exc, MalformedResponse) else exc
        elif not isinstance(exc, _IO_ERRORS):
            return None
        elif self._mode == "error" and self.status is not None:
            error = self.status_error()  # the status is known; the body was cut short
        elif (
            self.expired
            or isinstance(exc, TimeoutError)  # only the async cancel scope raises the builtin one
            or time.monotonic() >= self.cutoff - _CLOCK_SLACK_S
        ):
            error = self.expiry()
        elif isinstance(exc, httpx.TimeoutException):
            error = ProviderTimeout(self._describe(exc))
        elif isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            error = ProviderBadRequest(self._describe(exc))
        elif isinstance(exc, httpx.DecodingError):
            error = MalformedResponse(self._describe(exc))
        else:
            error = ProviderUnavailable(self._describe(exc))
        if error.model is None:
            error.model = self.model_id
        if self._secret and self._secret in error.message:
            error.message = error.message.replace(self._secret, "[redacted]")
            error.args = (error.message,)
        return error

    def _describe(self, exc: BaseException) -> str:
        detail = excerpt(str(exc), self._secret)
        return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
