"""Provider-neutral chat messages: `ChatRequest` in, `ChatResponse` / `StreamChunk` out.

>>> from banditroute.gateway.messages import ChatRequest, StreamChunk, Usage, join_chunks
>>> req = ChatRequest.from_prompt("Say hi", system="Be brief", response_format="json")
>>> [m.role for m in req.messages], req.prompt, req.response_format.type
(['system', 'user'], 'Say hi', 'json_object')
>>> done = StreamChunk(finish_reason="stop", usage=Usage(input_tokens=3, output_tokens=2))
>>> reply = join_chunks([StreamChunk(text="Hi "), StreamChunk(text="there"), done])
>>> reply.text, reply.usage.total_tokens
('Hi there', 5)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from .._validation import StrictModel
from ..text import clean_text

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Message",
    "ResponseFormat",
    "Role",
    "StreamChunk",
    "Tool",
    "ToolCall",
    "Usage",
    "join_chunks",
]

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(StrictModel):
    """A function call asked for by the model; ``arguments`` is JSON text (as OpenAI sends it)."""

    id: str
    name: str = Field(min_length=1)
    arguments: str = "{}"

    def parsed_arguments(self) -> Any:
        """``arguments`` decoded from JSON (raises ``json.JSONDecodeError`` if it is not JSON)."""
        return json.loads(self.arguments or "{}")


class Message(StrictModel):
    """One turn of a conversation.

    ``tool_calls`` are the calls an assistant turn made; a ``tool`` turn answers the call named by
    ``tool_call_id`` (``name`` is the function's name, looked up from the call when omitted).
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _clean_content(cls, value: str) -> str:
        return clean_text(value, "content")  # lone surrogates → U+FFFD (banditroute.text)

    @model_validator(mode="after")
    def _check_tool_fields(self) -> Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a 'tool' message needs the tool_call_id it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only 'assistant' messages carry tool_calls")
        return self


def _empty_schema() -> dict[str, JsonValue]:
    return {"type": "object", "properties": {}}


class Tool(StrictModel):
    """A function the model may call; ``parameters`` is a JSON Schema of its arguments."""

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, JsonValue] = Field(default_factory=_empty_schema)


class ResponseFormat(StrictModel):
    """JSON mode: any JSON object (``json_object``) or one matching ``json_schema``."""

    type: Literal["json_object", "json_schema"] = "json_object"
    name: str = Field(default="response", min_length=1, max_length=64)
    json_schema: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required with type='json_schema', and only then")
        return self


class ChatRequest(StrictModel):
    """A chat completion request, independent of the provider.

    Parameters
    ----------
    messages : sequence of Message
        The conversation; ``system`` turns become the provider's system prompt.
    max_tokens : int, optional
        Cap on output tokens (Anthropic requires one: 1024 is sent when None).
    temperature : float, optional
        Sampling temperature (providers' own ranges apply).
    stop : sequence of str
        Stop sequences.
    tools : sequence of Tool
        Functions the model may call.
    tool_choice : str, optional
        ``"auto"``, ``"none"``, ``"required"`` or the name of one of ``tools``.
    response_format : ResponseFormat or "json", optional
        JSON mode.
    extra : dict
        Provider-specific body fields, merged into the request body last (objects one level
        deep); a None value removes a field, e.g. ``{"max_tokens": None,
        "max_completion_tokens": 500}`` for OpenAI reasoning models.
    """

    messages: tuple[Message, ...] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    response_format: ResponseFormat | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("response_format", mode="before")
    @classmethod
    def _json_shortcut(cls, value: object) -> object:
        if value in ("json", "json_object"):
            return ResponseFormat()
        return value

    @model_validator(mode="after")
    def _check_tool_choice(self) -> ChatRequest:
        choice = self.tool_choice
        if choice is None or choice in ("auto", "none", "required"):
            return self
        if choice not in {t.name for t in self.tools}:
            raise ValueError(
                f"tool_choice == {choice!r} must be 'auto', 'none', 'required' or a tool's name"
            )
        return self

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None, **fields: Any) -> ChatRequest:
        """One user turn (after an optional system turn) plus any other fields."""
        messages = [Message(role="system", content=system)] if system else []
        messages.append(Message(role="user", content=prompt))
        return cls(messages=tuple(messages), **fields)

    @property
    def prompt(self) -> str:
        """The text of the last user turn ("" when there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


class Usage(StrictModel):
    """Tokens billed for one call (input includes cached prompt tokens)."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class ChatResponse(StrictModel):
    """A complete answer.

    ``finish_reason`` is normalised to ``stop``, ``length``, ``tool_calls`` or ``content_filter``
    when the provider's reason maps to one (else the provider's word, lower-case); ``usage`` is
    None when the provider did not report it; ``provider_model`` is the model that answered.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    provider_model: str | None = None

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        return clean_text(value, "text")  # lone surrogates → U+FFFD (banditroute.text)


class StreamChunk(StrictModel):
    """One piece of a streamed answer.

    Text chunks carry only ``text`` (the new characters). The last chunk of a stream has
    ``finish_reason`` set and carries ``usage``, the complete ``tool_calls`` and
    ``provider_model``.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    provider_model: str | None = None

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        return clean_text(value, "text")  # lone surrogates → U+FFFD (banditroute.text)

    @property
    def done(self) -> bool:
        """True on the final chunk."""
        return self.finish_reason is not None


def join_chunks(chunks: Iterable[StreamChunk]) -> ChatResponse:
    """The `ChatResponse` a stream of chunks adds up to."""
    text: list[str] = []
    tool_calls: list[ToolCall] = []
    finish_reason: str | None = None
    usage: Usage | None = None
    provider_model: str | None = None
    for chunk in chunks:
        text.append(chunk.text)
        tool_calls.extend(chunk.tool_calls)
        finish_reason = chunk.finish_reason or finish_reason
        usage = chunk.usage or usage
        provider_model = chunk.provider_model or provider_model
    return ChatResponse(
        text="".join(text),
        tool_calls=tuple(tool_calls),
        finish_reason=finish_reason,
        usage=usage,
        provider_model=provider_model,
    )
