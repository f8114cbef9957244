"""LLMJudge against a real HTTP server on 127.0.0.1 that speaks the OpenAI chat API."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from banditroute.errors import InvalidInput, JudgeError
from banditroute.evaluation import LLMJudge, parse_scores

SECRET = "sk-test-0123456789-never-log-me"


class ChatServer(ThreadingHTTPServer):
    """Answers /v1/chat/completions with the next scripted reply."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.replies: list[tuple[int, str, float]] = []  # (status, content or raw body, delay)
        self.requests: list[tuple[dict[str, str], dict[str, object]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
        self.server.requests.append((headers, body))
        status, content, delay = self.server.replies.pop(0) if self.server.replies else (500, "", 0)
        time.sleep(delay)
        if status == 200 and not content.startswith("RAW:"):
            payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            data = json.dumps(payload).encode()
        else:
            data = content.removeprefix("RAW:").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def judge(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMJudge]:
    monkeypatch.setenv("JUDGE_KEY", SECRET)
    with LLMJudge(
        server.url, "judge-1", api_key_env="JUDGE_KEY", timeout_s=0.5, backoff_s=0.01
    ) as j:
        yield j


def test_scores_come_back_and_the_request_is_openai_shaped(
    server: ChatServer, judge: LLMJudge
) -> None:
    server.replies.append((200, '{"completeness": 0.8, "relevance": 1, "coherence": 0.6}', 0))
    e = judge.evaluate("What is 2+2?", "4")
    assert (e.completeness, e.relevance, e.coherence) == (0.8, 1.0, 0.6)
    assert e.total == pytest.approx(0.4 * 0.8 + 0.35 * 1.0 + 0.25 * 0.6)
    headers, body = server.requests[0]
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert body["model"] == "judge-1" and body["temperature"] == 0
    assert "What is 2+2?" in body["messages"][-1]["content"]  # type: ignore[index]


def test_retries_server_errors_then_succeeds(server: ChatServer, judge: LLMJudge) -> None:
    server.replies += [(503, "RAW:busy", 0), (429, "RAW:slow down", 0)]
    server.replies.append((200, 'Scores: {"completeness": 7, "relevance": 8, "coherence": 9}', 0))
    assert judge.evaluate("p", "r")[:3] == (0.7, 0.8, 0.9)
    assert len(server.requests) == 3


def test_timeouts_are_retried_then_reported(server: ChatServer, judge: LLMJudge) -> None:
    server.replies += [(200, '{"completeness": 1, "relevance": 1, "coherence": 1}', 1.0)] * 3
    with pytest.raises(JudgeError, match="timed out"):
        judge.evaluate("p", "r")


def test_client_errors_are_not_retried(server: ChatServer, judge: LLMJudge) -> None:
    server.replies += [(401, 'RAW:{"error": "bad key"}', 0)]
    with pytest.raises(JudgeError, match="HTTP 401"):
        judge.evaluate("p", "r")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "reply",
    ["I cannot grade this.", '{"completeness": 1, "relevance": 1}', "RAW:not json", 'RAW:{"x": 1}'],
)
def test_unreadable_replies_raise_judge_error(
    server: ChatServer, judge: LLMJudge, reply: str
) -> None:
    server.replies.append((200, reply, 0))
    with pytest.raises(JudgeError):
        judge.evaluate("p", "r")


def test_unreachable_endpoint_is_a_judge_error() -> None:
    judge = LLMJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_retries=1, backoff_s=0)
    with judge, pytest.raises(JudgeError, match="connection failed"):
        judge.evaluate("p", "r")


def test_the_key_is_never_logged_or_kept(
    server: ChatServer, judge: LLMJudge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.replies += [(500, "RAW:oops", 0)] * 3
    with pytest.raises(JudgeError) as info:
        judge.evaluate("p", "r")
    assert SECRET not in caplog.text and SECRET not in str(info.value)
    assert SECRET not in repr(judge) and SECRET not in str(vars(judge))


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(InvalidInput):
        LLMJudge("ftp://x", "m")
    with pytest.raises(InvalidInput):
        LLMJudge("http://127.0.0.1:1/v1", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"completeness": 0.5, "relevance": 0.25, "coherence": 1}', (0.5, 0.25, 1.0)),
        (
            '```json\n{"Completeness": "80", "Relevance": 90, "Coherence": 100}\n```',
            (0.8, 0.9, 1.0),
        ),
        ('{"a": 1} then {"completeness": 3, "relevance": 4, "coherence": 5}', (0.3, 0.4, 0.5)),
    ],
)
def test_parse_scores_reads_common_shapes(text: str, expected: tuple[float, ...]) -> None:
    assert parse_scores(text) == expected


@pytest.mark.parametrize(
    "text", ["", "{}", '{"completeness": -1, "relevance": 1, "coherence": 1}', "{nope}"]
)
def test_parse_scores_rejects_junk(text: str) -> None:
    with pytest.raises(JudgeError):
        parse_scores(text)
