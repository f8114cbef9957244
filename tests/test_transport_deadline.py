"""The call deadline holds against a real server on 127.0.0.1 that trickles its answer, and every
call ends with an answer or a typed ProviderError whatever the transport does."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute.gateway import transport
from banditroute.gateway.async_pool import make_async_client
from banditroute.gateway.connection import Connection
from banditroute.gateway.errors import DeadlineExceeded, ProviderError, ProviderTimeout
from banditroute.gateway.messages import ChatRequest, ChatResponse, StreamChunk

ANSWER = json.dumps(
    {
        "model": "trickle-1",
        "choices": [{"index": 0, "message": {"content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
).encode()
EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'
STEP_S = 0.2
DEADLINE_S = 0.6
SLACK_S = 0.1
REQUEST = ChatRequest.from_prompt("hi")


class TrickleHandler(BaseHTTPRequestHandler):
    """``/fast/...`` answers at once; ``/trickle/...`` sends the body one byte per STEP_S;
    ``/events/...`` sends one SSE event per STEP_S and never ends; ``/headers/...`` trickles
    its status line; ``/close/...`` trickles a body without a length (it ends at close)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            if self.path.startswith("/headers"):
                for byte in b"HTTP/1.1 200 OK\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(STEP_S)
                return
            streaming = self.path.startswith("/events")
            self.send_response(200)
            self.send_header(
                "content-type", "text/event-stream" if streaming else "application/json"
            )
            if streaming:
                self.send_header("transfer-encoding", "chunked")
            elif not self.path.startswith("/close"):  # /close: the body ends when it closes
                self.send_header("content-length", str(len(ANSWER)))
            self.end_headers()
            if self.path.startswith("/fast"):
                self.wfile.write(ANSWER)
            elif streaming:
                for _ in range(50):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(EVENT), EVENT))
                    self.wfile.flush()
                    time.sleep(STEP_S)
            else:
                for byte in ANSWER:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(STEP_S)
        except OSError:  # the client hung up at its deadline
            self.close_connection = True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    with httpx.Client() as client:  # warm up imports and the server once
        warm = Connection(base_url=f"{base}/fast")
        transport.send(client, warm, REQUEST, model_id="m", deadline=time.monotonic() + 5)
    asyncio.run(_async_warm_up(warm))
    yield base
    httpd.shutdown()
    httpd.server_close()


async def _async_warm_up(connection: Connection) -> None:
    async with httpx.AsyncClient() as client:
        await transport.asend(
            client, connection, REQUEST, model_id="m", deadline=time.monotonic() + 5
        )


def _sync_call(
    client: httpx.Client, connection: Connection, streaming: bool, deadline: float
) -> Any:
    if streaming:
        return list(transport.stream(client, connection, REQUEST, model_id="m", deadline=deadline))
    return transport.send(client, connection, REQUEST, model_id="m", deadline=deadline)


async def _async_call(
    client: httpx.AsyncClient, connection: Connection, streaming: bool, deadline: float
) -> Any:
    if streaming:
        chunks = transport.astream(client, connection, REQUEST, model_id="m", deadline=deadline)
        return [chunk async for chunk in chunks]
    return await transport.asend(client, connection, REQUEST, model_id="m", deadline=deadline)


@pytest.mark.parametrize(
    ("path", "streaming"),
    [
        ("trickle", False),
        ("trickle", True),
        ("events", True),
        ("headers", False),
        ("close", False),
        ("close", True),
    ],
)
def test_sync_calls_end_at_the_deadline_against_a_trickling_server(
    server: str, path: str, streaming: bool
) -> None:
    connection = Connection(base_url=f"{server}/{path}")
    with httpx.Client() as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            _sync_call(client, connection, streaming, start + DEADLINE_S)
        elapsed = time.monotonic() - start
        assert DEADLINE_S - 0.05 <= elapsed <= DEADLINE_S + SLACK_S
        assert caught.value.model == "m" and not caught.value.retryable
        fast = Connection(base_url=f"{server}/fast")  # the client's pool is still usable
        answer = transport.send(client, fast, REQUEST, model_id="m", deadline=time.monotonic() + 5)
        assert answer.text == "hello"


@pytest.mark.parametrize("pool", ["httpx", "gateway-default"])
@pytest.mark.parametrize(
    ("path", "streaming"),
    [
        ("trickle", False),
        ("trickle", True),
        ("events", True),
        ("headers", False),
        ("close", False),
        ("close", True),
    ],
)
def test_async_calls_end_at_the_deadline_against_a_trickling_server(
    server: str, path: str, streaming: bool, pool: str
) -> None:
    """Both httpx's own pool and the gateway's default (httpx over aiohttp) keep the deadline."""

    async def main() -> float:
        made = httpx.AsyncClient() if pool == "httpx" else make_async_client()
        async with made as client:
            start = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await _async_call(
                    client, Connection(base_url=f"{server}/{path}"), streaming, start + DEADLINE_S
                )
            return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert DEADLINE_S - 0.05 <= elapsed <= DEADLINE_S + SLACK_S


def test_a_stream_yields_what_arrived_before_its_deadline(server: str) -> None:
    seen: list[StreamChunk] = []
    connection = Connection(base_url=f"{server}/events")
    with httpx.Client() as client, pytest.raises(DeadlineExceeded):
        for chunk in transport.stream(
            client, connection, REQUEST, model_id="m", deadline=time.monotonic() + DEADLINE_S
        ):
            seen.append(chunk)
    assert 2 <= len(seen) <= 4 and all(c.text == "x" for c in seen)


def test_the_connection_timeout_ends_a_call_before_a_later_deadline(server: str) -> None:
    connection = Connection(base_url=f"{server}/trickle", timeout_s=0.4)
    with httpx.Client() as client:
        start = time.monotonic()
        with pytest.raises(ProviderTimeout) as caught:
            transport.send(client, connection, REQUEST, model_id="m", deadline=start + 30)
        assert time.monotonic() - start <= 0.4 + SLACK_S and caught.value.retryable


# -- whatever the transport does, the call ends with an answer or a typed error ----------------
FAILURES = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("connect timed out"),
    httpx.ReadTimeout("read timed out"),
    httpx.ReadError("reset"),
    httpx.RemoteProtocolError("peer closed"),
    httpx.PoolTimeout("pool"),
]
step = st.one_of(
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.01, 0.03, 0.06])),
    st.tuples(st.just("fail"), st.integers(0, len(FAILURES) - 1)),
    st.tuples(st.just("status"), st.sampled_from([200, 400, 401, 404, 429, 500, 503])),
    st.tuples(st.just("body"), st.sampled_from(["ok", "no-usage", "garbage", "empty", "cut"])),
)
CALL_DEADLINE_S = 0.1
MAX_SLEEP_S = 0.06


def _body(kind: str, streaming: bool) -> bytes:
    if kind == "garbage":
        return b"{oops"
    if kind == "empty":
        return b""
    if streaming:
        events = [
            EVENT,
            b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
        ]
        if kind == "ok":
            events.append(
                b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}\n\n'
            )
        events.append(b"data: [DONE]\n\n")
        return b"".join(events)[: 20 if kind == "cut" else None]
    whole = json.loads(ANSWER)
    if kind == "no-usage":
        del whole["usage"]
    return json.dumps(whole).encode()[: 20 if kind == "cut" else None]


@dataclass
class Plan:
    """What the mock provider does: sleep ``delay``, then raise ``failure`` or answer ``status``
    with ``body`` in pieces, sleeping ``body_sleeps`` between them."""

    body: bytes
    delay: float = 0.0
    failure: Exception | None = None
    status: int = 200
    body_sleeps: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, steps: list[tuple[str, Any]], streaming: bool) -> Plan:
        """Steps before the first ``status`` step delay the answer (or fail it); later ones
        shape the body."""
        plan = cls(body=_body("ok", streaming))
        answered = False
        for kind, value in steps:
            if kind == "sleep" and answered:
                plan.body_sleeps.append(value)
            elif kind == "sleep":
                plan.delay += value
            elif kind == "fail" and not answered:
                plan.failure = FAILURES[value]
                break
            elif kind == "status":
                plan.status, answered = value, True
            elif kind == "body":
                plan.body = _body(value, streaming)
        return plan

    def pieces(self) -> list[bytes]:
        size = max(1, len(self.body) // (len(self.body_sleeps) + 1))
        return [self.body[i : i + size] for i in range(0, len(self.body), size)] or [b""]


class SyncScripted(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes], sleeps: list[float]) -> None:
        self.pieces, self.sleeps = pieces, sleeps

    def __iter__(self) -> Iterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if i and i - 1 < len(self.sleeps):
                time.sleep(self.sleeps[i - 1])
            yield piece


class AsyncScripted(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes], sleeps: list[float]) -> None:
        self.pieces, self.sleeps = pieces, sleeps

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if i and i - 1 < len(self.sleeps):
                await asyncio.sleep(self.sleeps[i - 1])
            yield piece


def _check(outcome: object, streaming: bool, elapsed: float, bound: float) -> None:
    if streaming and isinstance(outcome, list):
        assert outcome and outcome[-1].done and all(isinstance(c, StreamChunk) for c in outcome)
    else:
        assert isinstance(outcome, ChatResponse | ProviderError), repr(outcome)
    assert elapsed <= bound, elapsed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=5), streaming=st.booleans())
def test_sync_calls_end_with_an_answer_or_a_typed_error(
    steps: list[tuple[str, Any]], streaming: bool
) -> None:
    plan = Plan.of(steps, streaming)

    def handler(request: httpx.Request) -> httpx.Response:
        time.sleep(plan.delay)
        if plan.failure is not None:
            raise plan.failure
        return httpx.Response(plan.status, stream=SyncScripted(plan.pieces(), plan.body_sleeps))

    connection = Connection(base_url="http://127.0.0.1:9/v1")
    start = time.monotonic()
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        try:
            outcome: object = _sync_call(client, connection, streaming, start + CALL_DEADLINE_S)
        except ProviderError as exc:
            outcome = exc
    # a sync MockTransport sleeps in the caller's thread: the handler's delay and one body
    # sleep cannot be cut short (against real sockets the watchdog does that)
    bound = max(CALL_DEADLINE_S, plan.delay) + MAX_SLEEP_S + 0.05
    _check(outcome, streaming, time.monotonic() - start, bound)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=5), streaming=st.booleans())
def test_async_calls_end_with_an_answer_or_a_typed_error(
    steps: list[tuple[str, Any]], streaming: bool
) -> None:
    plan = Plan.of(steps, streaming)

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(plan.delay)
        if plan.failure is not None:
            raise plan.failure
        return httpx.Response(plan.status, stream=AsyncScripted(plan.pieces(), plan.body_sleeps))

    async def main() -> object:
        connection = Connection(base_url="http://127.0.0.1:9/v1")
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            try:
                return await _async_call(client, connection, streaming, start + CALL_DEADLINE_S)
            except ProviderError as exc:
                return exc

    start = time.monotonic()
    outcome = asyncio.run(main())
    _check(outcome, streaming, time.monotonic() - start, CALL_DEADLINE_S + 0.05)
