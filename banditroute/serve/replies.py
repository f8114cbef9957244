"""Reading a JSON body within a size limit, and writing JSON, error and SSE replies.

>>> json_reply({"ok": True}).body
b'{"ok":true}'
>>> sse({"a": 1})
b'data: {"a":1}\\n\\n'
>>> error_reply(Failure(404, "invalid_request_error", "model_not_found", "no")).status_code
404
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidInput
from .failures import BodyTooLarge, Failure

__all__ = ["DONE", "BodyTooLarge", "error_reply", "json_reply", "read_json", "sse"]

DONE = b"data: [DONE]\n\n"


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode()


def json_reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (compact, ASCII)."""
    return Response(_dumps(data), status, dict(headers or {}), "application/json")


def error_reply(failure: Failure) -> Response:
    """The OpenAI-style error response of a `Failure`."""
    return json_reply(failure.body(), failure.status, failure.headers)


def sse(data: Any) -> bytes:
    """One server-sent event carrying ``data`` as JSON."""
    return b"data: " + _dumps(data) + b"\n\n"


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body; `BodyTooLarge` beyond ``limit`` bytes, `InvalidInput` when it is
    not JSON."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
