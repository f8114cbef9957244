"""The gateway's response caches: request keys, the exact LRU cache, the semantic cache."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput
from banditroute.features import HashingEmbedder
from banditroute.gateway.cache import (
    CachedResponse,
    ExactCache,
    is_deterministic,
    normalize_text,
    request_key,
)
from banditroute.gateway.semantic_cache import SemanticCache, content_signature


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(text: str = "42", model: str = "m1", created: float = 0.0) -> CachedResponse:
    return CachedResponse(text, model, created, 10, 2, payload='{"finish":"stop"}')


def user(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


# -- request keys ---------------------------------------------------------------------------
def test_key_ignores_whitespace_param_order_and_number_form() -> None:
    a = request_key(
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Sort a list"}],
        "m1",
        {"temperature": 0, "max_tokens": 100, "stop": None},
    )
    b = request_key(
        [
            {"content": "  Be   terse. ", "role": " System"},
            {"role": "user", "content": "Sort\ta  list\n"},
        ],
        "m1",
        {"max_tokens": 100.0, "temperature": 0.0},
    )
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{32}", a)


def test_key_changes_with_model_params_role_or_content() -> None:
    base = request_key(user("Sort a list ascending"), "m1", {"temperature": 0})
    others = [
        request_key(user("Sort a list ascending"), "m2", {"temperature": 0}),
        request_key(user("Sort a list ascending"), None, {"temperature": 0}),
        request_key(user("Sort a list ascending"), "m1", {"temperature": 0.5}),
        request_key(user("Sort a list ascending"), "m1", {"temperature": 0, "max_tokens": 5}),
        request_key(user("Sort a list descending"), "m1", {"temperature": 0}),
        request_key([{"role": "system", "content": "Sort a list ascending"}], "m1", {}),
        request_key(user("Sort a list\nascending"), "m1", {"temperature": 0}),  # line kept
    ]
    assert len({base, *others}) == len(others) + 1


def test_key_accepts_structured_content_and_tool_messages() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Describe  this"}]}]
    same = [{"role": "user", "content": [{"text": "Describe this", "type": "text"}]}]
    assert request_key(parts, "m", {}) == request_key(same, "m", {})
    tool = [{"role": "tool", "content": "3", "tool_call_id": "a"}]
    other_call = [{"role": "tool", "content": "3", "tool_call_id": "b"}]
    assert request_key(tool, "m", {}) != request_key(other_call, "m", {})


@pytest.mark.parametrize(
    ("messages", "params"),
    [
        ("hello", {}),
        ([{"role": "user", "content": object()}], {}),
        (user("hi"), {"temperature": float("nan")}),
        (user("hi"), {"stop": b"bytes"}),
    ],
)
def test_key_rejects_values_it_cannot_hash_stably(messages: object, params: object) -> None:
    with pytest.raises(InvalidInput):
        request_key(messages, "m", params)  # type: ignore[arg-type]


def test_is_deterministic() -> None:
    assert is_deterministic({"temperature": 0})
    assert is_deterministic({"temperature": 0.0, "n": 1, "max_tokens": 9})
    assert not is_deterministic({})  # the provider's default temperature samples
    assert not is_deterministic({"temperature": 0.7})
    assert not is_deterministic({"temperature": 0, "n": 3})
    assert not is_deterministic({"temperature": False})


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(alphabet=" \t\u00a0\u3000", min_size=1))
def test_any_text_gives_a_key_and_extra_spaces_do_not_change_it(text: str, spaces: str) -> None:
    key = request_key(user(text), "m", {"temperature": 0})
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    padded = spaces + re.sub(r" ", " " + spaces, text) + spaces
    assert request_key(user(padded), "m", {"temperature": 0}) == key
    assert request_key(user(normalize_text(text)), "m", {"temperature": 0}) == key


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip()


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.integers(-5, 5), st.floats(-2, 2), st.text(max_size=5), st.booleans()),
        max_size=5,
    )
)
def test_param_order_never_changes_the_key(params: dict[str, object]) -> None:
    reordered = dict(reversed(list(params.items())))
    assert request_key(user("q"), "m", params) == request_key(user("q"), "m", reordered)


# -- exact cache ----------------------------------------------------------------------------
def test_exact_cache_hits_and_expires_with_the_clock() -> None:
    clock = FakeClock()
    cache = ExactCache(max_entries=10, ttl_s=60.0, clock=clock)
    cache.put("k", answer())
    assert cache.get("k") == answer()
    clock.now += 59.9
    assert cache.get("k") is not None
    clock.now += 0.1
    assert cache.get("k") is None
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.expirations, stats.size) == (2, 1, 1, 0)
    assert stats.hit_rate == pytest.approx(2 / 3)


def test_exact_cache_evicts_the_least_recently_used() -> None:
    cache = ExactCache(max_entries=2, ttl_s=None, clock=FakeClock())
    cache.put("a", answer("A"))
    cache.put("b", answer("B"))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", answer("C"))
    assert cache.get("b") is None
    assert [cache.get(k).text for k in ("a", "c")] == ["A", "C"]  # type: ignore[union-attr]
    assert cache.stats.evictions == 1 and len(cache) == 2
    cache.put("a", answer("A2"))  # replacing does not evict
    assert cache.get("a").text == "A2" and cache.stats.evictions == 1  # type: ignore[union-attr]
    assert cache.discard("a") and not cache.discard("a")
    cache.clear()
    assert len(cache) == 0


def test_exact_cache_rejects_bad_settings_and_values() -> None:
    with pytest.raises(InvalidInput):
        ExactCache(max_entries=0)
    with pytest.raises(InvalidInput):
        ExactCache(ttl_s=-1.0)
    with pytest.raises(InvalidInput):
        ExactCache().put("k", "not a response")  # type: ignore[arg-type]


def test_exact_cache_is_thread_safe() -> None:
    cache = ExactCache(max_entries=50, ttl_s=None)
    errors: list[BaseException] = []
    gets_per_thread = 2_000

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for i in range(gets_per_thread):
                key = f"k{int(rng.integers(0, 80))}"
                cache.put(key, answer(key))
                found = cache.get(f"k{int(rng.integers(0, 80))}")
                assert found is None or found.text.startswith("k")
                if i % 500 == 0:
                    len(cache)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats
    assert stats.hits + stats.misses == 8 * gets_per_thread
    assert stats.size == len(cache) <= 50
    assert stats.hits > 0 and stats.evictions > 0


# -- semantic cache -------------------------------------------------------------------------
DIM = 16


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def at_similarity(base: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with ``base`` is ``cos``."""
    other = rng.standard_normal(base.shape)
    other -= other @ base * base
    other /= np.linalg.norm(other)
    return cos * base + np.sqrt(1 - cos**2) * other


@pytest.fixture(params=["memory", "lancedb"])
def make_cache(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kwargs: object) -> SemanticCache:
        folder = None if request.param == "memory" else tmp_path / "cache"
        kwargs.setdefault("clock", FakeClock())
        return SemanticCache(folder, dim=DIM, **kwargs)  # type: ignore[arg-type]

    return make


def test_semantic_hit_above_threshold_and_miss_below(make_cache) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    cache = make_cache(threshold=0.9)
    base = unit(rng)
    cache.put(base.astype(np.float32), "m1", answer("stored", created=5.0))
    hit = cache.get(at_similarity(base, 0.93, rng), "m1")
    assert hit is not None
    assert hit.similarity == pytest.approx(0.93, abs=1e-4)
    assert hit.response == answer("stored", created=5.0) and hit.model == "m1"
    assert cache.get(at_similarity(base, 0.87, rng), "m1") is None
    assert cache.get(3.0 * base, "m1") is not None  # scale does not matter
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.size) == (2, 1, 1)


def test_semantic_returns_the_nearest_entry(make_cache) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    cache = make_cache(threshold=0.5)
    vectors = [unit(rng) for _ in range(20)]
    for i, v in enumerate(vectors):
        cache.put(v, "m1", answer(str(i)))
    for i in (0, 7, 19):
        hit = cache.get(at_similarity(vectors[i], 0.97, rng), "m1")
        assert hit is not None and hit.response.text == str(i)


def test_semantic_per_model_and_any_model(make_cache) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    base = unit(rng)
    per_model = make_cache(threshold=0.9)
    per_model.put(base, "m1", answer("from m1", model="m1"))
    assert per_model.get(base, "m2") is None
    assert per_model.get(base, "it's-quoted") is None  # a quote in a model name is escaped
    found = per_model.get(base, None)  # None: any model
    assert found is not None and found.model == "m1"
    shared = make_cache(threshold=0.9, per_model=False, table="shared")
    shared.put(base, "m1", answer("from m1", model="m1"))
    found = shared.get(base, "m2")
    assert found is not None and found.response.model == "m1"


def test_semantic_entries_expire(make_cache) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    clock = FakeClock(1_000.0)
    cache = make_cache(threshold=0.9, ttl_s=100.0, clock=clock)
    old, new = unit(rng), unit(rng)
    cache.put(old, "m1", answer("old"))
    clock.now += 50
    cache.put(new, "m1", answer("new"))
    clock.now += 60  # "old" is 110 s old, "new" 60 s
    assert cache.get(old, "m1") is None
    assert cache.get(new, "m1").response.text == "new"  # type: ignore[union-attr]
    clock.now += 50
    assert cache.get(new, "m1") is None


def test_semantic_size_is_bounded_oldest_evicted(make_cache) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    cache = make_cache(threshold=0.99, max_entries=3)
    vectors = [unit(rng) for _ in range(5)]
    for i, v in enumerate(vectors):
        cache.put(v, "m1", answer(str(i)))
    assert len(cache) == 3 and cache.stats.evictions == 2
    assert cache.get(vectors[0], "m1") is None and cache.get(vectors[1], "m1") is None
    assert [cache.get(v, "m1").response.text for v in vectors[2:]] == ["2", "3", "4"]  # type: ignore[union-attr]
    cache.clear()
    assert len(cache) == 0 and cache.get(vectors[4], "m1") is None


def test_semantic_text_guard_blocks_near_misses(make_cache) -> None:  # type: ignore[no-untyped-def]
    embedder = HashingEmbedder(dim=64)
    cache = SemanticCache(None, dim=64, threshold=0.5)
    prompt = "Write a Python function that sorts a list ascending"
    cache.put(embedder.embed([prompt])[0], "m1", answer("def f(xs): ..."), text=prompt)
    polite = "Can you write a Python function that sorts a list ascending, please?"
    near_miss = "Write a Python function that sorts a list descending"
    for text, served in ((polite, True), (near_miss, False), (prompt + " twice", False)):
        vector = embedder.embed([text])[0]
        assert (cache.get(vector, "m1", text=text) is not None) is served
    vector = embedder.embed([near_miss])[0]
    assert cache.get(vector, "m1") is not None  # without text, similarity alone decides


def test_semantic_guard_on_lancedb_and_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    folder = tmp_path / "semantic"
    base = unit(rng)
    first = SemanticCache(folder, dim=DIM, threshold=0.9, ttl_s=None)
    first.put(base, "m1", answer("kept"), text="Sort 3 numbers")
    first.put(unit(rng), "m1", answer("other"))
    again = SemanticCache(folder, dim=DIM, threshold=0.9, ttl_s=None)
    assert len(again) == 2
    assert again.get(base, "m1", text="sort 3 numbers, please").response.text == "kept"  # type: ignore[union-attr]
    assert again.get(base, "m1", text="Sort 4 numbers") is None
    again.put(unit(rng), "m1", answer("third"))  # sequence numbers continue after a reopen
    with pytest.raises(InvalidInput):
        SemanticCache(folder, dim=DIM + 1)


def test_semantic_rejects_bad_input() -> None:
    cache = SemanticCache(None, dim=4)
    with pytest.raises(InvalidInput):
        cache.get(np.zeros(4), "m")
    with pytest.raises(InvalidInput):
        cache.get(np.ones(5), "m")
    with pytest.raises(InvalidInput):
        cache.put(np.array([1.0, np.nan, 0, 0]), "m", answer())
    with pytest.raises(InvalidInput):
        cache.put(np.ones(4), "", answer())
    with pytest.raises(InvalidInput):
        SemanticCache(None, dim=4, threshold=1.5)


def test_semantic_memory_index_grows_past_its_first_block() -> None:
    rng = np.random.default_rng(6)
    cache = SemanticCache(None, dim=8, threshold=0.999, max_entries=3_000, ttl_s=None)
    vectors = [unit(rng, 8) for _ in range(2_500)]
    for i, v in enumerate(vectors):
        cache.put(v, f"m{i % 3}", answer(str(i)))
    assert len(cache) == 2_500
    assert cache.get(vectors[2_222], "m2").response.text == "2222"  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_content_signature_ignores_form_and_politeness(text: str) -> None:
    sign = content_signature(text)
    assert re.fullmatch(r"[0-9a-f]{32}", sign)
    assert content_signature(f"Please, {text.upper()}  thanks!") == content_signature(text.upper())
    assert content_signature(text + " 7") != content_signature(text + " 8")


def test_lancedb_compaction_and_missing_usage_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from banditroute.gateway.semantic_index import LanceIndex

    monkeypatch.setattr(LanceIndex, "OPTIMIZE_EVERY", 3)
    rng = np.random.default_rng(7)
    cache = SemanticCache(tmp_path / "c", dim=DIM, threshold=0.99, max_entries=4, ttl_s=None)
    vectors = [unit(rng) for _ in range(10)]
    for i, v in enumerate(vectors):
        cache.put(v, "m1", CachedResponse(f"a{i}", "m1", float(i), None, None, payload="{}"))
    assert len(cache) == 4 and cache.stats.evictions == 6
    hit = cache.get(vectors[9], "m1")
    assert hit is not None
    assert hit.response == CachedResponse("a9", "m1", 9.0, None, None, payload="{}")
    assert cache.get(vectors[5], "m1") is None
