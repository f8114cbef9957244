"""``banditroute serve`` end to end: real uvicorn processes on 127.0.0.1 in front of the fake
provider server, called with the official ``openai`` client.

Two servers share one decision log folder and one real ``redis-server`` (``--redis``): A (one
process, a service key required, ``--state``) and B (``--workers 2`` through the app factory,
loopback without keys). The last test stops both and reads the rows every process wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from banditroute.errors import NoFeasibleModel
from banditroute.serve.auth import ServiceKeys, hash_key
from banditroute.serve.failures import failure_for
from banditroute.store import DecisionStore
from tests.fake_provider import FakeProvider, FaultRates
from tests.redis_server import RedisServer
from tests.serve_helpers import ServerProcess, free_port, write_config

KEY = "sk-test-service-key"
AUTH = {"authorization": f"Bearer {KEY}"}
USER = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass
class Servers:
    a: ServerProcess  # service key required, --state
    b: ServerProcess  # loopback without keys, --workers 2
    store: Path
    state: Path
    ids: dict[str, set[str]]  # decision ids served by each server


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


@pytest.fixture(scope="module")
def servers(
    provider: FakeProvider, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("serve")
    config = write_config(root / "models.toml", provider)
    store, state = root / "store", root / "state"
    common = ["--config", str(config), "--store", str(store), "--redis", redis.url]
    a = ServerProcess(
        [*common, "--state", str(state)],
        free_port(),
        root / "a.log",
        {"BANDITROUTE_SERVICE_KEYS": hash_key(KEY)},
    )
    b = ServerProcess(
        [*common, "--workers", "2", "--host", "127.0.0.1"], free_port(), root / "b.log"
    )
    try:
        a.wait_ready()
        b.wait_ready()
        yield Servers(a, b, store, state, {"a": set(), "b": set()})
    finally:
        a.stop()
        b.stop()


@pytest.fixture(autouse=True)
def fresh(provider: FakeProvider) -> None:
    provider.clear()


def ask_a(s: Servers, **kw: object) -> openai.types.chat.ChatCompletion:
    """One completion from A (its decision id remembered for the decision log test)."""
    reply = s.a.client(KEY).chat.completions.create(messages=USER, **kw)  # type: ignore[call-overload]
    extra = reply.model_extra["banditroute"]
    if extra["decision_id"]:
        s.ids["a"].add(extra["decision_id"])
    return reply  # type: ignore[no-any-return]


# -- routing, feedback, auth -----------------------------------------------------------------


def test_auto_routes_and_the_decision_id_takes_feedback(servers: Servers) -> None:
    raw = servers.a.client(KEY).chat.completions.with_raw_response.create(
        model="auto", messages=USER
    )
    reply = raw.parse()
    decision_id = raw.headers["x-banditroute-decision-id"]
    extra = reply.model_extra["banditroute"]
    servers.ids["a"].add(decision_id)
    assert extra["decision_id"] == decision_id and reply.id == f"chatcmpl-{decision_id}"
    assert reply.model in {"big", "small", "claude", "flaky"}
    assert reply.model == raw.headers["x-banditroute-model"] == extra["attempts"][-1]["model"]
    assert reply.choices[0].message.content == "echo: What is the capital of France?"
    assert extra["attempts"][-1]["status"] == "ok" and 0 < extra["propensity"] <= 1
    assert reply.usage is not None and reply.usage.completion_tokens > 0 and extra["cost_usd"] > 0
    sent = {"decision_id": decision_id, "quality": 0.8, "latency_ms": 120.0}
    outcome = httpx.post(servers.a.url + "/v1/feedback", json=sent, headers=AUTH)
    assert outcome.status_code == 200
    assert outcome.json()["model"] == reply.model and outcome.json()["quality"] == 0.8
    again = httpx.post(servers.a.url + "/v1/feedback", json=sent, headers=AUTH)
    assert again.status_code == 404 and again.json()["error"]["code"] == "decision_not_found"
    bad = httpx.post(servers.a.url + "/v1/feedback", json={"decision_id": 3}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


def test_a_configured_service_key_is_required(servers: Servers) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        servers.a.client("not-the-key").chat.completions.create(model="auto", messages=USER)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    for path in ("/v1/models", "/metrics", "/v1/decisions/abc"):
        assert httpx.get(servers.a.url + path).status_code == 401
    assert httpx.get(servers.a.url + "/healthz").status_code == 200  # for load balancers
    assert KEY not in servers.a.tail(100_000)


def test_presets_and_forced_models(servers: Servers) -> None:
    assert ask_a(servers, model="auto:code").model == "big"  # the only model with "code"
    assert ask_a(servers, model="auto:cheap").model == "small"
    forced = ask_a(servers, model="claude")  # the Anthropic API behind the OpenAI one
    assert forced.model == "claude" and forced.model_extra["banditroute"]["propensity"] == 1.0
    for unknown in ("gpt-9", "auto:nope"):
        with pytest.raises(openai.NotFoundError) as caught:
            ask_a(servers, model=unknown)
        assert caught.value.code == "model_not_found"


def test_constraints_from_the_body_and_from_headers(servers: Servers) -> None:
    body = {"banditroute": {"allow_models": ["claude"]}}
    assert ask_a(servers, model="auto", extra_body=body).model == "claude"
    code = {"x-banditroute-capabilities": "code"}
    assert ask_a(servers, model="auto", extra_headers=code).model == "big"
    both = {"banditroute": {"allow_models": ["small", "big"]}}
    assert ask_a(servers, model="auto", extra_body=both, extra_headers=code).model == "big"
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        ask_a(servers, model="auto", extra_headers={"x-banditroute-max-cost-usd": "1e-12"})
    assert caught.value.code == "no_feasible_model" and "max_cost_usd" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        ask_a(servers, model="auto", extra_headers={"x-banditroute-min-quality": "high"})
    with pytest.raises(openai.BadRequestError):
        ask_a(servers, model="auto", extra_body={"banditroute": {"max_cost_usd": "cheap"}})
    capped = {"x-banditroute-tags": "capped"}  # a 1e-9 USD budget: one call uses it up
    assert ask_a(servers, model="auto:cheap", extra_headers=capped).model == "small"
    with pytest.raises(openai.RateLimitError) as limited:
        ask_a(servers, model="auto:cheap", extra_headers=capped)
    assert limited.value.code == "budget_exhausted"
    assert ask_a(servers, model="auto:cheap").model == "small"  # untagged calls go on


def test_streaming_passes_through_as_server_sent_events(
    servers: Servers, provider: FakeProvider
) -> None:
    provider.set_model("small", text="one two three four five six", chunk_chars=4)
    client = servers.a.client(KEY)
    raw = client.chat.completions.with_raw_response.create(
        model="small", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    decision_id = raw.headers["x-banditroute-decision-id"]
    servers.ids["a"].add(decision_id)
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six" and len(chunks) > 3
    assert all(c.model == "small" and c.id == f"chatcmpl-{decision_id}" for c in chunks)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra["banditroute"]["decision_id"] == decision_id
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    body = {"model": "small", "messages": USER, "stream": True}
    with httpx.stream("POST", servers.a.url + "/v1/chat/completions", json=body, headers=AUTH) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_failover_shows_in_attempts_and_a_cooled_down_model_degrades_health(
    servers: Servers, provider: FakeProvider
) -> None:
    provider.set_fault_rates("flaky", FaultRates(status_5xx=1.0))
    both = {"banditroute": {"allow_models": ["flaky", "small"]}}
    for _ in range(30):  # until the bandit ranks the (cheapest) failing model first
        attempts = ask_a(servers, model="auto", extra_body=both).model_extra["banditroute"][
            "attempts"
        ]
        if attempts[0]["model"] == "flaky":
            break
    assert [(a["model"], a["status"]) for a in attempts] == [
        ("flaky", "failed"),
        ("flaky", "failed"),
        ("small", "ok"),
    ]
    assert attempts[0]["error"].startswith("ProviderUnavailable")
    with pytest.raises(openai.InternalServerError) as failed:  # the breaker opens (3 failures)
        ask_a(servers, model="flaky")
    assert failed.value.status_code == 502 and failed.value.code == "upstream_failed"
    with pytest.raises(openai.InternalServerError) as cooled:
        ask_a(servers, model="flaky")
    assert cooled.value.status_code == 503 and cooled.value.code == "models_cooled_down"
    assert int(cooled.value.response.headers["retry-after"]) > 0
    health = httpx.get(servers.a.url + "/healthz").json()
    assert health["status"] == "degraded" and health["cooled_down"] == ["flaky"]
    assert any("flaky" in reason for reason in health["reasons"])


# -- the other endpoints --------------------------------------------------------------------


def test_models_lists_auto_the_presets_and_the_models(servers: Servers) -> None:
    ids = [m.id for m in servers.a.client(KEY).models.list()]
    assert ids == ["auto", "auto:cheap", "auto:code", "big", "small", "claude", "flaky"]


def test_decisions_explains_a_recent_decision(servers: Servers) -> None:
    decision_id = ask_a(servers, model="auto:code").model_extra["banditroute"]["decision_id"]
    found = httpx.get(f"{servers.a.url}/v1/decisions/{decision_id}", headers=AUTH).json()
    assert found["id"] == decision_id and found["served_by"] == "big" == found["model"]
    assert found["source"] == "memory" and found["attempts"][0]["status"] == "ok"
    assert "chose big" in found["explanation"] and found["excluded"]  # no "code": excluded
    text = httpx.get(f"{servers.a.url}/v1/decisions/{decision_id}?format=text", headers=AUTH)
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("served by big") and "attempt 1: big answered" in text.text
    missing = httpx.get(f"{servers.a.url}/v1/decisions/{'0' * 32}", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "decision_not_found"


def test_ask_answers_from_the_decision_log(servers: Servers) -> None:
    for _ in range(3):
        decision_id = ask_a(servers, model="auto:cheap").model_extra["banditroute"]["decision_id"]
        sent = {"decision_id": decision_id, "quality": 0.9}
        assert httpx.post(servers.a.url + "/v1/feedback", json=sent, headers=AUTH).is_success
    deadline = time.monotonic() + 10
    while True:  # rows with their outcome are written within the flush interval
        question = {"question": "which model is best?"}
        answer = httpx.post(servers.a.url + "/v1/ask", json=question, headers=AUTH)
        assert answer.status_code == 200
        if answer.json()["evidence_ids"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    body = answer.json()
    assert body["question"]["intent"] == "best_model" and "small" in body["summary"]
    assert body["table"][0]["model"] == "small" and body["text"].startswith(body["summary"])
    empty = httpx.post(servers.a.url + "/v1/ask", json={"question": " "}, headers=AUTH)
    assert empty.status_code == 400


def test_metrics_exposes_decisions_errors_latency_budgets_and_cooldowns(servers: Servers) -> None:
    reply = httpx.get(servers.a.url + "/metrics", headers=AUTH)
    assert reply.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("banditroute_decisions_total", model="big") >= 2
    assert value("banditroute_served_total", model="small") >= 3
    assert value("banditroute_model_errors_total", model="flaky", error="ProviderUnavailable") >= 3
    assert value("banditroute_request_latency_seconds_count", endpoint="chat") >= 10
    assert value("banditroute_requests_total", endpoint="chat", status="404") >= 2
    assert value("banditroute_model_cooled_down", model="flaky") == 1.0
    assert value("banditroute_model_cooled_down", model="small") == 0.0
    assert value("banditroute_budget_limit_usd", budget="capped") == 1e-9
    assert value("banditroute_budget_spent_usd", budget="capped") > 1e-9
    assert value("banditroute_feedback_total") >= 4
    assert "banditroute_drift_events" in reply.text and "banditroute_info" in reply.text


def test_loopback_without_keys_needs_no_key_through_the_worker_factory(servers: Servers) -> None:
    for _ in range(4):
        reply = servers.b.client("anything").chat.completions.create(
            model="auto:cheap", messages=USER
        )
        assert reply.model == "small"
        servers.ids["b"].add(reply.model_extra["banditroute"]["decision_id"])
    assert httpx.get(servers.b.url + "/v1/models").status_code == 200  # no header at all
    health = httpx.get(servers.b.url + "/healthz").json()
    assert health["shared"]["connected"] is True
    assert not any("shared state" in reason for reason in health["reasons"])


def test_feedback_reaches_any_replica_through_the_shared_state(servers: Servers) -> None:
    reply = ask_a(servers, model="auto:cheap")
    decision_id = reply.model_extra["banditroute"]["decision_id"]
    sent = {"decision_id": decision_id, "quality": 0.7}
    deadline = time.monotonic() + 5
    while True:  # the pending decision reaches Redis within the sync interval
        outcome = httpx.post(servers.b.url + "/v1/feedback", json=sent)
        if outcome.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["model"] == "small" and outcome.json()["decision_id"] == decision_id
    again = httpx.post(servers.a.url + "/v1/feedback", json=sent, headers=AUTH)
    assert again.status_code == 404  # taken once, wherever it went


def test_two_servers_write_their_rows_into_one_decision_log(servers: Servers) -> None:
    """Runs last: stops both servers (graceful: each writes what it holds) and reads the log."""
    for _ in range(3):
        ask_a(servers, model="auto")
    assert servers.a.stop() in (0, -15) and servers.b.stop() in (0, -15)  # SIGTERM re-raised
    assert (servers.state / "engine.npz").is_file()  # A saved what it learned
    store = DecisionStore(servers.store, embedding_dim=384, read_only=True)
    table = store.table("decisions").search().select(["id"]).limit(100_000).to_arrow()
    logged = set(table["id"].to_pylist())
    assert servers.ids["a"] and servers.ids["b"]
    assert servers.ids["a"] | servers.ids["b"] <= logged
    assert len(logged) == store.count()  # no row written twice
    calls = store.table("calls").search().select(["decision_id"]).limit(100_000).to_arrow()
    assert servers.ids["b"] <= set(calls["decision_id"].to_pylist())


# -- without a server -----------------------------------------------------------------------


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_a_key_is_accepted_only_when_it_is_the_configured_one(key: str, other: str) -> None:
    keys = ServiceKeys([hash_key(key.strip() or "x")])
    assert keys.allows(f"Bearer {key.strip() or 'x'}")
    assert keys.allows(f"Bearer {other.strip()}") == (other.strip() == (key.strip() or "x"))
    assert not keys.allows(None) and not keys.allows(key) and KEY not in repr(keys)


def test_no_feasible_model_maps_to_422_429_or_503_by_its_reasons() -> None:
    def status(**reasons: str) -> int:
        return failure_for(NoFeasibleModel(reasons)).status

    assert status(a="in deny_models") == 422
    assert status(a="in deny_models", b="cooled down for 3.0 s more after 5 failures") == 503
    assert status(a="budget team is used up: spent 2 USD", b="cooled down for 1 s more") == 429
    assert status(a="rate-limited for 1.5 s (requests_per_minute 10)") == 429
