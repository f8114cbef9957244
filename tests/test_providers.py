"""Provider adapters and the transport against httpx.MockTransport (no network), sync and async."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute import Registry, RegistryError
from banditroute.errors import InvalidInput
from banditroute.gateway import transport
from banditroute.gateway.connection import Connection
from banditroute.gateway.errors import (
    DeadlineExceeded,
    MalformedResponse,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderModelNotFound,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from banditroute.gateway.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamChunk,
    Tool,
    ToolCall,
    join_chunks,
)
from banditroute.gateway.providers import provider_for
from banditroute.gateway.providers.sse import SSEDecoder, SSEEvent

KEY = "sk-test-SECRET-0123456789abcdef"
ENV = "BANDITROUTE_TEST_KEY"
BASES = {
    "openai": "https://api.openai.test/v1",
    "anthropic": "https://api.anthropic.test/v1",
    "gemini": "https://gemini.test/v1beta",
}
KINDS = list(BASES)
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def conn(kind: str, **fields: Any) -> Connection:
    return Connection(
        kind=kind, base_url=BASES[kind], api_key_env=ENV, model_name="prov-model", **fields
    )


WEATHER = Tool(
    name="get_weather",
    description="Weather of a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SIMPLE = ChatRequest.from_prompt("Hello?", system="Be brief.")
FULL = ChatRequest(
    messages=(
        Message(role="system", content="Be brief."),
        Message(role="user", content="Weather in Paris?"),
        Message(
            role="assistant",
            tool_calls=(ToolCall(id="c1", name="get_weather", arguments='{"city":"Paris"}'),),
        ),
        Message(role="tool", tool_call_id="c1", content='{"temp": 21}'),
    ),
    max_tokens=50,
    temperature=0.2,
    stop=("END",),
    tools=(WEATHER,),
    tool_choice="get_weather",
    response_format="json",
    extra={"top_p": 0.9},
)


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body delivered in small pieces (SSE lines split across reads)."""

    def __init__(self, body: bytes, size: int = 7) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def run(
    kind: str,
    handler: Handler,
    request: ChatRequest = SIMPLE,
    *,
    streaming: bool = False,
    use_async: bool = False,
    connection: Connection | None = None,
    deadline_s: float = 5.0,
) -> Any:
    """One call through a MockTransport: a ChatResponse, or the list of chunks when streaming."""
    connection = connection or conn(kind)
    deadline = time.monotonic() + deadline_s
    mock = httpx.MockTransport(handler)
    if not use_async:
        with httpx.Client(transport=mock) as client:
            if streaming:
                return list(
                    transport.stream(client, connection, request, model_id="m1", deadline=deadline)
                )
            return transport.send(client, connection, request, model_id="m1", deadline=deadline)

    async def main() -> Any:
        async with httpx.AsyncClient(transport=mock) as client:
            if streaming:
                chunks = transport.astream(
                    client, connection, request, model_id="m1", deadline=deadline
                )
                return [chunk async for chunk in chunks]
            return await transport.asend(
                client, connection, request, model_id="m1", deadline=deadline
            )

    return asyncio.run(main())


def capture(kind: str, request: ChatRequest, streaming: bool = False) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        body = STREAMS[kind] if streaming else json.dumps(PLAIN[kind]).encode()
        return httpx.Response(200, content=body)

    run(kind, handler, request, streaming=streaming)
    return seen[0]


# -- request building ---------------------------------------------------------------------------
def test_openai_request_has_url_bearer_key_tools_json_mode_and_extra() -> None:
    sent = capture("openai", FULL)
    body = json.loads(sent.content)
    assert (sent.method, str(sent.url)) == ("POST", "https://api.openai.test/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "prov-model" and body["max_tokens"] == 50 and body["stop"] == ["END"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert body["messages"][3]["tool_call_id"] == "c1"
    assert body["tools"][0]["function"]["parameters"] == WEATHER.parameters
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"] == {"type": "json_object"}
    assert body["top_p"] == 0.9 and "stream" not in body
    streamed = json.loads(capture("openai", SIMPLE, streaming=True).content)
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}


def test_anthropic_request_has_system_field_default_max_tokens_and_tool_blocks() -> None:
    sent = capture("anthropic", FULL)
    body = json.loads(sent.content)
    assert str(sent.url) == "https://api.anthropic.test/v1/messages"
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert body["system"].startswith("Be brief.") and "JSON" in body["system"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "c1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    assert body["tools"][0]["input_schema"] == WEATHER.parameters
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert body["max_tokens"] == 50 and body["stop_sequences"] == ["END"]
    assert json.loads(capture("anthropic", SIMPLE).content)["max_tokens"] == 1024
    assert json.loads(capture("anthropic", SIMPLE, streaming=True).content)["stream"] is True


def test_gemini_request_has_roles_system_instruction_generation_config_and_functions() -> None:
    sent = capture("gemini", FULL)
    body = json.loads(sent.content)
    assert str(sent.url) == "https://gemini.test/v1beta/models/prov-model:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and KEY not in str(sent.url)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"][0]["functionCall"] == {
        "name": "get_weather",
        "args": {"city": "Paris"},
    }
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"name": "get_weather", "response": {"temp": 21}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 50,
        "temperature": 0.2,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
    }
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert body["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_weather"],
    }
    url = str(capture("gemini", SIMPLE, streaming=True).url)
    assert url.endswith("/models/prov-model:streamGenerateContent?alt=sse")


def test_json_schema_mode_reaches_each_api() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    request = ChatRequest.from_prompt(
        "n?", response_format={"type": "json_schema", "json_schema": schema}
    )
    openai = json.loads(capture("openai", request).content)["response_format"]
    assert openai == {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    gemini = json.loads(capture("gemini", request).content)["generationConfig"]
    assert gemini["responseJsonSchema"] == schema
    assert json.dumps(schema) in json.loads(capture("anthropic", request).content)["system"]


def test_extra_fields_merge_and_none_removes_a_field() -> None:
    request = ChatRequest.from_prompt(
        "x", max_tokens=10, extra={"max_tokens": None, "max_completion_tokens": 500}
    )
    body = json.loads(capture("openai", request).content)
    assert "max_tokens" not in body and body["max_completion_tokens"] == 500
    nested = ChatRequest.from_prompt("x", max_tokens=10, extra={"generationConfig": {"topK": 3}})
    config = json.loads(capture("gemini", nested).content)["generationConfig"]
    assert config == {"maxOutputTokens": 10, "topK": 3}


def test_a_tool_answer_gemini_cannot_name_is_a_bad_request() -> None:
    orphan = ChatRequest(
        messages=(
            Message(role="user", content="x"),
            Message(role="tool", tool_call_id="nope", content="1"),
        )
    )
    with pytest.raises(ProviderBadRequest, match="names no function"):
        capture("gemini", orphan)
    named = orphan.model_copy(
        update={
            "messages": (orphan.messages[0], Message(role="tool", tool_call_id="nope", name="f"))
        }
    )
    contents = json.loads(capture("gemini", named).content)["contents"]
    assert len(contents) == 1  # the tool answer joins the user turn before it
    part = contents[0]["parts"][1]
    assert part == {"functionResponse": {"name": "f", "response": {"result": ""}}}


# -- responses ----------------------------------------------------------------------------------
PLAIN: dict[str, dict[str, Any]] = {
    "openai": {
        "model": "gpt-x-2024",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    },
    "anthropic": {
        "type": "message",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "output_tokens": 7},
    },
    "gemini": {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me check."},
                        {
                            "functionCall": {
                                "id": "call_1",
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                            }
                        },
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7},
        "modelVersion": "gemini-x",
    },
}


def sse(*events: tuple[str | None, dict[str, Any] | str], crlf: bool = False) -> bytes:
    end = "\r\n" if crlf else "\n"
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}{end}" if name else "") + f"data: {text}{end}{end}")
    return "".join(out).encode()


def _oa(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
    return None, {
        "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _an(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"type": kind, **fields}


def _tc(args: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    function = {"arguments": args} | ({"name": name} if name else {})
    call = {"index": 0, "function": function} | ({"id": call_id} if call_id else {})
    return {"tool_calls": [call]}


STREAMS = {
    "openai": sse(
        _oa({"role": "assistant", "content": ""}),
        _oa({"content": "Hel"}),
        _oa({"content": "lo"}),
        _oa(_tc("", call_id="call_1", name="get_weather")),
        _oa(_tc('{"city":')),
        _oa(_tc('"Paris"}')),
        _oa({}, "tool_calls"),
        (None, {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}),
        (None, "[DONE]"),
    ),
    "anthropic": sse(
        _an(
            "message_start",
            message={"model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1}},
        ),
        _an("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _an("ping"),
        _an("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hel"}),
        _an("content_block_delta", index=0, delta={"type": "text_delta", "text": "lo"}),
        _an("content_block_stop", index=0),
        _an(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}},
        ),
        _an(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '{"city":'},
        ),
        _an(
            "content_block_delta",
            index=1,
            delta={"type": "input_json_delta", "partial_json": '"Paris"}'},
        ),
        _an("content_block_stop", index=1),
        _an("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 7}),
        _an("message_stop"),
    ),
    "gemini": sse(
        (
            None,
            {
                "candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
                "usageMetadata": {"promptTokenCount": 12},
                "modelVersion": "gemini-x",
            },
        ),
        (None, {"candidates": [{"content": {"parts": [{"text": "lo"}]}}]}),
        (
            None,
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
                            ]
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7},
            },
        ),
        crlf=True,
    ),
}
MODELS = {"openai": "gpt-x", "anthropic": "claude-x", "gemini": "gemini-x"}


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_plain_answer_is_parsed(kind: str, use_async: bool) -> None:
    reply = run(kind, lambda r: httpx.Response(200, json=PLAIN[kind]), use_async=use_async)
    assert isinstance(reply, ChatResponse)
    assert reply.text == "Let me check." and reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in reply.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"})
    ]
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (12, 7)
    assert reply.provider_model and reply.provider_model.startswith(MODELS[kind])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_streamed_answer_gives_text_chunks_then_a_final_chunk(kind: str, use_async: bool) -> None:
    chunks = run(
        kind,
        lambda r: httpx.Response(200, stream=Pieces(STREAMS[kind]), headers=SSE_HEADERS),
        streaming=True,
        use_async=use_async,
    )
    assert [c.text for c in chunks[:-1]] == ["Hel", "lo"]
    assert [c.done for c in chunks] == [False, False, True]
    whole = join_chunks(chunks)
    assert whole.text == "Hello" and whole.finish_reason == "tool_calls"
    assert [(c.name, c.parsed_arguments()) for c in whole.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert whole.usage is not None and (whole.usage.input_tokens, whole.usage.output_tokens) == (
        12,
        7,
    )
    assert whole.provider_model == MODELS[kind]


SSE_HEADERS = {"content-type": "text/event-stream"}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_usage_gives_none_not_an_error(kind: str) -> None:
    body = {k: v for k, v in PLAIN[kind].items() if k not in ("usage", "usageMetadata")}
    reply = run(kind, lambda r: httpx.Response(200, json=body))
    assert reply.usage is None and reply.text == "Let me check."


def test_a_stream_request_answered_with_plain_json_still_streams() -> None:
    chunks = run("openai", lambda r: httpx.Response(200, json=PLAIN["openai"]), streaming=True)
    assert [c.text for c in chunks] == ["Let me check.", ""] and chunks[-1].done


def test_gzip_body_is_decoded() -> None:
    raw = gzip.compress(json.dumps(PLAIN["openai"]).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    reply = run("openai", lambda r: httpx.Response(200, content=raw, headers=headers))
    assert reply.text == "Let me check."


# -- errors -------------------------------------------------------------------------------------
STATUS_ERRORS = [
    (400, ProviderBadRequest),
    (401, ProviderAuthError),
    (403, ProviderAuthError),
    (404, ProviderModelNotFound),
    (408, ProviderTimeout),
    (422, ProviderBadRequest),
    (429, ProviderRateLimited),
    (500, ProviderUnavailable),
    (503, ProviderUnavailable),
    (529, ProviderUnavailable),
]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("status", "error"), STATUS_ERRORS)
def test_every_error_status_maps_to_its_class(
    status: int, error: type[ProviderError], streaming: bool, use_async: bool
) -> None:
    body = {"error": {"type": "some_error", "message": "the provider says no"}}
    with pytest.raises(error) as caught:
        run(
            "openai",
            lambda r: httpx.Response(status, json=body),
            streaming=streaming,
            use_async=use_async,
        )
    err = caught.value
    assert err.status == status and err.model == "m1"
    assert err.retryable == (status in (408, 429) or status >= 500)
    assert "the provider says no" in str(err) and str(err).startswith(f"m1: HTTP {status}")


def test_anthropic_overload_and_gemini_bad_key_map_sensibly() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ProviderUnavailable, match="Overloaded"):
        run("anthropic", lambda r: httpx.Response(529, json=overloaded))
    bad_key = {
        "error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}
    }
    with pytest.raises(ProviderAuthError):
        run("gemini", lambda r: httpx.Response(400, json=bad_key))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "in a while"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds_are_read_from_a_429(
    headers: dict[str, str], expected: float | None
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        run("openai", lambda r: httpx.Response(429, headers=headers, text="slow down"))
    assert caught.value.retry_after_s == expected


def test_retry_after_http_date_is_read_as_seconds_from_now() -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    with pytest.raises(ProviderRateLimited) as caught:
        run("anthropic", lambda r: httpx.Response(429, headers={"retry-after": when}))
    assert caught.value.retry_after_s is not None and 27 <= caught.value.retry_after_s <= 30


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.RemoteProtocolError("peer closed connection"), ProviderUnavailable),
        (httpx.ReadError("connection reset by peer"), ProviderUnavailable),
        (httpx.ReadTimeout("timed out"), ProviderTimeout),
        (httpx.UnsupportedProtocol("ftp"), ProviderBadRequest),
    ],
)
def test_transport_exceptions_become_typed_errors(
    raised: Exception, error: type[ProviderError], use_async: bool
) -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(error) as caught:
        run("gemini", handler, use_async=use_async)
    assert caught.value.model == "m1" and caught.value.status is None


def _bad(kind: str, body: bytes, streaming: bool = False) -> Handler:
    return lambda r: httpx.Response(200, content=body, headers=SSE_HEADERS if streaming else {})


@pytest.mark.parametrize(
    ("kind", "body", "streaming"),
    [
        ("openai", b"<html>oops</html>", False),
        ("openai", b'{"choices": []}', False),
        ("openai", b'{"choices": [{"message": "text"}]}', False),
        ("anthropic", b'{"content": "not a list"}', False),
        ("gemini", b"[1, 2]", False),
        ("openai", b"\n\n".join(STREAMS["openai"].split(b"\n\n")[:3]) + b"\n\n", True),
        ("openai", b"data: {not json}\n\n", True),
        ("anthropic", STREAMS["anthropic"].split(b"event: message_delta")[0], True),
        ("gemini", sse((None, {"candidates": [{"content": {"parts": [{"text": "a"}]}}]})), True),
    ],
)
def test_unreadable_answers_raise_malformed_response(
    kind: str, body: bytes, streaming: bool
) -> None:
    with pytest.raises(MalformedResponse) as caught:
        run(kind, _bad(kind, body, streaming), streaming=streaming)
    assert caught.value.retryable and caught.value.model == "m1"


def test_error_events_inside_a_stream_raise_typed_errors() -> None:
    overloaded = sse(
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    )
    with pytest.raises(ProviderUnavailable, match="busy"):
        run("anthropic", _bad("anthropic", overloaded, True), streaming=True)
    limited = sse(
        ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}})
    )
    with pytest.raises(ProviderRateLimited):
        run("anthropic", _bad("anthropic", limited, True), streaming=True)
    gemini = sse((None, {"error": {"code": 503, "message": "unavailable"}}))
    with pytest.raises(ProviderUnavailable):
        run("gemini", _bad("gemini", gemini, True), streaming=True)


class Endless(httpx.SyncByteStream):
    """1 MiB pieces forever, counting how many were read."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.read += 1
            yield b" " * (1 << 20)


def test_oversized_bodies_are_refused_without_reading_them_whole() -> None:
    endless = Endless()
    with pytest.raises(MalformedResponse, match="over"):
        run("openai", lambda r: httpx.Response(200, stream=endless))
    assert 8 <= endless.read <= 9
    declared = Endless()
    headers = {"content-length": str(100 << 20)}
    with pytest.raises(MalformedResponse, match="over"):
        run("openai", lambda r: httpx.Response(200, stream=declared, headers=headers))
    assert declared.read == 0


def test_missing_key_names_the_variable_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV)
    sent: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        sent.append(r)
        return httpx.Response(200, json=PLAIN["openai"])

    for streaming in (False, True):
        with pytest.raises(ProviderAuthError, match=ENV) as caught:
            run("openai", handler, streaming=streaming)
        assert not caught.value.retryable and caught.value.model == "m1"
    assert sent == []


def test_no_key_env_sends_no_auth_header() -> None:
    local = Connection(base_url="http://127.0.0.1:11434/v1")
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, json=PLAIN["openai"])

    assert run("openai", handler, connection=local).text == "Let me check."
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("kind", KINDS)
def test_the_key_never_shows_in_errors_or_reprs(kind: str) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}. " + "x" * 600}}
    with pytest.raises(ProviderAuthError) as caught:
        run(kind, lambda r: httpx.Response(401, json=echo))
    err = caught.value
    assert KEY not in str(err) and KEY not in repr(err) and "[redacted]" in str(err)
    assert len(err.message) <= 230  # at most ~200 characters of the provider's body

    def leaky(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach host with {r.headers.get('x-api-key', KEY)}")

    with pytest.raises(ProviderUnavailable) as unreachable:
        run(kind, leaky)
    assert KEY not in str(unreachable.value)
    http = provider_for(kind).build_request(
        conn(kind), SIMPLE, model_id="m", api_key=KEY, stream=False
    )
    assert KEY not in repr(http) and KEY not in repr(conn(kind))


def test_a_deadline_already_past_raises_without_calling() -> None:
    sent: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        sent.append(r)
        return httpx.Response(200, json=PLAIN["openai"])

    for use_async in (False, True):
        with pytest.raises(DeadlineExceeded):
            run("openai", handler, use_async=use_async, deadline_s=-1.0)
    assert sent == []


def test_connection_timeout_s_shorter_than_the_deadline_gives_provider_timeout() -> None:
    def slow(r: httpx.Request) -> httpx.Response:
        time.sleep(0.15)
        return httpx.Response(200, json=PLAIN["openai"])

    with pytest.raises(ProviderTimeout, match=r"timeout_s=0\.05"):
        run("openai", slow, connection=conn("openai", timeout_s=0.05))


# -- messages, SSE, registry --------------------------------------------------------------------
def test_requests_are_validated() -> None:
    with pytest.raises(InvalidInput, match="tool_choice"):
        ChatRequest.from_prompt("x", tool_choice="no_such_tool")
    with pytest.raises(InvalidInput, match="tool_call_id"):
        Message(role="tool", content="42")
    with pytest.raises(InvalidInput, match="base_url"):
        Connection(base_url="api.openai.com")
    with pytest.raises(InvalidInput, match="api_key_env"):
        Connection(base_url="https://x", api_key_env="sk-live-not-a-name")
    assert ChatRequest.from_prompt("x", response_format="json").response_format is not None


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12), crlf=st.booleans())
def test_sse_decoding_does_not_depend_on_how_the_bytes_are_split(
    cuts: list[int], crlf: bool
) -> None:
    body = sse(("a", {"x": "é" * 3}), (None, "line1"), ("b", "[DONE]"), crlf=crlf)
    body += b": comment\n\ndata: tail"  # a last event without its blank line
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    edges = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    for start, end in itertools.pairwise(edges):
        events += decoder.feed(body[start:end])
    events += decoder.flush()
    assert events == [
        SSEEvent("a", json.dumps({"x": "é" * 3})),
        SSEEvent("message", "line1"),
        SSEEvent("b", "[DONE]"),
        SSEEvent("message", "tail"),
    ]


def test_registry_with_a_connection_table_loads_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[[model]]\nid = "claude"\nprovider = "anthropic"\n'
        "input_usd_per_mtok = 3.0\noutput_usd_per_mtok = 15.0\n\n"
        '[model.connection]\nkind = "anthropic"\nbase_url = "https://api.anthropic.com/v1/"\n'
        'model_name = "claude-x-latest"\napi_key_env = "ANTHROPIC_API_KEY"\ntimeout_s = 30\n\n'
        '[[model]]\nid = "local"\nprovider = "ollama"\n'
        "input_usd_per_mtok = 0\noutput_usd_per_mtok = 0\n"
    )
    reg = Registry.load(path)
    connection = reg["claude"].connection
    assert connection == Connection(
        kind="anthropic",
        base_url="https://api.anthropic.com/v1",
        model_name="claude-x-latest",
        api_key_env="ANTHROPIC_API_KEY",
        timeout_s=30.0,
    )
    assert reg["local"].connection is None
    for suffix in (".toml", ".json"):
        again_path = tmp_path / f"again{suffix}"
        reg.save(again_path)
        assert list(Registry.load(again_path)) == list(reg)
    path.write_text(path.read_text().replace('kind = "anthropic"', 'kind = "cohere"'))
    with pytest.raises(RegistryError, match="kind == 'cohere'"):
        Registry.load(path)


def test_join_chunks_of_a_stream_equals_the_plain_answer() -> None:
    plain = run("anthropic", lambda r: httpx.Response(200, json=PLAIN["anthropic"]))
    chunks = [StreamChunk(text="Let me "), StreamChunk(text="check.")]
    chunks.append(
        StreamChunk(
            tool_calls=plain.tool_calls,
            finish_reason="tool_calls",
            usage=plain.usage,
            provider_model=plain.provider_model,
        )
    )
    assert join_chunks(chunks) == plain
