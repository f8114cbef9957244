"""Arbitrary Unicode (lone surrogates, NUL, astral characters) at every text boundary.

Policy (`banditroute.text.clean_text`): a non-string is `InvalidInput`; surrogate pairs are
joined, lone surrogates become U+FFFD; everything else, NUL included, is kept. Nothing but the
library's own errors escapes, and the decision log keeps writing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute import Engine, HashingEmbedder
from banditroute.embedders import CachedEmbedder, MiniLMEmbedder
from banditroute.errors import BanditRouteError, InvalidInput
from banditroute.evaluation import Evaluator
from banditroute.feedback_input import FeedbackInput
from banditroute.gateway.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamChunk,
    join_chunks,
)
from banditroute.store import DecisionStore
from banditroute.text import clean_text
from tests.conftest import make_model

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ODD = st.sampled_from(["\x00", "\ufffd", "\U0001f600", "\u200b", "\ufeff", "\r", "\n", "é"])
TEXT = st.lists(st.one_of(st.characters(), SURROGATES, ODD), max_size=40).map("".join)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(TEXT)
@settings(max_examples=300)
def test_clean_text_makes_any_text_utf8_and_keeps_valid_text(text: str) -> None:
    cleaned = clean_text(text, "prompt")
    assert type(cleaned) is str and encodes(cleaned)
    if encodes(text):
        assert cleaned == text  # valid text, NUL included, is never changed
    assert len(cleaned) <= len(text)
    assert clean_text(cleaned, "prompt") == cleaned


def test_clean_text_policy() -> None:
    assert clean_text("a\ud800b", "x") == "a\ufffdb"
    assert clean_text("\udfff\ud800", "x") == "\ufffd\ufffd"
    assert clean_text("\ud83d\ude00", "x") == "\U0001f600"  # a pair is the character it encodes
    assert clean_text("nul\x00kept", "x") == "nul\x00kept"

    class Sub(str):
        def __str__(self) -> str:
            return "hijacked"

    assert type(clean_text(Sub("plain"), "x")) is str and clean_text(Sub("plain"), "x") == "plain"
    for bad in (b"bytes", None, 3, ["a"]):
        with pytest.raises(InvalidInput, match=r"^response == "):
            clean_text(bad, "response")


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[Engine, DecisionStore]]:
    store = DecisionStore(tmp_path / "log", embedding_dim=64, background=False)
    models = [make_model("small"), make_model("big")]
    yield Engine(models, embedder=HashingEmbedder(dim=64), store=store, seed=0), store
    store.close()


@given(prompt=TEXT, response=TEXT, error=TEXT, late=st.booleans())
@SETTINGS
def test_choose_feedback_observe_never_raise_foreign_errors(
    logged: tuple[Engine, DecisionStore], prompt: str, response: str, error: str, late: bool
) -> None:
    engine, store = logged
    before = store.count()
    try:
        decision = engine.choose(prompt)
    except InvalidInput:
        assert not clean_text(prompt, "p").strip()  # only a blank prompt is refused
        return
    if late:
        store.flush()  # the outcome then arrives as an update of a written row
    outcome = engine.feedback(decision, response=response, error=error or None)
    assert outcome.error is None or encodes(outcome.error)
    engine.observe(prompt, "big", quality=0.5)
    engine.feedback(engine.choose(prompt + " again"), response=response, prompt=prompt)
    store.flush()
    assert store.count() == before + 2


@given(question=TEXT)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_ask_takes_any_question(logged: tuple[Engine, DecisionStore], question: str) -> None:
    engine, _ = logged
    if engine.feedback_count == 0:
        for k in range(4):
            engine.feedback(engine.choose(f"warm up \ud800 {k}"), quality=0.5, error="e\udfff")
    try:
        answer = engine.ask(question)
    except BanditRouteError:
        return  # e.g. a blank question
    assert encodes(str(answer))


def test_a_lone_surrogate_row_does_not_block_later_rows(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path, embedding_dim=64, background=False)
    engine = Engine([make_model("m")], embedder=HashingEmbedder(dim=64), store=store, seed=0)
    bad = engine.choose("bad \ud800 row")
    direct = engine.choose("ok")  # recorded again, directly: its prompt is replaced
    store.record_decision(direct, np.zeros(64), "direct \udc00 record")
    engine.feedback(bad, error="boom \udfff", response="resp \ud801")
    store.flush()
    for k in range(5):
        engine.feedback(engine.choose(f"later {k}"), quality=0.5)
    store.flush()
    assert store.count() == 7
    frame = store.table("decisions").search().limit(100).to_pandas()
    assert {"bad \ufffd row", "direct \ufffd record"} <= set(frame["prompt"])
    assert "boom \ufffd" in set(frame["error"])


def test_feedback_and_evaluator_clean_their_texts() -> None:
    given_input = FeedbackInput.check(error="e\ud800", response="r\udc00", prompt="p\ud83d\ude00")
    assert (given_input.error, given_input.response) == ("e\ufffd", "r\ufffd")
    assert given_input.prompt == "p\U0001f600"
    with pytest.raises(InvalidInput, match=r"^error == "):
        FeedbackInput.check(error=b"x")
    ev = Evaluator(embedder=HashingEmbedder(dim=32))
    scored = ev.evaluate("Name a prime \ud800", "Seven \udfff is prime.")
    assert 0.0 <= scored.total <= 1.0
    with pytest.raises(InvalidInput, match=r"^response == "):
        ev.evaluate("prompt", b"bytes")  # type: ignore[arg-type]


class _Encoder:
    """Stands in for sentence-transformers: refuses what its tokenizer would refuse."""

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        for text in texts:
            if not isinstance(text, str) or not encodes(text):
                raise TypeError("TextEncodeInput must be Union[TextInputSequence, ...]")
        return np.ones((len(texts), 384), dtype=np.float32)


def test_embedders_clean_what_they_embed() -> None:
    minilm = MiniLMEmbedder()
    minilm._model = _Encoder()  # the MiniLM path without torch
    assert minilm.embed(["a \ud800 b", "ok"]).shape == (2, 384)
    cached = CachedEmbedder(HashingEmbedder(dim=16))
    assert cached.embed_one("x \udfff y").shape == (16,)
    with pytest.raises(InvalidInput):
        HashingEmbedder(dim=16).embed([b"bytes"])  # type: ignore[list-item]


@given(TEXT.filter(lambda t: bool(t.strip())))
@settings(max_examples=50, deadline=None)
def test_gateway_messages_clean_their_content(text: str) -> None:
    request = ChatRequest.from_prompt(text, system=text)
    assert all(encodes(m.content) for m in request.messages)
    assert request.prompt == clean_text(text, "prompt")
    assert Message(role="user", content=text).content == clean_text(text, "content")
    assert ChatResponse(text=text).text == clean_text(text, "text")  # a provider's answer
    assert join_chunks([StreamChunk(text=text), StreamChunk(finish_reason="stop")]).text == (
        clean_text(text, "text")
    )
