"""Every gateway call that ends is a row of the decision log's ``calls`` table: served (with each
attempt), failed, or a cache hit; error strings are redacted like prompts. Against the fake
provider server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from banditroute import Constraints, Engine, HashingEmbedder, ModelProfile
from banditroute.gateway import (
    CompletionFailed,
    Connection,
    ExactCache,
    Gateway,
    RetryPolicy,
    SemanticCache,
)
from banditroute.policies import FixedModel
from banditroute.store import DecisionStore
from banditroute.store.call_record import CallAttempt, CallRecord
from tests.fake_provider import FakeProvider, Fault
from tests.test_gateway import profiles

KEY = "sk-abc123def456ghi789jkl012mno345"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: FakeProvider) -> None:
    server.clear()


def logged_engine(
    tmp_path: Path, models: list[ModelProfile], first: str = "best"
) -> tuple[Engine, DecisionStore]:
    """An engine that always ranks ``first`` first, logging to a store in ``tmp_path``."""
    store = DecisionStore(tmp_path / "log", embedding_dim=64, background=False)
    engine = Engine(
        models, embedder=HashingEmbedder(64), policy=FixedModel(model=first), store=store, seed=0
    )
    return engine, store


def calls(store: DecisionStore) -> list[dict[str, Any]]:
    store.flush()
    if not store.has_table("calls"):
        return []
    rows: list[dict[str, Any]] = store.table("calls").to_arrow().to_pylist()
    return sorted(rows, key=lambda r: r["ts"])


def test_a_failover_is_one_row_with_every_attempt(server: FakeProvider, tmp_path: Path) -> None:
    server.set_faults("best", [Fault("status", status=500)])
    server.set_model("claude", text="fallback answer")
    engine, store = logged_engine(tmp_path, profiles(server))
    gateway = Gateway(engine, retry=RetryPolicy(max_attempts=1), seed=0)
    c = gateway.complete(
        "q", Constraints(allow_models={"best", "claude"}), tags=["team-a"], scorer=None
    )
    assert c.model == "claude" and c.decision is not None and c.decision.model == "best"
    [row] = calls(store)
    assert row["decision_id"] == c.decision.id and row["model"] == "claude"
    assert row["ok"] is True and row["cache"] == "" and row["n_attempts"] == 2
    assert row["cost_usd"] == pytest.approx(c.cost_usd) and row["cost_usd"] > 0
    assert row["latency_ms"] == pytest.approx(c.latency_ms)
    assert json.loads(row["tags"]) == ["team-a"]
    first, second = json.loads(row["attempts"])
    assert (first["model"], first["status"]) == ("best", "failed")
    assert "ProviderUnavailable" in first["error"] and "500" in first["error"]
    assert (second["model"], second["status"], second["error"]) == ("claude", "ok", None)
    assert first["latency_ms"] > 0 and second["latency_ms"] > 0
    # the decision row is there too, with the chosen model's failure as its outcome
    assert store.count(f"id = '{c.decision.id}'") == 1


def test_a_cache_hit_is_logged_as_a_hit_and_teaches_nothing(
    server: FakeProvider, tmp_path: Path
) -> None:
    server.set_model("gem", text="cached answer")
    engine, store = logged_engine(tmp_path, profiles(server), first="gem")
    gateway = Gateway(engine, cache=ExactCache())
    first = gateway.complete("same question", temperature=0, scorer=lambda p, t: 0.9)
    store.flush()
    learned, decisions = engine.feedback_count, store.count()
    again = gateway.complete("same question", temperature=0, scorer=lambda p, t: 0.9)
    store.flush()
    assert again.cache == "exact" and first.decision is not None
    assert engine.feedback_count == learned == 1 and store.count() == decisions == 1
    served, hit = calls(store)
    assert served["decision_id"] == first.decision.id and served["cache"] == ""
    assert hit["cache"] == "exact" and hit["decision_id"] == "" and hit["model"] == "gem"
    assert hit["ok"] is True and hit["cost_usd"] == 0.0 and hit["n_attempts"] == 0
    assert json.loads(hit["attempts"]) == [] and len(server.requests("gem")) == 1


def test_a_semantic_cache_hit_is_logged_as_semantic(server: FakeProvider, tmp_path: Path) -> None:
    server.set_model("gem", text="near answer")
    engine, store = logged_engine(tmp_path, profiles(server), first="gem")
    gateway = Gateway(engine, semantic_cache=SemanticCache(None, dim=64, threshold=0.9))
    gateway.complete("How do I sort a list in Python?", temperature=0, scorer=None)
    hit = gateway.complete("How do I sort a list in Python?", temperature=0, scorer=None)
    assert hit.cache == "semantic" and gateway.semantic_cache is not None
    assert [(r["cache"], r["model"]) for r in calls(store)] == [("", "gem"), ("semantic", "gem")]


def test_an_exhausted_call_is_logged_failed_before_it_raises(
    server: FakeProvider, tmp_path: Path
) -> None:
    server.set_faults("gem", [Fault("status", status=503)] * 2)
    engine, store = logged_engine(tmp_path, profiles(server), first="gem")
    gateway = Gateway(engine, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01), seed=0)
    with pytest.raises(CompletionFailed) as caught:
        gateway.complete("q", Constraints(force_model="gem"), tags=["b", "a"], scorer=None)
    [row] = calls(store)
    assert row["ok"] is False and row["model"] == "" and row["cost_usd"] == 0.0
    assert row["decision_id"] != "" and row["n_attempts"] == len(caught.value.tried) == 2
    assert [a["status"] for a in json.loads(row["attempts"])] == ["failed", "failed"]
    assert json.loads(row["tags"]) == ["a", "b"]


def test_a_streamed_call_that_fails_is_logged_failed(server: FakeProvider, tmp_path: Path) -> None:
    server.set_faults("claude", [Fault("status", status=401)])
    engine, store = logged_engine(tmp_path, profiles(server), first="claude")
    gateway = Gateway(engine, retry=RetryPolicy(max_attempts=1))
    stream = gateway.complete("q", Constraints(force_model="claude"), stream=True, scorer=None)
    with pytest.raises(CompletionFailed):
        list(stream)
    [row] = calls(store)
    assert row["ok"] is False and "ProviderAuthError" in json.loads(row["attempts"])[0]["error"]


def test_a_key_in_an_error_string_is_redacted_in_the_log(
    server: FakeProvider, tmp_path: Path
) -> None:
    # the fake server answers an unknown route with 404 "no route <path>": the key comes back
    leaky = Connection(base_url=f"{server.base_url}/{KEY}/v1", timeout_s=5)
    model = ModelProfile(
        id="leaky", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1, connection=leaky
    )
    engine, store = logged_engine(tmp_path, [model], first="leaky")
    gateway = Gateway(engine, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(CompletionFailed):
        gateway.complete("q", scorer=None)
    # an error string that still holds a key (e.g. from a custom transport) is redacted too
    store.record_call(
        CallRecord(
            "c-2", 1.0, "", "", "", False, 0.0, 5.0, (CallAttempt("m", "failed", 5.0, f"E: {KEY}"),)
        )
    )
    rows = calls(store)
    assert len(rows) == 2
    for row in rows:
        assert KEY not in row["attempts"] and "[REDACTED]" in row["attempts"]
    assert "HTTP 404" in json.loads(rows[1]["attempts"])[0]["error"]
    assert json.loads(rows[0]["attempts"])[0]["error"] == "E: [REDACTED]"


def test_the_stores_redact_hook_applies_to_attempt_errors(
    server: FakeProvider, tmp_path: Path
) -> None:
    server.set_faults("gem", [Fault("status", status=503)])
    engine, store = logged_engine(tmp_path, profiles(server), first="gem")
    store.redact = lambda text: text.replace("injected", "[hidden]")
    with pytest.raises(CompletionFailed):
        Gateway(engine, retry=RetryPolicy(max_attempts=1)).complete(
            "q", Constraints(force_model="gem"), scorer=None
        )
    [row] = calls(store)
    error = json.loads(row["attempts"])[0]["error"]
    assert "[hidden] status 503" in error and "injected" not in error


def test_no_log_means_no_rows_and_the_same_answers(server: FakeProvider) -> None:
    server.set_model("gem", text="plain")
    engine = Engine(profiles(server), embedder=HashingEmbedder(64), seed=0)
    c = Gateway(engine).complete("q", Constraints(force_model="gem"), scorer=None)
    assert c.text == "plain" and engine.store is None
