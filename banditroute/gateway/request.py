"""A caller's request, made ready once: the `ChatRequest`, the constraints, the cache key.

>>> from banditroute.gateway.request import prepare
>>> from banditroute.constraints import Constraints
>>> ready = prepare("Explain TCP slow start", None, Constraints(max_cost_usd=0.01),
...                 {"temperature": 0, "max_tokens": 200})
>>> ready.request.max_tokens, ready.prompt, ready.constraints.max_cost_usd, len(ready.cache_key)
(200, 'Explain TCP slow start', 0.01, 32)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..constraints import Constraints
from ..errors import InvalidInput, invalid
from .cache import is_deterministic, request_key
from .messages import ChatRequest, Message

__all__ = ["ReadyRequest", "merge_constraints", "prepare"]

_REQUEST_FIELDS = ("max_tokens", "temperature", "stop", "tools", "tool_choice", "response_format")


@dataclass(frozen=True)
class ReadyRequest:
    """What the gateway needs about one request."""

    request: ChatRequest
    prompt: str  #: the text routed on: the last user turn
    constraints: Constraints
    deterministic: bool  #: temperature 0: safe to serve from a cache

    @cached_property
    def cache_key(self) -> str:
        """Exact-cache key (request, parameters and constraints), computed when a cache asks."""
        key_params = {
            **self.request.model_dump(mode="json", exclude={"messages"}),
            "constraints": {
                k: sorted(v) if isinstance(v, frozenset) else v
                for k, v in self.constraints.model_dump().items()
            },
        }
        messages = [m.model_dump(mode="json") for m in self.request.messages]
        return request_key(messages, None, key_params)


def merge_constraints(preset: Constraints | None, given: Constraints | None) -> Constraints:
    """The preset's constraints overridden by every field the caller set explicitly; a
    ``force_model`` of the caller's also lifts the preset's model and provider lists.

    >>> merge_constraints(Constraints(max_cost_usd=0.001, capabilities={"code"}),
    ...                   Constraints(max_cost_usd=0.01)).max_cost_usd
    0.01
    """
    if given is not None and not isinstance(given, Constraints):
        raise invalid("constraints", given, "a banditroute Constraints")
    if preset is None:
        return given if given is not None else Constraints()
    if given is None:
        return preset
    base = preset.model_dump()
    if given.force_model is not None:
        for name in ("allow_models", "deny_models", "allow_providers", "deny_providers"):
            base.pop(name)
    update = {name: getattr(given, name) for name in given.model_fields_set}
    return Constraints(**{**base, **update})


def prepare(
    prompt: str | Sequence[Message | Mapping[str, Any]],
    preset: Constraints | None,
    constraints: Constraints | None,
    params: Mapping[str, Any],
) -> ReadyRequest:
    """Build the request from a prompt or a list of messages and the call's parameters;
    parameters that are not request fields go to the provider as ``extra`` body fields."""
    fields = {k: v for k, v in params.items() if k in _REQUEST_FIELDS and v is not None}
    extra = {k: v for k, v in params.items() if k not in _REQUEST_FIELDS and v is not None}
    if isinstance(prompt, str):
        request = ChatRequest.from_prompt(prompt, extra=extra, **fields)
    elif isinstance(prompt, Sequence) and prompt:
        messages = tuple(_message(m) for m in prompt)
        request = ChatRequest(messages=messages, extra=extra, **fields)
    else:
        raise invalid("prompt", prompt, "a non-empty str or a non-empty list of messages")
    text = request.prompt
    if not text.strip():
        raise InvalidInput("the request has no user turn with text to route on")
    merged = merge_constraints(preset, constraints)
    return ReadyRequest(request, text, merged, is_deterministic(dict(params)))


def _message(m: object) -> Message:
    if isinstance(m, Message):
        return m
    if isinstance(m, Mapping) and all(isinstance(k, str) for k in m):
        return Message(**m)
    raise invalid("messages[i]", m, "a Message or a mapping with role and content")
