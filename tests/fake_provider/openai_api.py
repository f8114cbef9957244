"""The OpenAI chat-completions wire format: plain body, stream chunks, usage and errors.

>>> error_body(429, "slow down")["error"]["code"], FINISH["tool"]
('rate_limit_exceeded', 'tool_calls')
"""

from __future__ import annotations

import json
from typing import Any

from .answers import Answer
from .common import CREATED, Events, Finish
from .parsing import Call

__all__ = ["FINISH", "error_body", "events", "plain", "usage"]

FINISH: dict[Finish, str] = {"stop": "stop", "length": "length", "tool": "tool_calls"}
_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def usage(ans: Answer) -> dict[str, int]:
    """The ``usage`` object of a reply."""
    total = ans.input_tokens + ans.output_tokens
    return {
        "prompt_tokens": ans.input_tokens,
        "completion_tokens": ans.output_tokens,
        "total_tokens": total,
    }


def plain(call: Call, ans: Answer, rid: str) -> dict[str, Any]:
    """The body of a non-streaming reply."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": ans.text,
        "refusal": None,
    }
    if ans.tool:
        function = {"name": ans.tool[0], "arguments": ans.tool[1]}
        message["content"] = None
        message["tool_calls"] = [{"id": f"call_{rid}", "type": "function", "function": function}]
    body: dict[str, Any] = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": CREATED,
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH[ans.finish],
            }
        ],
    }
    if ans.usage:
        body["usage"] = usage(ans)
    return body


def events(call: Call, ans: Answer, rid: str, pieces: list[str]) -> Events:
    """The SSE events of a streaming reply, one chunk per piece of text, then ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        out: dict[str, Any] = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": call.model,
            "choices": [choice],
        }
        if call.include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": ""})]
    if ans.tool:
        head = {"index": 0, "id": f"call_{rid}", "type": "function"}
        head["function"] = {"name": ans.tool[0], "arguments": ""}
        chunks.append(chunk({"tool_calls": [head]}))
        chunks += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces
        ]
    else:
        chunks += [chunk({"content": p}) for p in pieces]
    chunks.append(chunk({}, FINISH[ans.finish]))
    if call.include_usage and ans.usage:
        chunks.append({**chunk({}), "choices": [], "usage": usage(ans)})
    events: Events = [(None, json.dumps(c)) for c in chunks]
    return [*events, (None, "[DONE]")]


def error_body(status: int, message: str) -> dict[str, Any]:
    """The body of an error reply with ``status``."""
    default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    kind, code = _ERRORS.get(status, default)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
