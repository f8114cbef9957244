"""The Gemini generateContent wire format: plain body, stream chunks, usage and errors.

>>> error_body(503, "down")["error"]["status"], FINISH["length"]
('UNAVAILABLE', 'MAX_TOKENS')
"""

from __future__ import annotations

import json
from typing import Any

from .answers import Answer
from .common import Events, Finish
from .parsing import Call

__all__ = ["FINISH", "error_body", "events", "plain", "usage"]

FINISH: dict[Finish, str] = {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def usage(ans: Answer) -> dict[str, int]:
    """The ``usageMetadata`` object of a reply."""
    total = ans.input_tokens + ans.output_tokens
    return {
        "promptTokenCount": ans.input_tokens,
        "candidatesTokenCount": ans.output_tokens,
        "totalTokenCount": total,
    }


def _chunk(call: Call, rid: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    return {"candidates": [candidate], "modelVersion": call.model, "responseId": rid}


def _finish(ans: Answer, chunk: dict[str, Any]) -> dict[str, Any]:
    chunk["candidates"][0]["finishReason"] = FINISH[ans.finish]
    if ans.usage:
        chunk["usageMetadata"] = usage(ans)
    return chunk


def _parts(ans: Answer) -> list[dict[str, Any]]:
    if ans.tool:
        return [{"functionCall": {"name": ans.tool[0], "args": json.loads(ans.tool[1])}}]
    return [{"text": ans.text}]


def plain(call: Call, ans: Answer, rid: str) -> dict[str, Any]:
    """The body of a non-streaming reply."""
    return _finish(ans, _chunk(call, rid, _parts(ans)))


def events(call: Call, ans: Answer, rid: str, pieces: list[str]) -> Events:
    """The chunks of a streaming reply, one per piece of text; the last one finishes."""
    parts = [_parts(ans)] if ans.tool else [[{"text": p}] for p in pieces or [""]]
    chunks = [_chunk(call, rid, p) for p in parts]
    _finish(ans, chunks[-1])
    return [(None, json.dumps(c)) for c in chunks]


def error_body(status: int, message: str) -> dict[str, Any]:
    """The body of an error reply with ``status``."""
    name = _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}
