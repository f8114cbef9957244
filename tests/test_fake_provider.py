"""The fake provider server: three chat APIs, plain and streaming, faults, load, lifecycle."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fake_provider import FakeProvider, Fault, FaultRates, RecordedRequest, fake_tokens
from hypothesis import given
from hypothesis import strategies as st

USER = [{"role": "user", "content": "what is two plus two"}]
ECHO = "echo: what is two plus two"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
HTTP = httpx.Client(timeout=10.0)  # one pool: a fresh client per call costs ~50 ms


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def server(shared: FakeProvider) -> Iterator[FakeProvider]:
    yield shared
    shared.clear()


def sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields.get("event"), fields["data"]))
    return events


def chat(server: FakeProvider, api: str, model: str, **extra: Any) -> httpx.Response:
    """One plain request to ``api`` with the USER prompt."""
    timeout = extra.pop("timeout", 10.0)
    if api == "openai":
        url, headers = server.openai_base_url + "/chat/completions", {"Authorization": "Bearer k"}
        body: dict[str, Any] = {"model": model, "messages": USER, **extra}
    elif api == "anthropic":
        url, headers = server.base_url + "/v1/messages", ANTHROPIC_HEADERS
        body = {"model": model, "messages": USER, "max_tokens": 64, **extra}
    else:
        url = f"{server.gemini_base_url}/models/{model}:generateContent"
        headers = {"x-goog-api-key": "k"}
        body = {"contents": [{"role": "user", "parts": [{"text": USER[0]["content"]}]}], **extra}
    return HTTP.post(url, json=body, headers=headers, timeout=timeout)


def reply_text(api: str, body: dict[str, Any]) -> str:
    if api == "openai":
        return str(body["choices"][0]["message"]["content"])
    if api == "anthropic":
        return str(body["content"][0]["text"])
    return str(body["candidates"][0]["content"]["parts"][0]["text"])


APIS = ["openai", "anthropic", "gemini"]


# --------------------------------------------------------------------------- OpenAI


def test_openai_client_plain_and_models(server: FakeProvider) -> None:
    server.set_model("gpt-x", text="four")
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(model="gpt-x", messages=USER)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "four"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == fake_tokens(USER[0]["content"])
    assert completion.usage.completion_tokens == fake_tokens("four")
    assert [m.id for m in client.models.list()] == ["gpt-x"]
    (recorded,) = server.requests("gpt-x")
    assert recorded.api == "openai" and recorded.auth_present
    assert recorded.headers["authorization"] == "[redacted]"
    assert "sk-test" not in repr(recorded) and "sk-test" not in repr(server.requests())


def test_openai_client_streaming_with_usage(server: FakeProvider) -> None:
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ECHO
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == fake_tokens(ECHO)
    assert server.requests("m")[0].stream


def test_openai_tool_call_plain_and_streaming(server: FakeProvider) -> None:
    server.set_model("m", tool_call={"city": "Paris"})
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    done = client.chat.completions.create(model="m", messages=USER, tools=tools)  # type: ignore[arg-type]
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert done.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    stream = client.chat.completions.create(model="m", messages=USER, tools=tools, stream=True)  # type: ignore[arg-type]
    deltas = [c.choices[0].delta for c in stream if c.choices]
    args = "".join(t.function.arguments or "" for d in deltas for t in d.tool_calls or [])
    assert json.loads(args) == {"city": "Paris"}
    # without tools in the request the script answers with text
    plain = client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert plain.choices[0].message.content == ECHO


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_plain_and_tool_use(server: FakeProvider) -> None:
    body = chat(server, "anthropic", "claude", system="be brief").json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": ECHO}]
    assert body["stop_reason"] == "end_turn"
    prompt = "be brief" + USER[0]["content"]
    assert body["usage"] == {
        "input_tokens": fake_tokens(prompt),
        "output_tokens": fake_tokens(ECHO),
    }
    server.set_model("claude", tool_call={"q": 1})
    tools = [{"name": "search", "input_schema": {"type": "object"}}]
    block = chat(server, "anthropic", "claude", tools=tools).json()["content"][0]
    assert block["type"] == "tool_use" and block["name"] == "search" and block["input"] == {"q": 1}


def test_anthropic_streaming_events(server: FakeProvider) -> None:
    response = HTTP.post(
        server.base_url + "/v1/messages",
        json={"model": "claude", "messages": USER, "max_tokens": 64, "stream": True},
        headers=ANTHROPIC_HEADERS,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    datas = [json.loads(data) for _, data in events]
    assert all(d["type"] == name for d, name in zip(datas, names, strict=True))
    text = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
    assert text == ECHO
    assert datas[-2]["delta"]["stop_reason"] == "end_turn"
    assert datas[-2]["usage"]["output_tokens"] == fake_tokens(ECHO)


def test_anthropic_rejects_missing_version_and_max_tokens(server: FakeProvider) -> None:
    url = server.base_url + "/v1/messages"
    no_version = HTTP.post(
        url, json={"model": "c", "messages": USER, "max_tokens": 5}, headers={"x-api-key": "k"}
    )
    no_max = HTTP.post(url, json={"model": "c", "messages": USER}, headers=ANTHROPIC_HEADERS)
    for response in (no_version, no_max):
        assert response.status_code == 400
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- Gemini


def test_gemini_plain_stream_and_function_call(server: FakeProvider) -> None:
    system = {"parts": [{"text": "sys"}]}
    body = chat(server, "gemini", "gem", systemInstruction=system).json()
    candidate = body["candidates"][0]
    assert candidate["content"] == {"role": "model", "parts": [{"text": ECHO}]}
    assert candidate["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == fake_tokens("sys" + USER[0]["content"])
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + fake_tokens(ECHO)
    contents = [{"role": "user", "parts": [{"text": USER[0]["content"]}]}]
    url = f"{server.gemini_base_url}/models/gem:streamGenerateContent"
    streamed = HTTP.post(url + "?alt=sse", json={"contents": contents})
    chunks = [json.loads(data) for _, data in sse(streamed.text)]
    assert len(chunks) > 1 and "\r\n\r\n" in streamed.text
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == ECHO
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]
    array = HTTP.post(url, json={"contents": contents}).json()  # without alt=sse: a JSON array
    assert [{**c, "responseId": ""} for c in array] == [{**c, "responseId": ""} for c in chunks]
    server.set_model("gem", tool_call={"x": 2})
    tools = [{"functionDeclarations": [{"name": "lookup"}]}]
    part = chat(server, "gemini", "gem", tools=tools).json()["candidates"][0]["content"]["parts"]
    assert part == [{"functionCall": {"name": "lookup", "args": {"x": 2}}}]
    assert server.requests("gem")[0].auth_present


# --------------------------------------------------------------------------- all APIs


@pytest.mark.parametrize("api", APIS)
def test_max_tokens_cuts_the_answer(server: FakeProvider, api: str) -> None:
    server.set_model("m", text="y" * 400)
    extra: dict[str, Any] = {
        "openai": {"max_tokens": 10},
        "anthropic": {"max_tokens": 10},
        "gemini": {"generationConfig": {"maxOutputTokens": 10}},
    }[api]
    body = chat(server, api, "m", **extra).json()
    assert reply_text(api, body) == "y" * 40
    finish = {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}[api]
    assert finish in json.dumps(body)


def test_json_mode_answers_json(server: FakeProvider) -> None:
    body = chat(server, "openai", "m", response_format={"type": "json_object"}).json()
    assert json.loads(reply_text("openai", body)) == {"echo": USER[0]["content"]}


def test_bad_requests_and_unknown_routes(server: FakeProvider) -> None:
    bad = HTTP.post(server.openai_base_url + "/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    empty = HTTP.post(server.openai_base_url + "/chat/completions", json={"model": "m"})
    assert empty.status_code == 400
    assert HTTP.get(server.base_url + "/nowhere").status_code == 404
    assert HTTP.get(server.openai_base_url + "/chat/completions").status_code == 405


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("api", APIS)
def test_status_fault_in_each_api_error_format(server: FakeProvider, api: str) -> None:
    server.set_faults(
        "m", [Fault("status", status=429, retry_after=1.5), Fault("status", status=503)]
    )
    limited = chat(server, api, "m")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1.5"
    unavailable = chat(server, api, "m")
    assert unavailable.status_code == 503 and "retry-after" not in unavailable.headers
    error = unavailable.json()
    if api == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "api_error"
        assert limited.json()["error"]["type"] == "rate_limit_error"
    elif api == "gemini":
        assert error["error"]["code"] == 503 and error["error"]["status"] == "UNAVAILABLE"
        assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    else:
        assert error["error"]["type"] == "server_error" and "message" in error["error"]
    assert chat(server, api, "m").status_code == 200  # faults are used up
    assert [r.fault for r in server.requests("m")] == ["status:429", "status:503", None]


def test_scripted_faults_are_consumed_in_order(server: FakeProvider) -> None:
    statuses = [401, 503, 429, 404]
    server.set_faults("m", [Fault("status", status=s) for s in statuses])
    server.set_faults("m", [Fault("no_usage")], append=True)
    assert server.faults_left("m") == 5
    got = [chat(server, "openai", "m").status_code for _ in range(4)]
    assert got == statuses
    no_usage = chat(server, "openai", "m").json()
    assert "usage" not in no_usage and reply_text("openai", no_usage) == ECHO
    assert server.faults_left("m") == 0 and "usage" in chat(server, "openai", "m").json()
    assert chat(server, "openai", "other").status_code == 200  # faults are per model


def test_openai_client_sees_faults_as_its_own_errors(server: FakeProvider) -> None:
    server.set_faults("m", [Fault("status", status=401), Fault("reset"), Fault("malformed_json")])
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]


def test_timeout_fault_hangs_without_blocking_others(server: FakeProvider) -> None:
    server.set_faults("slow", [Fault("timeout", seconds=5)])

    async def run() -> float:
        async with httpx.AsyncClient(base_url=server.openai_base_url) as client:
            body = {"messages": USER}

            async def slow() -> None:
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(
                        "/chat/completions", json={**body, "model": "slow"}, timeout=0.5
                    )

            async def fast() -> float:
                await asyncio.sleep(0.1)
                start = time.monotonic()
                response = await client.post("/chat/completions", json={**body, "model": "fast"})
                assert response.status_code == 200
                return time.monotonic() - start

            return (await asyncio.gather(slow(), fast()))[1]

    assert asyncio.run(run()) < 0.3


def test_latency_is_applied(server: FakeProvider) -> None:
    server.set_model("m", latency_s=0.2)
    start = time.monotonic()
    assert chat(server, "openai", "m").status_code == 200
    assert time.monotonic() - start >= 0.2


def test_trickle_sends_one_byte_at_a_time(server: FakeProvider) -> None:
    server.set_faults("m", [Fault("trickle", seconds_per_byte=0.03)])
    url = server.openai_base_url + "/chat/completions"
    with HTTP.stream("POST", url, json={"model": "m", "messages": USER}) as response:
        assert response.status_code == 200
        total = int(response.headers["content-length"])
        start = time.monotonic()
        pieces = []
        for piece in response.iter_raw():
            pieces.append(piece)
            if len(pieces) == 6:
                break
    # one byte per send (the client may read two at once when it falls behind)
    assert total > 100 and sum(map(len, pieces)) <= 8
    assert time.monotonic() - start >= 0.1
    assert b"".join(pieces).startswith(b'{"id":')


@pytest.mark.parametrize("api", APIS)
def test_malformed_json_plain_and_streaming(server: FakeProvider, api: str) -> None:
    server.set_faults("m", [Fault("malformed_json")] * 2)
    plain = chat(server, api, "m")
    assert plain.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        plain.json()
    if api == "gemini":
        url = f"{server.gemini_base_url}/models/m:streamGenerateContent?alt=sse"
        streamed = HTTP.post(url, json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    else:
        streamed = chat(server, api, "m", stream=True)
    datas = [data for _, data in sse(streamed.text) if data != "[DONE]"]
    broken = 0
    for data in datas:
        try:
            json.loads(data)
        except json.JSONDecodeError:
            broken += 1
    assert broken == 1


@pytest.mark.parametrize("api", APIS)
def test_reset_closes_the_connection_without_a_reply(server: FakeProvider, api: str) -> None:
    server.set_faults("m", [Fault("reset")])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        chat(server, api, "m")
    assert chat(server, api, "m").status_code == 200
    assert [r.fault for r in server.requests("m")] == ["reset", None]


def test_huge_body_and_no_usage_streaming(server: FakeProvider) -> None:
    server.set_faults("m", [Fault("huge_body", mb=2), Fault("no_usage")])
    huge = chat(server, "openai", "m")
    assert len(huge.content) > 2 * 2**20
    assert reply_text("openai", huge.json()) == "x" * 2 * 2**20
    streamed = chat(server, "openai", "m", stream=True, stream_options={"include_usage": True})
    chunks = [json.loads(d) for _, d in sse(streamed.text) if d != "[DONE]"]
    assert all(c["choices"] for c in chunks) and all(c.get("usage") is None for c in chunks)


def test_fault_rates_are_reproducible_with_a_seed(server: FakeProvider) -> None:
    rates = FaultRates(status_5xx=0.3, timeout=0.1, rate_limited=0.2, timeout_s=0.0, seed=7)

    def run(model: str, seed_rates: FaultRates) -> list[str | None]:
        server.set_fault_rates(model, seed_rates)
        statuses = [chat(server, "openai", model).status_code for _ in range(40)]
        labels = [r.fault for r in server.requests(model)]
        assert statuses == [int(f[7:]) if f and f.startswith("status") else 200 for f in labels]
        return labels

    first, again = run("a", rates), run("b", rates)
    assert first == again
    assert {"status:503", "status:429", "timeout", None} == set(first)
    assert run("c", FaultRates(status_5xx=0.3, seed=8)) != first
    server.set_fault_rates("a", None)
    assert chat(server, "openai", "a").status_code == 200
    server.set_faults("b", [Fault("status", status=500)])  # scripted faults come first
    assert chat(server, "openai", "b").status_code == 500


@given(
    rates=st.lists(st.floats(0.0, 0.25), min_size=4, max_size=4),
    seed=st.integers(0, 2**31),
)
def test_fault_rates_draw_only_enabled_faults(rates: list[float], seed: int) -> None:
    five, slow, limited, reset = rates
    mix = FaultRates(five, slow, limited, reset, timeout_s=3.0, seed=seed)
    draws = [mix.draw(random.Random(seed)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]  # same seed, same first fault
    rng = random.Random(seed)
    many = [mix.draw(rng) for _ in range(200)]
    kinds = {f.label if f else None for f in many}
    enabled = {
        "status:503": rates[0],
        "timeout": rates[1],
        "status:429": rates[2],
        "reset": rates[3],
    }
    assert kinds - {None} <= {k for k, rate in enabled.items() if rate > 0}


def test_invalid_faults_are_rejected() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        Fault("status", status=200)
    with pytest.raises(ValueError, match="rates"):
        FaultRates(status_5xx=0.8, timeout=0.5)


# --------------------------------------------------------------------------- auth, load, lifecycle


@pytest.mark.parametrize("api", APIS)
def test_required_api_key(api: str) -> None:
    with FakeProvider(api_key="k") as server:
        assert chat(server, api, "m").status_code == 200
        server_repr = repr(server)
    with FakeProvider(api_key="right-key") as server:
        rejected = chat(server, api, "m")
        assert rejected.status_code == 401
        records: list[RecordedRequest] = server.requests("m")
        assert records[0].fault == "auth" and records[0].auth_present
        assert "right-key" not in repr(server) + server_repr and "right-key" not in repr(records)


def test_a_thousand_concurrent_requests(server: FakeProvider) -> None:
    # httpcore's pool scans every connection on each state change (O(n^2)): one AsyncClient
    # with 1,000 connections spends ~30 s in the client, so spread them over 20 clients.
    server.set_model("load", latency_s=0.5)
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)

    async def run() -> list[int]:
        clients = [
            httpx.AsyncClient(base_url=server.openai_base_url, limits=limits, timeout=30.0)
            for _ in range(20)
        ]
        calls = [
            clients[i % 20].post(
                "/chat/completions",
                json={"model": "load", "messages": [{"role": "user", "content": f"n{i}"}]},
            )
            for i in range(1000)
        ]
        try:
            responses = await asyncio.gather(*calls)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        return [r.status_code for r in responses if r.json()["choices"][0]["message"]["content"]]

    start = time.monotonic()
    assert asyncio.run(run()) == [200] * 1000
    assert time.monotonic() - start < 25.0  # far below 1000 x 0.5 s: they ran at once
    answered = {r.body["messages"][0]["content"] for r in server.requests("load")}
    assert answered == {f"n{i}" for i in range(1000)}


def test_stop_is_quick_frees_the_port_and_ends_requests_in_flight() -> None:
    server = FakeProvider()
    port = server.port
    server.set_faults("m", [Fault("timeout", seconds=30)])
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            chat(server, "openai", "m", timeout=10.0)
        except httpx.HTTPError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=hang)
    waiter.start()
    deadline = time.monotonic() + 5
    while not server.requests("m") and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2.0 and not server.running
    waiter.join(5)
    assert len(errors) == 1  # the hanging client got an error, not a 30 s wait
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind(("127.0.0.1", port))
    probe.close()
    server.stop()  # idempotent
    assert not any(t.name == f"fake-provider-{port}" for t in threading.enumerate())
