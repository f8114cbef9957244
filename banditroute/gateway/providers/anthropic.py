"""Anthropic Messages API: ``POST {base_url}/messages`` (base_url like ``.../v1``).

System turns go to the top-level ``system`` field; ``max_tokens`` is required (1024 is sent when
the request has none); tool calls are ``tool_use`` blocks and tool answers ``tool_result``
blocks in a user turn. The Messages API has no JSON switch: JSON mode adds an instruction (with
the schema, if any) to the system prompt.

>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.messages import ChatRequest
>>> from banditroute.gateway.providers.anthropic import AnthropicProvider
>>> conn = Connection(kind="anthropic", base_url="https://api.anthropic.com/v1")
>>> http = AnthropicProvider().build_request(
...     conn, ChatRequest.from_prompt("hi", system="be kind"), model_id="claude", api_key=None,
...     stream=False)
>>> import json
>>> body = json.loads(http.body)
>>> http.url, body["system"], body["max_tokens"]
('https://api.anthropic.com/v1/messages', 'be kind', 1024)
>>> body["messages"]
[{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}]
"""

from __future__ import annotations

import json
from typing import Any

from ..connection import Connection
from ..errors import (
    MalformedResponse,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderModelNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    excerpt,
)
from ..messages import ChatRequest, ChatResponse, StreamChunk, ToolCall
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    dump_body,
    load_json,
    make_usage,
    merge_extra,
    tool_arguments,
)
from .sse import SSEEvent

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "AnthropicStreamParser",
    "stream_error",
]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES: dict[str, type[ProviderError]] = {
    "rate_limit_error": ProviderRateLimited,
    "authentication_error": ProviderAuthError,
    "permission_error": ProviderAuthError,
    "not_found_error": ProviderModelNotFound,
    "invalid_request_error": ProviderBadRequest,
    "request_too_large": ProviderBadRequest,
}


def _messages(request: ChatRequest) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.append(message.content)
            continue
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.content,
                }
            )
        elif message.content:
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": tool_arguments(call.arguments, call.name),
                }
            )
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:  # tool results of one turn share a user turn
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _count(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def _usage(raw: object) -> tuple[int | None, int | None]:
    """(input, output) tokens; input counts cache writes and reads too."""
    if not isinstance(raw, dict):
        return None, None
    base = _count(raw, "input_tokens")
    cached = (_count(raw, "cache_creation_input_tokens") or 0) + (
        _count(raw, "cache_read_input_tokens") or 0
    )
    return (None if base is None else base + cached), _count(raw, "output_tokens")


def _finish(reason: object) -> str | None:
    if not isinstance(reason, str) or not reason:
        return None
    return _FINISH.get(reason, reason)


def stream_error(data: dict[str, Any]) -> ProviderError:
    """The typed error of an ``error`` event (overloaded / api errors are retryable)."""
    raw = data.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = error.get("type") if isinstance(error.get("type"), str) else "error"
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    cls = _ERROR_TYPES.get(str(kind), ProviderUnavailable)
    return cls(f"error in stream: {excerpt(f'{kind}: {message}')}")


class AnthropicProvider:
    """Adapter for ``/messages``."""

    kind = "anthropic"

    def build_request(
        self,
        connection: Connection,
        request: ChatRequest,
        *,
        model_id: str,
        api_key: str | None,
        stream: bool,
    ) -> HttpRequest:
        """The POST to ``{base_url}/messages``."""
        system, turns = _messages(request)
        fmt = request.response_format
        if fmt is not None:
            note = "Answer with one valid JSON object and nothing else."
            if fmt.json_schema is not None:
                note += " It must match this JSON Schema: " + json.dumps(fmt.json_schema)
            system.append(note)
        body: dict[str, Any] = {
            "model": connection.provider_model(model_id),
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            body["system"] = "\n\n".join(s for s in system if s)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        choice = request.tool_choice
        if choice is not None:
            modes = {
                "auto": {"type": "auto"},
                "none": {"type": "none"},
                "required": {"type": "any"},
            }
            body["tool_choice"] = modes.get(choice, {"type": "tool", "name": choice})
        if stream:
            body["stream"] = True
        merge_extra(body, request.extra)
        headers = [("content-type", "application/json"), ("anthropic-version", ANTHROPIC_VERSION)]
        if api_key:
            headers.append(("x-api-key", api_key))
        if stream:
            headers.append(("accept", "text/event-stream"))
        return HttpRequest(
            "POST", f"{connection.base_url}/messages", tuple(headers), dump_body(body)
        )

    def parse_response(self, body: bytes) -> ChatResponse:
        """A ``message`` object."""
        data = load_json(body)
        if data.get("type") == "error":
            raise stream_error(data)
        text: list[str] = []
        calls: list[ToolCall] = []
        for raw in as_list(data.get("content"), "content"):
            block = as_dict(raw, "content block")
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                text.append(block["text"])
            elif block.get("type") == "tool_use":
                calls.append(_tool_use(block, json.dumps(block.get("input") or {})))
        input_tokens, output_tokens = _usage(data.get("usage"))
        model = data.get("model")
        return ChatResponse(
            text="".join(text),
            tool_calls=tuple(calls),
            finish_reason=_finish(data.get("stop_reason")),
            usage=make_usage(input_tokens, output_tokens),
            provider_model=model if isinstance(model, str) else None,
        )

    def stream_parser(self) -> AnthropicStreamParser:
        """A parser for Messages streaming events."""
        return AnthropicStreamParser()

    def error_class(self, status: int, message: str) -> type[ProviderError] | None:
        """The status mapping is used as is (529 "overloaded" is a 5xx)."""
        return None


def _tool_use(block: dict[str, Any], arguments: str) -> ToolCall:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
        raise MalformedResponse("tool_use block without id or name")
    return ToolCall(id=call_id, name=name, arguments=arguments)


class AnthropicStreamParser:
    """Follows message_start, content_block_*, message_delta, message_stop and error events."""

    def __init__(self) -> None:
        self._blocks: dict[int, dict[str, Any]] = {}
        self._input: int | None = None
        self._output: int | None = None
        self._stop: str | None = None
        self._model: str | None = None
        self._done = False

    def feed(self, event: SSEEvent) -> list[StreamChunk]:
        """Text chunks of one event; an ``error`` event raises its typed error."""
        data = load_json(event.data, "stream event")
        kind = data.get("type", event.event)
        if kind == "error":
            raise stream_error(data)
        if kind == "message_start":
            message = as_dict(data.get("message"), "message_start.message")
            if isinstance(message.get("model"), str):
                self._model = message["model"]
            self._take_usage(message.get("usage"))
        elif kind == "content_block_start":
            block = as_dict(data.get("content_block"), "content_block")
            self._blocks[self._index(data)] = {**block, "partial": []}
            if block.get("type") == "text" and block.get("text"):
                return [StreamChunk(text=str(block["text"]))]
        elif kind == "content_block_delta":
            delta = as_dict(data.get("delta"), "delta")
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                return [StreamChunk(text=delta["text"])] if delta["text"] else []
            if delta.get("type") == "input_json_delta":
                target = self._blocks.get(self._index(data))
                if target is None:
                    raise MalformedResponse("input_json_delta for a block that never started")
                target["partial"].append(str(delta.get("partial_json", "")))
        elif kind == "message_delta":
            change = data.get("delta")
            if isinstance(change, dict) and isinstance(change.get("stop_reason"), str):
                self._stop = change["stop_reason"]
            self._take_usage(data.get("usage"))
        elif kind == "message_stop":
            self._done = True
        return []  # ping, content_block_stop and unknown events carry nothing to show

    @staticmethod
    def _index(data: dict[str, Any]) -> int:
        index = data.get("index")
        if not isinstance(index, int):
            raise MalformedResponse("content block event without an integer index")
        return index

    def _take_usage(self, raw: object) -> None:
        input_tokens, output_tokens = _usage(raw)
        self._input = input_tokens if input_tokens is not None else self._input
        self._output = output_tokens if output_tokens is not None else self._output

    def finish(self) -> StreamChunk:
        """The final chunk (needs message_stop or a stop reason)."""
        if not self._done and self._stop is None:
            raise MalformedResponse("the stream ended before message_stop")
        calls = [
            _tool_use(block, "".join(block["partial"]) or "{}")
            for _, block in sorted(self._blocks.items())
            if block.get("type") == "tool_use"
        ]
        return StreamChunk(
            tool_calls=tuple(calls),
            finish_reason=_finish(self._stop) or "stop",
            usage=make_usage(self._input, self._output),
            provider_model=self._model,
        )
