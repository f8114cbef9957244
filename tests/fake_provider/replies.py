"""Replies ready to send: an error in an API's own format, or an answer, plain or streamed.

A streamed answer is cut into pieces (at most ~256 deltas), put in the API's events and framed
as SSE (Gemini without ``alt=sse``: one JSON array); ``malformed`` cuts one event or the body.

>>> reply = error_reply("gemini", 503, "down", retry_after=0.5)
>>> reply.status, reply.headers, reply.streamed
(503, (('retry-after', '0.5'),), False)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import anthropic_api, gemini_api, openai_api
from .answers import Answer
from .common import Api, Events
from .parsing import Call
from .state import ModelScript

__all__ = ["Reply", "error_reply", "success_reply"]

_PLAIN: dict[Api, Callable[[Call, Answer, str], dict[str, Any]]] = {
    "openai": openai_api.plain,
    "anthropic": anthropic_api.plain,
    "gemini": gemini_api.plain,
}
_EVENTS: dict[Api, Callable[[Call, Answer, str, list[str]], Events]] = {
    "openai": openai_api.events,
    "anthropic": anthropic_api.events,
    "gemini": gemini_api.events,
}
_ERROR_BODY: dict[Api, Callable[[int, str], dict[str, Any]]] = {
    "openai": openai_api.error_body,
    "anthropic": anthropic_api.error_body,
    "gemini": gemini_api.error_body,
}


@dataclass(frozen=True)
class Reply:
    """A status, the body's chunks (sent in order) and the headers of one reply."""

    status: int
    chunks: list[bytes]
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    streamed: bool = False  # SSE: chunked, no Content-Length


def error_reply(api: Api, status: int, message: str, retry_after: float | None = None) -> Reply:
    """An error reply in ``api``'s own error format."""
    body = _ERROR_BODY[api](status, message)
    headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
    return Reply(status, [json.dumps(body).encode()], headers=headers)


def success_reply(call: Call, ans: Answer, rid: str, script: ModelScript, malformed: bool) -> Reply:
    """``ans`` in ``call``'s API format, streamed if asked; ``malformed`` cuts it short."""
    size = max(script.chunk_chars, -(-len(ans.text) // 256))  # at most ~256 deltas
    source = ans.tool[1] if ans.tool else ans.text
    pieces = [source[i : i + size] for i in range(0, len(source), size)]
    if not call.stream:
        body = json.dumps(_PLAIN[call.api](call, ans, rid))
    else:
        events = _EVENTS[call.api](call, ans, rid, pieces)
        if malformed:
            at = min(1, len(events) - 1)
            events[at] = (events[at][0], events[at][1][: len(events[at][1]) // 2])
        if call.sse:
            end = "\r\n\r\n" if call.api == "gemini" else "\n\n"
            chunks = [
                ((f"event: {name}\n" if name else "") + f"data: {data}{end}").encode()
                for name, data in events
            ]
            return Reply(200, chunks, "text/event-stream; charset=utf-8", streamed=True)
        body = "[" + ",\r\n".join(data for _, data in events) + "]"  # Gemini without alt=sse
        malformed = False
    if malformed:
        body = body[: len(body) // 2]
    return Reply(200, [body.encode()])
