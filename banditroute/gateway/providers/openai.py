"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, OpenRouter, Together, ...).

``POST {base_url}/chat/completions`` with ``Authorization: Bearer``; streaming asks for
``stream_options.include_usage`` so the last event before ``data: [DONE]`` carries the usage.

>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.messages import ChatRequest
>>> from banditroute.gateway.providers.openai import OpenAIProvider
>>> conn = Connection(base_url="http://127.0.0.1:11434/v1", model_name="llama3")
>>> http = OpenAIProvider().build_request(conn, ChatRequest.from_prompt("hi"), model_id="m",
...                                       api_key=None, stream=False)
>>> http.url
'http://127.0.0.1:11434/v1/chat/completions'
>>> http.body
b'{"model":"llama3","messages":[{"role":"user","content":"hi"}]}'
"""

from __future__ import annotations

import json
from typing import Any

from ..connection import Connection
from ..errors import MalformedResponse, ProviderError, ProviderUnavailable, excerpt
from ..messages import ChatRequest, ChatResponse, Message, StreamChunk, ToolCall
from .base import (
    HttpRequest,
    as_dict,
    as_list,
    dump_body,
    error_text,
    load_json,
    make_usage,
    merge_extra,
)
from .sse import SSEEvent

__all__ = ["OpenAIProvider", "OpenAIStreamParser"]


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    elif message.name:
        out["name"] = message.name
    return out


def _content_text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some compatible servers send content parts
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    raise MalformedResponse("message.content is neither text nor a list of parts")


def _tool_call(raw: object, index: int) -> ToolCall:
    call = as_dict(raw, "tool call")
    function = as_dict(call.get("function"), "tool call function")
    name, arguments = function.get("name"), function.get("arguments", "{}")
    if not isinstance(name, str) or not name:
        raise MalformedResponse("tool call without a function name")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    call_id = call.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
        name=name,
        arguments=arguments,
    )


class OpenAIProvider:
    """Adapter for ``/chat/completions``."""

    kind = "openai"

    def build_request(
        self,
        connection: Connection,
        request: ChatRequest,
        *,
        model_id: str,
        api_key: str | None,
        stream: bool,
    ) -> HttpRequest:
        """The POST to ``{base_url}/chat/completions``."""
        body: dict[str, Any] = {
            "model": connection.provider_model(model_id),
            "messages": [_message(m) for m in request.messages],
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        choice = request.tool_choice
        if choice is not None:
            named = {"type": "function", "function": {"name": choice}}
            body["tool_choice"] = choice if choice in ("auto", "none", "required") else named
        fmt = request.response_format
        if fmt is not None and fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif fmt is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.json_schema},
            }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        merge_extra(body, request.extra)
        headers = [("content-type", "application/json")]
        if api_key:
            headers.append(("authorization", f"Bearer {api_key}"))
        if stream:
            headers.append(("accept", "text/event-stream"))
        return HttpRequest(
            "POST", f"{connection.base_url}/chat/completions", tuple(headers), dump_body(body)
        )

    def parse_response(self, body: bytes) -> ChatResponse:
        """A ``chat.completion`` object."""
        data = load_json(body)
        choices = as_list(data.get("choices"), "choices")
        if not choices:
            raise MalformedResponse("the response has no choices")
        choice = as_dict(choices[0], "choices[0]")
        message = as_dict(choice.get("message"), "choices[0].message")
        calls = message.get("tool_calls") or []
        tool_calls = tuple(_tool_call(c, i) for i, c in enumerate(as_list(calls, "tool_calls")))
        usage = data.get("usage")
        model = data.get("model")
        return ChatResponse(
            text=_content_text(message.get("content")),
            tool_calls=tool_calls,
            finish_reason=_finish(choice.get("finish_reason"), bool(tool_calls)),
            usage=make_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
            if isinstance(usage, dict)
            else None,
            provider_model=model if isinstance(model, str) else None,
        )

    def stream_parser(self) -> OpenAIStreamParser:
        """A parser for ``chat.completion.chunk`` events."""
        return OpenAIStreamParser()

    def error_class(self, status: int, message: str) -> type[ProviderError] | None:
        """The status mapping is used as is."""
        return None


def _finish(reason: object, has_tool_calls: bool) -> str | None:
    if not isinstance(reason, str) or not reason:
        return "tool_calls" if has_tool_calls else None
    return "tool_calls" if reason == "function_call" else reason


class OpenAIStreamParser:
    """Accumulates text deltas, tool-call deltas (by index), finish reason and usage."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Any = None
        self._model: str | None = None
        self._done = False

    def feed(self, event: SSEEvent) -> list[StreamChunk]:
        """Text chunks of one ``data:`` event; ``[DONE]`` ends the stream."""
        if self._done:
            return []
        if event.data.strip() == "[DONE]":
            self._done = True
            return []
        data = load_json(event.data, "stream event")
        if "error" in data:
            raise ProviderUnavailable(
                f"error in stream: {excerpt(error_text(event.data.encode()))}"
            )
        if isinstance(data.get("model"), str):
            self._model = data["model"]
        if isinstance(data.get("usage"), dict):
            self._usage = data["usage"]
        chunks: list[StreamChunk] = []
        for raw in as_list(data.get("choices") or [], "choices"):
            choice = as_dict(raw, "choice")
            if choice.get("index", 0) != 0:
                continue
            delta = as_dict(choice.get("delta") or {}, "delta")
            text = _content_text(delta.get("content"))
            if text:
                chunks.append(StreamChunk(text=text))
            for call in as_list(delta.get("tool_calls") or [], "tool_calls delta"):
                self._add_call_delta(as_dict(call, "tool call delta"))
            if isinstance(choice.get("finish_reason"), str):
                self._finish = choice["finish_reason"]
        return chunks

    def _add_call_delta(self, delta: dict[str, Any]) -> None:
        index = delta.get("index", len(self._calls))
        if not isinstance(index, int):
            raise MalformedResponse("tool call delta with a non-integer index")
        slot = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if isinstance(delta.get("id"), str):
            slot["id"] = delta["id"]
        function = delta.get("function") or {}
        if isinstance(function, dict):
            if isinstance(function.get("name"), str):
                slot["name"] += function["name"]
            if isinstance(function.get("arguments"), str):
                slot["arguments"].append(function["arguments"])

    def finish(self) -> StreamChunk:
        """The final chunk (needs ``[DONE]`` or a finish reason)."""
        if not self._done and self._finish is None:
            raise MalformedResponse("the stream ended before [DONE]")
        calls = []
        for index in sorted(self._calls):
            slot = self._calls[index]
            if not slot["name"]:
                raise MalformedResponse("streamed tool call without a function name")
            calls.append(
                ToolCall(
                    id=slot["id"] or f"call_{index}",
                    name=slot["name"],
                    arguments="".join(slot["arguments"]) or "{}",
                )
            )
        usage = self._usage
        return StreamChunk(
            tool_calls=tuple(calls),
            finish_reason=_finish(self._finish, bool(calls)) or "stop",
            usage=make_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
            if isinstance(usage, dict)
            else None,
            provider_model=self._model,
        )
