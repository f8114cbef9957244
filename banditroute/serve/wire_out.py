"""A `Completion` (or its stream's chunks) → the OpenAI wire format, with banditroute's object.

The answer's ``model`` is the model that served it. Each answer carries a ``banditroute``
object: ``decision_id`` (None for a cache hit), ``propensity``, ``attempts`` (model, status
``ok`` / ``failed`` / ``skipped``, error, latency_ms), ``cost_usd``, ``latency_ms`` and
``cache``.

>>> from banditroute.gateway.completion import Attempt, Completion
>>> c = Completion(text="hi", model="m2", cost_usd=0.001, latency_ms=40.0,
...                attempts=(Attempt("m1", 12.0, "ProviderUnavailable: 503"), Attempt("m2", 28.0)))
>>> body = chat_completion(c, created=0)
>>> body["model"], body["choices"][0]["message"]["content"], body["choices"][0]["finish_reason"]
('m2', 'hi', 'stop')
>>> [a["status"] for a in body["banditroute"]["attempts"]]
['failed', 'ok']
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..decision import Decision
    from ..gateway.completion import Attempt, Completion
    from ..gateway.messages import StreamChunk, ToolCall, Usage

__all__ = [
    "attempts_json",
    "banditroute_object",
    "chat_completion",
    "chunk",
    "completion_id",
    "decision_json",
    "usage_json",
]


def completion_id(decision: Decision | None) -> str:
    """``chatcmpl-<decision id>`` (a random id for a cache hit)."""
    return "chatcmpl-" + (decision.id if decision is not None else secrets.token_hex(16))


def attempts_json(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """Every attempt: model, status (ok, failed, skipped), error and latency."""
    return [
        {
            "model": a.model,
            "status": "skipped" if a.skipped else ("ok" if a.ok else "failed"),
            "error": a.error,
            "latency_ms": round(a.latency_ms, 3),
        }
        for a in attempts
    ]


def banditroute_object(c: Completion) -> dict[str, Any]:
    """What banditroute adds to an answer."""
    d = c.decision
    return {
        "decision_id": None if d is None else d.id,
        "decided_model": None if d is None else d.model,
        "propensity": None if d is None else float(d.propensity),
        "attempts": attempts_json(c.attempts),
        "cost_usd": c.cost_usd,
        "latency_ms": round(c.latency_ms, 3),
        "cache": c.cache,
        "usage_estimated": c.usage_estimated,
    }


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    """OpenAI's usage object."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _tool_calls(calls: Sequence[ToolCall], indexed: bool = False) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls):
        item: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        if indexed:
            item["index"] = i
        out.append(item)
    return out


def chat_completion(c: Completion, created: int) -> dict[str, Any]:
    """The ``chat.completion`` object of a served request."""
    message: dict[str, Any] = {"role": "assistant", "content": c.text}
    if c.tool_calls:
        message["tool_calls"] = _tool_calls(c.tool_calls)
        message["content"] = c.text or None
    return {
        "id": completion_id(c.decision),
        "object": "chat.completion",
        "created": created,
        "model": c.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": c.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_json(c.usage),
        "banditroute": banditroute_object(c),
    }


def chunk(
    cid: str,
    created: int,
    model: str,
    part: StreamChunk | None = None,
    *,
    first: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``: ``part``'s delta (none: a chunk without choices)."""
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
    }
    if part is not None:
        delta: dict[str, Any] = {"content": part.text}
        if first:
            delta["role"] = "assistant"
        if part.tool_calls:
            delta["tool_calls"] = _tool_calls(part.tool_calls, indexed=True)
        out["choices"] = [
            {"index": 0, "delta": delta, "finish_reason": part.finish_reason, "logprobs": None}
        ]
    if extra:
        out.update(extra)
    return out


def decision_json(d: Decision) -> dict[str, Any]:
    """A decision as JSON: the choice, every candidate's figures and every exclusion."""
    return {
        "id": d.id,
        "model": d.model,
        "fallbacks": list(d.fallbacks),
        "propensity": float(d.propensity),
        "policy": d.policy,
        "prompt_tokens": d.prompt_tokens,
        "candidates": [
            {"model": c.model, **{k: float(v) for k, v in c._asdict().items() if k != "model"}}
            for c in d.candidates
        ],
        "excluded": dict(d.excluded),
    }
