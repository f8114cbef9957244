"""Google Gemini ``generateContent`` (base_url like ``.../v1beta``), key in ``x-goog-api-key``.

Roles are ``user`` / ``model``; system turns become ``systemInstruction``; streaming uses
``:streamGenerateContent?alt=sse``, each event a partial response whose ``usageMetadata`` is
cumulative. Tools are sent with ``parametersJsonSchema`` (plain JSON Schema) and JSON mode as
``responseMimeType`` (+ ``responseJsonSchema``).

>>> from banditroute.gateway.connection import Connection
>>> from banditroute.gateway.messages import ChatRequest
>>> from banditroute.gateway.providers.gemini import GeminiProvider
>>> conn = Connection(kind="gemini", base_url="https://generativelanguage.googleapis.com/v1beta")
>>> http = GeminiProvider().build_request(conn, ChatRequest.from_prompt("hi", max_tokens=5),
...                                       model_id="gemini-2.0-flash", api_key=None, stream=True)
>>> http.url
'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse'
>>> http.body
b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":5}}'
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
    error_for_status,
    excerpt,
)
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
    tool_arguments,
)
from .sse import SSEEvent

__all__ = ["GeminiProvider", "GeminiStreamParser"]

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def _function_response(message: Message, names: dict[str, str]) -> dict[str, Any]:
    name = message.name or names.get(message.tool_call_id or "", "")
    if not name:
        raise ProviderBadRequest(
            f"tool answer {message.tool_call_id!r} names no function: set Message.name"
        )
    try:
        value = json.loads(message.content)
    except (json.JSONDecodeError, RecursionError):
        value = None
    response = value if isinstance(value, dict) else {"result": message.content}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(request: ChatRequest) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the tool answers
    for message in request.messages:
        if message.role == "system":
            system.append(message.content)
            continue
        parts: list[dict[str, Any]] = []
        if message.role == "tool":
            parts.append(_function_response(message, names))
        elif message.content:
            parts.append({"text": message.content})
        for call in message.tool_calls:
            names[call.id] = call.name
            args = tool_arguments(call.arguments, call.name)
            parts.append({"functionCall": {"name": call.name, "args": args}})
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.stop:
        config["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.json_schema is not None:
            config["responseJsonSchema"] = fmt.json_schema
    return config


def _finish(reason: object, has_tool_calls: bool) -> str | None:
    if has_tool_calls:
        return "tool_calls"
    if not isinstance(reason, str) or not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if reason in _FILTERED:
        return "content_filter"
    return {"STOP": "stop", "MAX_TOKENS": "length"}.get(reason, reason.lower())


def _usage(data: dict[str, Any]) -> tuple[object, object]:
    meta = data.get("usageMetadata")
    if not isinstance(meta, dict):
        return None, None
    output = meta.get("candidatesTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount", 0)  # billed as output
    if isinstance(output, int) and isinstance(thoughts, int):
        output += thoughts
    return meta.get("promptTokenCount"), output


class _Candidate:
    """Text, function calls and finish reason of the first candidate of one response."""

    def __init__(self, data: dict[str, Any], first_call_index: int = 0) -> None:
        self.text = ""
        self.calls: list[ToolCall] = []
        self.reason: object = None
        candidates = as_list(data.get("candidates") or [], "candidates")
        if not candidates:
            feedback = data.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                self.reason = "SAFETY"  # the prompt itself was blocked
            return
        candidate = as_dict(candidates[0], "candidates[0]")
        self.reason = candidate.get("finishReason")
        content = candidate.get("content") or {}
        for raw in as_list(as_dict(content, "content").get("parts") or [], "parts"):
            part = as_dict(raw, "part")
            if isinstance(part.get("text"), str) and not part.get("thought"):
                self.text += part["text"]
            elif "functionCall" in part:
                call = as_dict(part["functionCall"], "functionCall")
                name, call_id = call.get("name"), call.get("id")
                if not isinstance(name, str) or not name:
                    raise MalformedResponse("functionCall without a name")
                index = first_call_index + len(self.calls)
                self.calls.append(
                    ToolCall(
                        id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                        name=name,
                        arguments=json.dumps(call.get("args") or {}),
                    )
                )


class GeminiProvider:
    """Adapter for ``models/{model}:generateContent``."""

    kind = "gemini"

    def build_request(
        self,
        connection: Connection,
        request: ChatRequest,
        *,
        model_id: str,
        api_key: str | None,
        stream: bool,
    ) -> HttpRequest:
        """The POST to ``{base_url}/models/{model}:generateContent`` (or the SSE stream)."""
        system, contents = _contents(request)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        config = _generation_config(request)
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "parametersJsonSchema": t.parameters,
                        }
                        for t in request.tools
                    ]
                }
            ]
        choice = request.tool_choice
        if choice is not None:
            modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
            calling: dict[str, Any] = {"mode": modes.get(choice, "ANY")}
            if choice not in modes:
                calling["allowedFunctionNames"] = [choice]
            body["toolConfig"] = {"functionCallingConfig": calling}
        merge_extra(body, request.extra)
        model = connection.provider_model(model_id).removeprefix("models/")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = [("content-type", "application/json")]
        if api_key:
            headers.append(("x-goog-api-key", api_key))
        if stream:
            headers.append(("accept", "text/event-stream"))
        url = f"{connection.base_url}/models/{model}:{method}"
        return HttpRequest("POST", url, tuple(headers), dump_body(body))

    def parse_response(self, body: bytes) -> ChatResponse:
        """A ``GenerateContentResponse``."""
        data = load_json(body)
        candidate = _Candidate(data)
        model = data.get("modelVersion")
        return ChatResponse(
            text=candidate.text,
            tool_calls=tuple(candidate.calls),
            finish_reason=_finish(candidate.reason, bool(candidate.calls)),
            usage=make_usage(*_usage(data)),
            provider_model=model if isinstance(model, str) else None,
        )

    def stream_parser(self) -> GeminiStreamParser:
        """A parser for streamed partial responses."""
        return GeminiStreamParser()

    def error_class(self, status: int, message: str) -> type[ProviderError] | None:
        """An invalid API key comes back as HTTP 400; report it as an auth error."""
        if status == 400 and ("API_KEY_INVALID" in message or "API key not valid" in message):
            return ProviderAuthError
        return None


class GeminiStreamParser:
    """Collects text, function calls, the finish reason and the latest usage."""

    def __init__(self) -> None:
        self._calls: list[ToolCall] = []
        self._reason: object = None
        self._usage: tuple[object, object] = (None, None)
        self._model: str | None = None

    def feed(self, event: SSEEvent) -> list[StreamChunk]:
        """Text of one partial response; an error object raises its typed error."""
        data = load_json(event.data, "stream event")
        if isinstance(data.get("error"), dict):
            code = data["error"].get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            message = excerpt(error_text(event.data.encode()))
            raise error_for_status(status, f"error in stream: {message}")
        candidate = _Candidate(data, first_call_index=len(self._calls))
        self._calls.extend(candidate.calls)
        if candidate.reason is not None:
            self._reason = candidate.reason
        if isinstance(data.get("usageMetadata"), dict):
            self._usage = _usage(data)
        if isinstance(data.get("modelVersion"), str):
            self._model = data["modelVersion"]
        return [StreamChunk(text=candidate.text)] if candidate.text else []

    def finish(self) -> StreamChunk:
        """The final chunk (needs a finish reason)."""
        reason = _finish(self._reason, bool(self._calls))
        if reason is None:
            raise MalformedResponse("the stream ended without a finishReason")
        return StreamChunk(
            tool_calls=tuple(self._calls),
            finish_reason=reason,
            usage=make_usage(*self._usage),
            provider_model=self._model,
        )
