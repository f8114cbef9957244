"""The Anthropic messages wire format: plain body, stream events and errors.

>>> error_body(529, "busy")["error"]["type"], FINISH["length"]
('overloaded_error', 'max_tokens')
"""

from __future__ import annotations

import json
from typing import Any

from .answers import Answer
from .common import Events, Finish
from .parsing import Call

__all__ = ["FINISH", "error_body", "events", "plain"]

FINISH: dict[Finish, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool": "tool_use",
}
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _block(ans: Answer, rid: str) -> dict[str, Any]:
    if ans.tool:
        return {
            "type": "tool_use",
            "id": f"toolu_{rid}",
            "name": ans.tool[0],
            "input": {},
        }
    return {"type": "text", "text": ""}


def plain(call: Call, ans: Answer, rid: str) -> dict[str, Any]:
    """The body of a non-streaming reply."""
    block = _block(ans, rid)
    block.update({"input": json.loads(ans.tool[1])} if ans.tool else {"text": ans.text})
    body: dict[str, Any] = {
        "id": f"msg_{rid}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [block],
        "stop_reason": FINISH[ans.finish],
        "stop_sequence": None,
    }
    if ans.usage:
        body["usage"] = {
            "input_tokens": ans.input_tokens,
            "output_tokens": ans.output_tokens,
        }
    return body


def events(call: Call, ans: Answer, rid: str, pieces: list[str]) -> Events:
    """The named SSE events of a streaming reply, one delta per piece of text."""
    message = {**plain(call, ans, rid), "content": [], "stop_reason": None}
    if ans.usage:
        message["usage"] = {"input_tokens": ans.input_tokens, "output_tokens": 1}
    kind, key = ("input_json_delta", "partial_json") if ans.tool else ("text_delta", "text")
    final: dict[str, Any] = {"stop_reason": FINISH[ans.finish], "stop_sequence": None}
    items: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": _block(ans, rid)},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: p}}
            for p in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": final},
        {"type": "message_stop"},
    ]
    if ans.usage:
        items[-2]["usage"] = {"output_tokens": ans.output_tokens}
    return [(e["type"], json.dumps(e)) for e in items]


def error_body(status: int, message: str) -> dict[str, Any]:
    """The body of an error reply with ``status``."""
    kind = _ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
