"""What every provider adapter offers (`Provider`, `StreamParser`), and shared JSON helpers.

Adapters are sans-IO: they build an `HttpRequest` and read bytes / server-sent events; the
transport does the network I/O.

>>> from banditroute.gateway.providers.base import HttpRequest, error_text
>>> req = HttpRequest("POST", "https://x/v1/chat", (("authorization", "Bearer s3cret"),), b"{}")
>>> "s3cret" in repr(req)
False
>>> error_text(b'{"error": {"message": "model not found", "code": 404}}')
'model not found'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...text import clean_text
from ..connection import Connection
from ..errors import MalformedResponse, ProviderBadRequest, ProviderError
from ..messages import ChatRequest, ChatResponse, StreamChunk, Usage
from .sse import SSEEvent

__all__ = [
    "HttpRequest",
    "Provider",
    "StreamParser",
    "as_dict",
    "as_list",
    "dump_body",
    "error_text",
    "load_json",
    "make_usage",
    "merge_extra",
    "tool_arguments",
]


@dataclass(frozen=True)
class HttpRequest:
    """A request ready to send; its repr shows header names only (values may hold the key)."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"HttpRequest({self.method} {self.url}, headers=[{names}], {len(self.body)} bytes)"


class StreamParser(Protocol):
    """Reads one streamed answer, event by event."""

    def feed(self, event: SSEEvent) -> list[StreamChunk]:
        """Text chunks carried by ``event``; raises a `ProviderError` for an error event."""
        ...

    def finish(self) -> StreamChunk:
        """The final chunk once the body ended; `MalformedResponse` if the stream was cut."""
        ...


class Provider(Protocol):
    """One chat API, sans-IO."""

    kind: str

    def build_request(
        self,
        connection: Connection,
        request: ChatRequest,
        *,
        model_id: str,
        api_key: str | None,
        stream: bool,
    ) -> HttpRequest:
        """Method, URL, headers and JSON body of the call."""
        ...

    def parse_response(self, body: bytes) -> ChatResponse:
        """A plain (non-streamed) answer; `MalformedResponse` when it cannot be read."""
        ...

    def stream_parser(self) -> StreamParser:
        """A fresh parser for one streamed answer."""
        ...

    def error_class(self, status: int, message: str) -> type[ProviderError] | None:
        """An error class overriding the status mapping (None keeps it)."""
        ...


def load_json(data: bytes | str, what: str = "response body") -> dict[str, Any]:
    """A JSON object, or `MalformedResponse`."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: nested
        raise MalformedResponse(f"{what} is not valid JSON") from None
    return as_dict(value, what)


def as_dict(value: object, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else `MalformedResponse`."""
    if not isinstance(value, dict):
        raise MalformedResponse(f"{what} is not a JSON object")
    return value


def as_list(value: object, what: str) -> list[Any]:
    """``value`` if it is a JSON array, else `MalformedResponse`."""
    if not isinstance(value, list):
        raise MalformedResponse(f"{what} is not a JSON array")
    return value


def make_usage(input_tokens: object, output_tokens: object) -> Usage | None:
    """`Usage` when both counts are plausible token counts (integers in [0, 2**62)), else None:
    usage is optional, and a provider's absurd count must not fail the call."""
    counts = (input_tokens, output_tokens)
    if all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**62 for n in counts):
        return Usage(input_tokens=int(input_tokens), output_tokens=int(output_tokens))  # type: ignore[call-overload]
    return None


def dump_body(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (a lone surrogate in any string becomes U+FFFD: `clean_text`)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return clean_text(text, "request body").encode("utf-8")


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra`` merged in: objects one level deep, anything else replaced, and a
    None value removes the field (e.g. ``max_tokens`` for models that want another name).

    >>> merge_extra({"a": {"x": 1}, "b": 2, "c": 3}, {"a": {"y": 2}, "b": None, "d": 4})
    {'a': {'x': 1, 'y': 2}, 'c': 3, 'd': 4}
    """
    for key, value in extra.items():
        old = body.get(key)
        if value is None:
            body.pop(key, None)
        elif isinstance(old, dict) and isinstance(value, Mapping):
            body[key] = {**old, **value}
        else:
            body[key] = value
    return body


def tool_arguments(arguments: str, call_name: str) -> dict[str, Any]:
    """A tool call's JSON arguments as an object, for APIs that want structured arguments."""
    try:
        value = json.loads(arguments or "{}")
    except (json.JSONDecodeError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise ProviderBadRequest(
            f"tool call {call_name!r} has arguments that are not a JSON object"
        )
    return value


def error_text(body: bytes) -> str:
    """The provider's own error message from an error body (JSON ``error.message`` or the
    text itself), not yet shortened."""
    text = body.decode("utf-8", errors="replace")
    try:
        value: Any = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text
    if isinstance(value, list) and value:  # Gemini sometimes wraps the error in a list
        value = value[0]
    if isinstance(value, dict):
        inner = value.get("error", value)
        if isinstance(inner, dict):
            message = inner.get("message")
            if isinstance(message, str) and message:
                kind = inner.get("type") or inner.get("status")
                return f"{kind}: {message}" if isinstance(kind, str) and kind else message
        elif isinstance(inner, str):
            return inner
    return text
