"""A fake LLM provider: a real HTTP server on 127.0.0.1 speaking three chat APIs, with faults.

It serves the OpenAI-compatible ``POST /v1/chat/completions`` (and ``GET /v1/models``), the
Anthropic ``POST /v1/messages`` and the Gemini ``POST /v1beta/models/{model}:generateContent``
and ``:streamGenerateContent`` routes, plain and streaming (SSE). Answers are deterministic
("echo: <last user message>" or a scripted text per model) and every text costs
``fake_tokens(text)`` = ceil(characters / 4) tokens. Faults (an HTTP status, a hang, a trickled
body, malformed JSON, a connection reset, a huge body, no usage) are scripted per model name, in
order or at random with a seed, while the server runs. Needs only the standard library and
uvicorn, so benchmarks can import it too.

Example
-------
>>> import httpx
>>> with FakeProvider() as server:
...     server.set_model("m1", text="hello")
...     reply = httpx.post(
...         server.openai_base_url + "/chat/completions",
...         json={"model": "m1", "messages": [{"role": "user", "content": "hi"}]},
...     )
...     reply.json()["choices"][0]["message"]["content"], server.requests("m1")[0].auth_present
('hello', False)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "FakeProvider",
    "Fault",
    "FaultRates",
    "ModelScript",
    "RecordedRequest",
    "fake_tokens",
]

Api = Literal["openai", "anthropic", "gemini"]
FaultKind = Literal[
    "status", "timeout", "trickle", "malformed_json", "reset", "huge_body", "no_usage"
]
Finish = Literal["stop", "length", "tool"]
Events = list[tuple[str | None, str]]  # (SSE event name or None, data line)

ECHO_LIMIT = 200  # characters of the last user message echoed back
CREATED = 1_700_000_000  # fixed "created" timestamp, so answers are deterministic
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "proxy-authorization"}
)
REDACTED = "[redacted]"
FINISH: dict[Api, dict[Finish, str]] = {
    "openai": {"stop": "stop", "length": "length", "tool": "tool_calls"},
    "anthropic": {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"},
    "gemini": {"stop": "STOP", "length": "MAX_TOKENS", "tool": "STOP"},
}


def fake_tokens(text: str) -> int:
    """Tokens the fake provider counts for ``text``: ceil(characters / 4).

    >>> fake_tokens(""), fake_tokens("abcd"), fake_tokens("abcde")
    (0, 1, 2)
    """
    return (len(text) + 3) // 4


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class Fault:
    """One injected failure, consumed by the next request to its model.

    Parameters
    ----------
    kind : str
        ``"status"`` (an error reply with ``status`` in the API's error format, with a
        ``Retry-After`` header when ``retry_after`` is set), ``"timeout"`` (hang ``seconds``, then
        answer), ``"trickle"`` (send the reply one byte per ``seconds_per_byte``),
        ``"malformed_json"`` (200 with a cut-off JSON body or SSE event), ``"reset"`` (close the
        socket with a TCP reset, no reply), ``"huge_body"`` (a valid reply whose text is ``mb``
        MiB) or ``"no_usage"`` (a valid reply without token usage).
    """

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    seconds: float = 5.0
    seconds_per_byte: float = 0.25
    mb: float = 20.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"kind == {self.kind!r}, must be one of {get_args(FaultKind)}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status == {self.status}, must be in [400, 599]")
        for name in ("seconds", "seconds_per_byte", "mb"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} == {getattr(self, name)}, must be >= 0")
        if self.retry_after is not None and not self.retry_after >= 0:
            raise ValueError(f"retry_after == {self.retry_after}, must be >= 0 or None")

    @property
    def label(self) -> str:
        """Short name recorded with the request, e.g. ``"status:503"`` or ``"reset"``."""
        return f"status:{self.status}" if self.kind == "status" else self.kind


@dataclass(frozen=True)
class FaultRates:
    """A random mix of faults for requests that find no scripted fault left.

    Each request draws one uniform number from ``random.Random(seed)``: below ``status_5xx`` it
    gets ``status``; in the next ``timeout`` it hangs ``timeout_s``; in the next
    ``rate_limited`` it gets 429 with ``Retry-After: retry_after_s``; in the next ``reset`` its
    connection is reset; otherwise it is answered. Sequential requests are reproducible.
    """

    status_5xx: float = 0.0
    timeout: float = 0.0
    rate_limited: float = 0.0
    reset: float = 0.0
    retry_after_s: float | None = 1.0
    timeout_s: float = 30.0
    status: int = 503
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.status_5xx, self.timeout, self.rate_limited, self.reset)
        if not all(0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"rates == {rates}, must each be in [0, 1] and sum to <= 1")
        if not 500 <= self.status <= 599:
            raise ValueError(f"status == {self.status}, must be in [500, 599]")

    def draw(self, rng: random.Random) -> Fault | None:
        """The fault (or None) for one request, using one number from ``rng``."""
        u = rng.random()
        for rate, fault in (
            (self.status_5xx, Fault("status", status=self.status)),
            (self.timeout, Fault("timeout", seconds=self.timeout_s)),
            (self.rate_limited, Fault("status", status=429, retry_after=self.retry_after_s)),
            (self.reset, Fault("reset")),
        ):
            if u < rate:
                return fault
            u -= rate
        return None


@dataclass(frozen=True)
class ModelScript:
    """How the fake answers one model name.

    Parameters
    ----------
    latency_s : float
        Delay before every reply (an async sleep: other requests go on).
    text : str or None
        The answer; None echoes ``"echo: <last user message, first 200 chars>"`` (as
        ``{"echo": ...}`` JSON when the request asks for JSON output).
    usage : bool
        Whether replies carry token usage.
    tool_call : mapping or None
        When set and the request offers tools, answer with a call of the first tool with these
        arguments instead of text.
    chunk_chars, chunk_delay_s : int, float
        Streaming: characters per delta and the pause between events.
    """

    latency_s: float = 0.0
    text: str | None = None
    usage: bool = True
    tool_call: Mapping[str, Any] | None = None
    chunk_chars: int = 8
    chunk_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0 and self.chunk_delay_s >= 0 and self.chunk_chars >= 1):
            raise ValueError("latency_s, chunk_delay_s must be >= 0 and chunk_chars >= 1")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received; secret header values are never kept.

    ``headers`` maps lower-case names to values, with the values of auth headers replaced by
    ``"[redacted]"``; ``query`` has any ``key=`` value redacted; ``fault`` is the label of the
    fault applied (``"auth"`` for a rejected key, ``"bad_request"`` for an invalid body).
    """

    api: Api
    model: str
    path: str
    query: str
    stream: bool
    headers: Mapping[str, str]
    auth_present: bool
    body: Any
    fault: str | None

    @property
    def header_names(self) -> tuple[str, ...]:
        """The lower-case header names, in the order received."""
        return tuple(self.headers)


# --------------------------------------------------------------------------- request parsing


class _BadRequest(Exception):
    """The request body is not valid for its API (answered with 400)."""


@dataclass(frozen=True)
class _Call:
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
        raise _BadRequest(f"{key}: must be a non-empty list")
    return messages


def _max_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _BadRequest(f"max_tokens: must be a positive integer, got {value!r}")
    return value


def _parse(api: Api, body: dict[str, Any], target: str, query: Mapping[str, str]) -> _Call:
    """Read one request body of ``api``; ``target`` is the Gemini path's ``model:action``."""
    if api == "gemini":
        model, _, action = target.rpartition(":")
        contents = _messages(body, "contents")
        tools = body.get("tools") or []
        gen = body.get("generationConfig") or {}
        return _Call(
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
        raise _BadRequest("model: must be a non-empty string")
    model = name
    messages = _messages(body, "messages")
    stream = bool(body.get("stream"))
    if api == "anthropic":
        if "max_tokens" not in body:
            raise _BadRequest("max_tokens: Field required")
        return _Call(
            api,
            model,
            stream,
            _text(body.get("system")) + _text(messages),
            _last_user(messages),
            _dig(body.get("tools"), 0, "name"),
            _max_tokens(body["max_tokens"]),
        )
    return _Call(
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


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class _Answer:
    text: str
    tool: tuple[str, str] | None  # (tool name, JSON arguments)
    finish: Finish
    input_tokens: int
    output_tokens: int
    usage: bool


def _answer(call: _Call, script: ModelScript, fault: Fault | None) -> _Answer:
    inputs = fake_tokens(call.prompt)
    kind = fault.kind if fault else None
    usage = script.usage and kind != "no_usage"
    if script.tool_call is not None and call.tool_name:
        args = json.dumps(dict(script.tool_call), sort_keys=True)
        out = fake_tokens(call.tool_name + args)
        return _Answer("", (call.tool_name, args), "tool", inputs, out, usage)
    if fault is not None and kind == "huge_body":
        text = "x" * int(fault.mb * 2**20)
    elif script.text is not None:
        text = script.text
    elif call.json_mode:
        text = json.dumps({"echo": call.last_user[:ECHO_LIMIT]})
    else:
        text = "echo: " + call.last_user[:ECHO_LIMIT]
    finish: Finish = "stop"
    if call.max_tokens is not None and kind != "huge_body" and fake_tokens(text) > call.max_tokens:
        text, finish = text[: call.max_tokens * 4], "length"
    return _Answer(text, None, finish, inputs, fake_tokens(text), usage)


def _openai_usage(ans: _Answer) -> dict[str, int]:
    total = ans.input_tokens + ans.output_tokens
    return {
        "prompt_tokens": ans.input_tokens,
        "completion_tokens": ans.output_tokens,
        "total_tokens": total,
    }


def _gemini_usage(ans: _Answer) -> dict[str, int]:
    total = ans.input_tokens + ans.output_tokens
    return {
        "promptTokenCount": ans.input_tokens,
        "candidatesTokenCount": ans.output_tokens,
        "totalTokenCount": total,
    }


def _openai_plain(call: _Call, ans: _Answer, rid: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": ans.text, "refusal": None}
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
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _fin(call, ans)}
        ],
    }
    if ans.usage:
        body["usage"] = _openai_usage(ans)
    return body


def _openai_events(call: _Call, ans: _Answer, rid: str, pieces: list[str]) -> Events:
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
    chunks.append(chunk({}, _fin(call, ans)))
    if call.include_usage and ans.usage:
        chunks.append({**chunk({}), "choices": [], "usage": _openai_usage(ans)})
    events: Events = [(None, json.dumps(c)) for c in chunks]
    return [*events, (None, "[DONE]")]


def _anthropic_block(ans: _Answer, rid: str) -> dict[str, Any]:
    if ans.tool:
        return {"type": "tool_use", "id": f"toolu_{rid}", "name": ans.tool[0], "input": {}}
    return {"type": "text", "text": ""}


def _anthropic_plain(call: _Call, ans: _Answer, rid: str) -> dict[str, Any]:
    block = _anthropic_block(ans, rid)
    block.update({"input": json.loads(ans.tool[1])} if ans.tool else {"text": ans.text})
    body: dict[str, Any] = {
        "id": f"msg_{rid}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [block],
        "stop_reason": _fin(call, ans),
        "stop_sequence": None,
    }
    if ans.usage:
        body["usage"] = {"input_tokens": ans.input_tokens, "output_tokens": ans.output_tokens}
    return body


def _anthropic_events(call: _Call, ans: _Answer, rid: str, pieces: list[str]) -> Events:
    message = {**_anthropic_plain(call, ans, rid), "content": [], "stop_reason": None}
    if ans.usage:
        message["usage"] = {"input_tokens": ans.input_tokens, "output_tokens": 1}
    kind, key = ("input_json_delta", "partial_json") if ans.tool else ("text_delta", "text")
    final: dict[str, Any] = {"stop_reason": _fin(call, ans), "stop_sequence": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": _anthropic_block(ans, rid)},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": kind, key: p}}
            for p in pieces
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": final},
        {"type": "message_stop"},
    ]
    if ans.usage:
        events[-2]["usage"] = {"output_tokens": ans.output_tokens}
    return [(e["type"], json.dumps(e)) for e in events]


def _gemini_chunk(call: _Call, rid: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    return {"candidates": [candidate], "modelVersion": call.model, "responseId": rid}


def _gemini_finish(call: _Call, ans: _Answer, chunk: dict[str, Any]) -> dict[str, Any]:
    chunk["candidates"][0]["finishReason"] = _fin(call, ans)
    if ans.usage:
        chunk["usageMetadata"] = _gemini_usage(ans)
    return chunk


def _gemini_parts(ans: _Answer) -> list[dict[str, Any]]:
    if ans.tool:
        return [{"functionCall": {"name": ans.tool[0], "args": json.loads(ans.tool[1])}}]
    return [{"text": ans.text}]


def _gemini_plain(call: _Call, ans: _Answer, rid: str) -> dict[str, Any]:
    return _gemini_finish(call, ans, _gemini_chunk(call, rid, _gemini_parts(ans)))


def _gemini_events(call: _Call, ans: _Answer, rid: str, pieces: list[str]) -> Events:
    parts = [_gemini_parts(ans)] if ans.tool else [[{"text": p}] for p in pieces or [""]]
    chunks = [_gemini_chunk(call, rid, p) for p in parts]
    _gemini_finish(call, ans, chunks[-1])
    return [(None, json.dumps(c)) for c in chunks]


def _fin(call: _Call, ans: _Answer) -> str:
    return FINISH[call.api][ans.finish]


_PLAIN = {"openai": _openai_plain, "anthropic": _anthropic_plain, "gemini": _gemini_plain}
_EVENTS = {"openai": _openai_events, "anthropic": _anthropic_events, "gemini": _gemini_events}


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class _Reply:
    status: int
    chunks: list[bytes]
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    streamed: bool = False  # SSE: chunked, no Content-Length


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_reply(api: Api, status: int, message: str, retry_after: float | None = None) -> _Reply:
    """An error reply in ``api``'s own error format."""
    if api == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    elif api == "gemini":
        name = _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        body = {"error": {"code": status, "message": message, "status": name}}
    else:
        default = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
        kind, code = _OPENAI_ERRORS.get(status, default)
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
    return _Reply(status, [json.dumps(body).encode()], headers=headers)


def _success_reply(
    call: _Call, ans: _Answer, rid: str, script: ModelScript, malformed: bool
) -> _Reply:
    size = max(script.chunk_chars, -(-len(ans.text) // 256))  # at most ~256 deltas
    source = ans.tool[1] if ans.tool else ans.text
    pieces = [source[i : i + size] for i in range(0, len(source), size)]
    if not call.stream:
        body = json.dumps(_PLAIN[call.api](call, ans, rid))
    else:
        events = _EVENTS[call.api](call, ans, rid, pieces)
        if malformed:
            at = min(1, len(events) - 1)
            events[at] = (events[at][0], events[at][1][: len(events[at][1]) // 2])
        if call.sse:
            end = "\r\n\r\n" if call.api == "gemini" else "\n\n"
            chunks = [
                ((f"event: {name}\n" if name else "") + f"data: {data}{end}").encode()
                for name, data in events
            ]
            return _Reply(200, chunks, "text/event-stream; charset=utf-8", streamed=True)
        body = "[" + ",\r\n".join(data for _, data in events) + "]"  # Gemini without alt=sse
        malformed = False
    if malformed:
        body = body[: len(body) // 2]
    return _Reply(200, [body.encode()])


# --------------------------------------------------------------------------- shared state


class _State:
    """Scripts, pending faults and recorded requests per model; shared across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scripts: dict[str, ModelScript] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.rates: dict[str, tuple[FaultRates, random.Random]] = {}
        self.records: dict[str, list[RecordedRequest]] = {}
        self.ids = itertools.count(1)

    def take(self, model: str) -> tuple[ModelScript, Fault | None, str]:
        """The model's script, the next fault to apply (if any) and a fresh request id."""
        with self.lock:
            queue = self.faults.get(model)
            if queue:
                fault: Fault | None = queue.popleft()
            elif model in self.rates:
                rates, rng = self.rates[model]
                fault = rates.draw(rng)
            else:
                fault = None
            return self.scripts.get(model, ModelScript()), fault, f"{next(self.ids):012x}"

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.records.setdefault(request.model, []).append(request)


# --------------------------------------------------------------------------- the ASGI app


def _peer(scope: Mapping[str, Any]) -> tuple[str, int] | None:
    client = scope.get("client")
    return (str(client[0]), int(client[1])) if client else None


def _tracking_protocol(conns: dict[tuple[str, int], asyncio.Transport]) -> type[H11Protocol]:
    """An h11 protocol that keeps each connection's transport, so a fault can reset it."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:  # no Nagle: a reply's two writes must not wait a delayed ACK
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.client:
                conns[self.client] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client and conns.get(self.client) is self.transport:
                del conns[self.client]
            super().connection_lost(exc)

    return TrackingH11Protocol


Send = Callable[[dict[str, Any]], Any]
Receive = Callable[[], Any]


class _App:
    """The raw ASGI application (runs on the server's event loop thread)."""

    def __init__(self, state: _State, api_key: str | None) -> None:
        self.state = state
        self.api_key = api_key
        self.conns: dict[tuple[str, int], asyncio.Transport] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False

    def shut_down(self) -> None:
        """Called on the loop when the server stops: end every request in flight."""
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            if self.stopping:
                await self._reset(scope)
            else:
                await self._handle(scope, receive, send)
        except asyncio.CancelledError:  # the server is stopping: drop the connection
            await self._reset(scope)
        finally:
            self.tasks.discard(task)

    async def _reset(self, scope: Mapping[str, Any]) -> None:
        """Close the client's socket with a TCP reset, sending nothing."""
        peer = _peer(scope)
        transport = self.conns.get(peer) if peer else None
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        for _ in range(3):  # let uvicorn see the connection lost before we return
            await asyncio.sleep(0)

    async def _handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == "/v1/models" and method == "GET":
            with self.state.lock:
                names = sorted(self.state.scripts)
            data = [
                {"id": n, "object": "model", "created": CREATED, "owned_by": "fake"} for n in names
            ]
            body = json.dumps({"object": "list", "data": data}).encode()
            await self._send(scope, send, _Reply(200, [body]), 0.0, None)
            return
        api: Api
        target = ""
        if path == "/v1/chat/completions":
            api = "openai"
        elif path == "/v1/messages":
            api = "anthropic"
        elif path.startswith(("/v1beta/models/", "/v1/models/")) and path.endswith(
            (":generateContent", ":streamGenerateContent")
        ):
            api, target = "gemini", path.split("/models/", 1)[1]
        else:
            await self._send(scope, send, _error_reply("openai", 404, f"no route {path}"), 0, None)
            return
        if method != "POST":
            await self._send(scope, send, _error_reply(api, 405, "method not allowed"), 0, None)
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        await self._chat(scope, send, api, target, bytes(raw), headers, query)

    async def _chat(
        self,
        scope: dict[str, Any],
        send: Send,
        api: Api,
        target: str,
        raw: bytes,
        headers: dict[str, str],
        query: dict[str, str],
    ) -> None:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise _BadRequest("the body must be a JSON object")
            call = _parse(api, body, target, query)
            if api == "anthropic" and "anthropic-version" not in headers:
                raise _BadRequest("anthropic-version: header is required")
        except (ValueError, _BadRequest) as exc:
            model = target.rpartition(":")[0] if api == "gemini" else ""
            self._record(api, model, scope, headers, query, None, raw, "bad_request")
            await self._send(
                scope, send, _error_reply(api, 400, f"invalid request: {exc}"), 0, None
            )
            return
        key = _api_key(api, headers, query)
        if self.api_key is not None and not hmac.compare_digest(
            (key or "").encode(), self.api_key.encode()
        ):
            self._record(api, call.model, scope, headers, query, call, body, "auth")
            reply = _error_reply(api, 401, "invalid or missing API key")
            await self._send(scope, send, reply, 0, None)
            return
        script, fault, rid = self.state.take(call.model)
        label = fault.label if fault else None
        self._record(api, call.model, scope, headers, query, call, body, label)
        if script.latency_s > 0:
            await asyncio.sleep(script.latency_s)
        kind = fault.kind if fault else None
        if fault is not None and kind == "status":
            reply = _error_reply(
                api, fault.status, f"injected status {fault.status}", fault.retry_after
            )
            await self._send(scope, send, reply, 0, None)
            return
        if fault is not None and kind == "reset":
            await self._reset(scope)
            return
        if fault is not None and kind == "timeout":
            await asyncio.sleep(fault.seconds)
        answer = _answer(call, script, fault)
        reply = _success_reply(call, answer, rid, script, kind == "malformed_json")
        trickle = fault.seconds_per_byte if fault is not None and kind == "trickle" else None
        await self._send(scope, send, reply, script.chunk_delay_s, trickle)

    def _record(
        self,
        api: Api,
        model: str,
        scope: Mapping[str, Any],
        headers: dict[str, str],
        query: dict[str, str],
        call: _Call | None,
        body: Any,
        fault: str | None,
    ) -> None:
        if isinstance(body, bytes):
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        safe_query = {k: (REDACTED if k == "key" else v) for k, v in query.items()}
        self.state.record(
            RecordedRequest(
                api=api,
                model=model,
                path=str(scope["path"]),
                query=urlencode(safe_query),
                stream=bool(call and call.stream),
                headers={k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()},
                auth_present=bool(_api_key(api, headers, query)),
                body=body,
                fault=fault,
            )
        )

    async def _send(
        self,
        scope: Mapping[str, Any],
        send: Send,
        reply: _Reply,
        chunk_delay_s: float,
        trickle_s: float | None,
    ) -> None:
        headers = [(b"content-type", reply.content_type.encode())]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers]
        if reply.streamed:
            headers.append((b"cache-control", b"no-cache"))
        else:
            headers.append((b"content-length", str(sum(map(len, reply.chunks))).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if trickle_s is not None:
            data = b"".join(reply.chunks)
            for i in range(len(data)):
                if i:
                    await asyncio.sleep(trickle_s)
                if _peer(scope) not in self.conns:  # the client gave up
                    return
                await send(
                    {"type": "http.response.body", "body": data[i : i + 1], "more_body": True}
                )
        else:
            for i, chunk in enumerate(reply.chunks):
                if i and chunk_delay_s > 0:
                    await asyncio.sleep(chunk_delay_s)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _api_key(api: Api, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The API key the request carries in ``api``'s own place, if any."""
    if api == "anthropic":
        return headers.get("x-api-key") or None
    if api == "gemini":
        return headers.get("x-goog-api-key") or query.get("key") or None
    auth = headers.get("authorization", "")
    return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None


# --------------------------------------------------------------------------- the server


class FakeProvider:
    """A fake OpenAI / Anthropic / Gemini server on ``127.0.0.1``, on a free port.

    Starts at once (uvicorn on a background daemon thread) and returns when the port accepts
    connections; ``stop()`` (or leaving the ``with`` block) ends it within about a second and
    frees the port. Everything below is thread-safe and may be called while it runs.

    Parameters
    ----------
    api_key : str or None
        When set, requests must carry exactly this key (``Authorization: Bearer``,
        ``x-api-key`` or ``x-goog-api-key`` / ``?key=``), else they get 401. Never shown.
    start_timeout_s : float
        How long to wait for the server to listen before raising ``RuntimeError``.
    """

    def __init__(self, *, api_key: str | None = None, start_timeout_s: float = 10.0) -> None:
        self._state = _State()
        self._app = _App(self._state, api_key)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._app,
            http=_tracking_protocol(self._app.conns),
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_level="warning",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"fake-provider-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the fake provider did not start within {start_timeout_s} s")

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    # -- addresses

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI-compatible clients: ``base_url + "/v1"``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (they append ``/v1/messages``)."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for Gemini clients: ``base_url + "/v1beta"``."""
        return self.base_url + "/v1beta"

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    # -- scripting

    def set_model(
        self,
        model: str,
        *,
        latency_s: float = 0.0,
        text: str | None = None,
        usage: bool = True,
        tool_call: Mapping[str, Any] | None = None,
        chunk_chars: int = 8,
        chunk_delay_s: float = 0.0,
    ) -> None:
        """Script how ``model`` answers (see `ModelScript`)."""
        script = ModelScript(latency_s, text, usage, tool_call, chunk_chars, chunk_delay_s)
        with self._state.lock:
            self._state.scripts[model] = script

    def set_faults(self, model: str, faults: Iterable[Fault], *, append: bool = False) -> None:
        """Queue faults for ``model``'s next requests, one per request, in order."""
        faults = list(faults)
        with self._state.lock:
            queue = self._state.faults.setdefault(model, deque())
            if not append:
                queue.clear()
            queue.extend(faults)

    def faults_left(self, model: str) -> int:
        """How many scripted faults ``model`` has not consumed yet."""
        with self._state.lock:
            return len(self._state.faults.get(model, ()))

    def set_fault_rates(self, model: str, rates: FaultRates | None) -> None:
        """Give ``model`` a random fault mix (restarting its seed), or remove it with None."""
        with self._state.lock:
            if rates is None:
                self._state.rates.pop(model, None)
            else:
                self._state.rates[model] = (rates, random.Random(rates.seed))

    def clear(self, model: str | None = None) -> None:
        """Forget ``model``'s script, faults, rates and recorded requests (all models if None)."""
        with self._state.lock:
            for table in (self._state.scripts, self._state.faults, self._state.rates):
                if model is None:
                    table.clear()
                else:
                    table.pop(model, None)
            if model is None:
                self._state.records.clear()
            else:
                self._state.records.pop(model, None)

    def requests(self, model: str | None = None) -> list[RecordedRequest]:
        """The requests received for ``model`` (every model if None), oldest first."""
        with self._state.lock:
            if model is not None:
                return list(self._state.records.get(model, ()))
            return [r for rs in self._state.records.values() for r in rs]

    # -- lifecycle

    def stop(self) -> None:
        """Stop serving: requests in flight are reset, the port is freed. Idempotent."""
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(self._app.shut_down)
        self._server.should_exit = True
        self._thread.join(timeout=1.5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=1.5)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"FakeProvider(base_url={self.base_url!r}, {state})"
