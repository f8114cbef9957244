"""Request parsing: what the fake needs from one chat request body, whatever its API.

>>> body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
>>> call = parse("openai", body, "", {})
>>> call.model, call.prompt, call.last_user, call.max_tokens, call.stream
('m', 'hi', 'hi', 5, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import Api

__all__ = ["BadRequest", "Call", "parse"]


class BadRequest(Exception):
    """The request body is not valid for its API (answered with 400)."""


@dataclass(frozen=True)
class Call:
    """What the fake needs from one chat request, whatever its API."""

    api: Api
    model: str
    stream: bool
    prompt: str
    last_user: str
    tool_name: str | None
    max_tokens: int | None
    include_usage: bool = False
    json_mode: bool = False
    sse: bool = True


def _text(value: Any) -> str:
    """All text in a message, content list or parts list, concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text(v) for v in value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return str(value["text"])
        for key in ("content", "parts"):
            if key in value:
                return _text(value[key])
    return ""


def _last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message)
    return ""


def _dig(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _messages(body: dict[str, Any], key: str) -> list[Any]:
    messages = body.get(key)
    if not isinstance(messages, list) or not messages:
        raise BadRequest(f"{key}: must be a non-empty list")
    return messages


def _max_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"max_tokens: must be a positive integer, got {value!r}")
    return value


def parse(api: Api, body: dict[str, Any], target: str, query: Mapping[str, str]) -> Call:
    """Read one request body of ``api``; ``target`` is the Gemini path's ``model:action``."""
    if api == "gemini":
        model, _, action = target.rpartition(":")
        contents = _messages(body, "contents")
        tools = body.get("tools") or []
        gen = body.get("generationConfig") or {}
        return Call(
            api,
            model,
            action == "streamGenerateContent",
            _text(body.get("systemInstruction")) + _text(contents),
            _last_user(contents),
            _dig(tools, 0, "functionDeclarations", 0, "name")
            or _dig(tools, 0, "function_declarations", 0, "name"),
            _max_tokens(gen.get("maxOutputTokens")),
            json_mode=gen.get("responseMimeType") == "application/json",
            sse=query.get("alt") == "sse",
        )
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise BadRequest("model: must be a non-empty string")
    model = name
    messages = _messages(body, "messages")
    stream = bool(body.get("stream"))
    if api == "anthropic":
        if "max_tokens" not in body:
            raise BadRequest("max_tokens: Field required")
        return Call(
            api,
            model,
            stream,
            _text(body.get("system")) + _text(messages),
            _last_user(messages),
            _dig(body.get("tools"), 0, "name"),
            _max_tokens(body["max_tokens"]),
        )
    return Call(
        api,
        model,
        stream,
        _text(messages),
        _last_user(messages),
        _dig(body.get("tools"), 0, "function", "name"),
        _max_tokens(body.get("max_completion_tokens", body.get("max_tokens"))),
        include_usage=bool(_dig(body, "stream_options", "include_usage")),
        json_mode=_dig(body, "response_format", "type") in ("json_object", "json_schema"),
    )
