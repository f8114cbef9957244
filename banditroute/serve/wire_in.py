"""An OpenAI ``/v1/chat/completions`` request body (and banditroute's headers) → `ChatCall`:
what to pass to `Gateway.acomplete`.

``model`` is ``"auto"``, ``"auto:<preset>"`` or a registry model id (forced). Constraints come
from the extra body field ``banditroute`` (an object of `Constraints` fields, plus ``tags``) and
from headers, which win: ``x-banditroute-max-cost-usd``, ``x-banditroute-max-latency-ms``,
``x-banditroute-min-quality``, ``x-banditroute-tags`` and ``x-banditroute-capabilities`` (comma
lists). ``temperature``, ``max_tokens`` (or ``max_completion_tokens``), ``stop``, ``tools``,
``tool_choice`` and ``response_format`` become request fields; ``top_p``, ``seed``,
``presence_penalty`` and ``frequency_penalty`` go to the provider as body fields; other OpenAI
fields (``user``, ``metadata``, ...) are ignored; ``n`` must be 1.

>>> call = parse_chat({"model": "auto:code", "messages": [{"role": "user", "content": "hi"}],
...                    "banditroute": {"max_cost_usd": 0.01}, "max_tokens": 50},
...                   {"x-banditroute-tags": "team-a, batch"}, models={"m1"}, presets={"code"})
>>> call.preset, call.constraints.max_cost_usd, call.tags, call.params["max_tokens"]
('code', 0.01, ('team-a', 'batch'), 50)
>>> parse_chat({"model": "m1", "messages": [{"role": "user", "content": "hi"}]}, {},
...            models={"m1"}, presets=()).constraints.force_model
'm1'
"""

from __future__ import annotations

import math
from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..constraints import Constraints
from ..errors import InvalidInput, UnknownModel, invalid
from ..gateway.messages import Message, ToolCall

__all__ = ["AUTO", "ChatCall", "parse_chat"]

AUTO = "auto"
_PASSED = ("top_p", "seed", "presence_penalty", "frequency_penalty")
_NUMBER_HEADERS = {
    "x-banditroute-max-cost-usd": "max_cost_usd",
    "x-banditroute-max-latency-ms": "max_latency_ms",
    "x-banditroute-min-quality": "min_quality",
}


@dataclass(frozen=True)
class ChatCall:
    """One parsed request: the conversation, the routing, and the call's parameters."""

    messages: tuple[Message, ...]
    preset: str | None
    constraints: Constraints | None
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False


def parse_chat(
    body: object,
    headers: Mapping[str, str],
    *,
    models: Container[str],
    presets: Collection[str],
) -> ChatCall:
    """Parse and check a request; `InvalidInput` (400) or `UnknownModel` (404) when it is bad."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    preset, force = _model(body.get("model"), models, presets)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise invalid("messages", raw, "a non-empty list of messages")
    messages = tuple(_message(m, i) for i, m in enumerate(raw))
    constraints, tags = _constraints(body.get("banditroute"), headers, force)
    n = body.get("n")
    if n is not None and n != 1:
        raise invalid("n", n, "1 (one choice per request)")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream", stream, "true or false")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ChatCall(messages, preset, constraints, tags, _params(body), stream, include_usage)


def _model(model: object, models: Container[str], presets: Collection[str]) -> tuple[Any, Any]:
    """(preset, forced model) named by ``model``."""
    if not isinstance(model, str) or not model:
        raise invalid("model", model, "'auto', 'auto:<preset>' or a model id")
    if model == AUTO:
        return None, None
    if model.startswith(AUTO + ":"):
        name = model[len(AUTO) + 1 :]
        if name not in presets:
            known = ", ".join(f"auto:{p}" for p in sorted(presets)) or "none"
            raise UnknownModel(f"model {model!r} names no preset (presets: {known})")
        return name, None
    if model not in models:
        raise UnknownModel(
            f"model {model!r:.100} is not served here (GET /v1/models lists them; or use 'auto')"
        )
    return None, model


def _message(m: object, index: int) -> Message:
    if not isinstance(m, dict):
        raise invalid(f"messages[{index}]", m, "an object with a role")
    role = "system" if m.get("role") == "developer" else m.get("role")
    content = m.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts: list[str] = []
        for part in content:
            piece = part.get("text") if isinstance(part, dict) else None
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(piece, str)
            ):
                raise invalid(f"messages[{index}].content", part, "text parts only")
            parts.append(piece)
        text = "\n".join(parts)
    else:
        raise invalid(f"messages[{index}].content", content, "a str or a list of text parts")
    calls = m.get("tool_calls") or ()
    if not isinstance(calls, list | tuple):
        raise invalid(f"messages[{index}].tool_calls", calls, "a list")
    return Message(
        role=role,
        content=text,
        tool_calls=tuple(_tool_call(c, index) for c in calls),
        tool_call_id=m.get("tool_call_id"),
        name=m.get("name"),
    )


def _tool_call(call: object, index: int) -> ToolCall:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or not isinstance(function, dict):
        raise invalid(f"messages[{index}].tool_calls[i]", call, "{id, function: {name, ...}}")
    return ToolCall(
        id=call.get("id"), name=function.get("name"), arguments=function.get("arguments", "{}")
    )


def _number(header: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise invalid(f"header {header}", value, "a finite number")
    return number


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _constraints(
    given: object, headers: Mapping[str, str], force: str | None
) -> tuple[Constraints | None, tuple[str, ...]]:
    """The call's constraints (None when nothing restricts it) and its budget tags."""
    if given is not None and not isinstance(given, dict):
        raise invalid("banditroute", given, "an object of Constraints fields (and tags)")
    fields = dict(given or {})
    tags = fields.pop("tags", [])
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise invalid("banditroute.tags", tags, "a list of names")
    for header, name in _NUMBER_HEADERS.items():
        value = headers.get(header)
        if value is not None:
            fields[name] = _number(header, value)
    if (value := headers.get("x-banditroute-capabilities")) is not None:
        fields["capabilities"] = _names(value)
    if (value := headers.get("x-banditroute-tags")) is not None:
        tags = [*tags, *_names(value)]
    if force is not None:
        if fields.get("force_model") not in (None, force):
            raise InvalidInput(
                f"model == {force!r} but banditroute.force_model == {fields['force_model']!r}"
            )
        fields["force_model"] = force
    return (Constraints(**fields) if fields else None), tuple(dict.fromkeys(tags))


def _params(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields and provider body fields of a call."""
    params: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    stop = body.get("stop")
    if stop is not None:
        params["stop"] = (stop,) if isinstance(stop, str) else stop
    if body.get("tools"):
        params["tools"] = [_tool(t) for t in body["tools"]]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
    if choice is not None:
        params["tool_choice"] = choice
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        params["response_format"] = {
            "type": "json_schema",
            "name": spec.get("name", "response"),
            "json_schema": spec.get("schema", {}),
        }
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        params["response_format"] = "json"
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise invalid("response_format", fmt, "{type: text | json_object | json_schema}")
    for name in _PASSED:
        if body.get(name) is not None:
            params[name] = body[name]
    return params


def _tool(tool: object) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise invalid("tools[i]", tool, "{type: function, function: {...}}")
    if not isinstance(function, dict):
        raise invalid("tools[i].function", function, "{name, description, parameters}")
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description") is not None:
        out["description"] = function["description"]
    if function.get("parameters") is not None:
        out["parameters"] = function["parameters"]
    return out
