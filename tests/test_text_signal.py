"""The learned text signal: what it learns, its saved form, and how the evaluator stacks it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput, StateFileError
from banditroute.evaluation import Evaluator
from banditroute.evaluation.evaluator import MIN_TEXT_ROWS
from banditroute.evaluation.text_signal import TextSignal
from banditroute.features import HashingEmbedder

FILLER = [
    "river",
    "stone",
    "cloud",
    "lamp",
    "paper",
    "window",
    "garden",
    "music",
    "number",
    "table",
    "answer",
    "simple",
]


def _planted(n: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Responses of random filler words; those holding "zephyr" win, "quagmire" ones lose."""
    rng = np.random.default_rng(seed)
    prompts, responses, labels = [], [], []
    for k in range(n):
        words = list(rng.choice(FILLER, size=12))
        win = k % 2 == 0
        words.insert(int(rng.integers(0, 12)), "zephyr" if win else "quagmire")
        prompts.append(f"Question {k // 4}: say something.")
        responses.append(" ".join(words) + ".")
        labels.append(float(rng.uniform(0.6, 1.0) if win else rng.uniform(0.0, 0.4)))
    return prompts, responses, np.array(labels)


@pytest.fixture(scope="module")
def signal() -> TextSignal:
    _, responses, labels = _planted(200, seed=1)
    return TextSignal().fit(responses, labels)


def test_learns_a_planted_word_label_relation(signal: TextSignal) -> None:
    _, responses, labels = _planted(200, seed=2)  # unseen responses
    scores = signal.score(responses)
    assert np.mean((scores > 0) == (labels > 0.5)) > 0.95
    coef = dict(zip(signal.vocabulary, signal.coef, strict=True))
    assert coef["zephyr"] > 0 > coef["quagmire"]
    assert max(abs(coef[w]) for w in FILLER) < min(abs(coef["zephyr"]), abs(coef["quagmire"]))


def test_scores_match_scikit_learns_tfidf_logistic_pipeline(signal: TextSignal) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    _, responses, labels = _planted(200, seed=1)
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=3, max_features=50_000, sublinear_tf=True)
    model = LogisticRegression(C=0.1, max_iter=2000).fit(vec.fit_transform(responses), labels > 0.5)
    probe = _planted(20, seed=3)[1] + ["", "zephyr " * 5000, "naïve café — 東京"]
    expected = model.decision_function(vec.transform(probe))
    np.testing.assert_allclose(signal.score(probe), expected, rtol=1e-9, atol=1e-9)


def test_scores_are_deterministic() -> None:
    _, responses, labels = _planted(120, seed=4)
    groups = np.arange(120) // 4
    a, b = TextSignal().fit(responses, labels), TextSignal().fit(responses, labels)
    assert np.array_equal(a.score(responses), b.score(responses))
    first = TextSignal().cross_fit(responses, labels, groups)
    second = TextSignal().cross_fit(responses, labels, groups)
    assert first is not None and second is not None and np.array_equal(first, second)


def test_cross_fit_scores_each_prompt_with_a_model_that_never_saw_it() -> None:
    _, responses, labels = _planted(200, seed=5)
    responses[0] = responses[1] = "unique marker words only here twice " * 3
    groups = np.arange(200) // 4  # rows 0 and 1 share a prompt: same half
    held_out = TextSignal(min_df=1).cross_fit(responses, labels, groups)
    in_sample = TextSignal(min_df=1).fit(responses, labels).score(responses)
    assert held_out is not None
    assert abs(held_out[0]) < abs(in_sample[0])  # its words were never fitted out of fold


def test_save_load_round_trip_gives_identical_scores(signal: TextSignal) -> None:
    arrays = signal.arrays("evaluator_")
    assert all(a.dtype != object for a in arrays.values())  # numbers only: no pickle needed
    loaded = TextSignal.from_arrays(arrays, "evaluator_")
    probe = _planted(50, seed=6)[1]
    assert np.array_equal(loaded.score(probe), signal.score(probe))
    assert loaded.vocabulary == signal.vocabulary and loaded.ngrams == signal.ngrams


def _damaged(signal: TextSignal, key: str, value: np.ndarray | None) -> dict[str, np.ndarray]:
    arrays = signal.arrays("e_")
    if value is None:
        del arrays[f"e_{key}"]
    else:
        arrays[f"e_{key}"] = value
    return arrays


@pytest.mark.parametrize(
    ("key", "make"),
    [
        ("text_idf", lambda a: a[:-1]),
        ("text_idf", lambda a: np.where(np.arange(len(a)) == 0, np.nan, a)),
        ("text_idf", lambda a: a * 0),
        ("text_coef", lambda a: np.r_[a, 1.0]),
        ("text_coef", lambda a: np.where(np.arange(len(a)) == 3, np.inf, a)),
        ("text_vocabulary", lambda a: np.r_[a, np.uint8(0xFF)].astype(np.uint8)),
        ("text_vocabulary", lambda a: a.astype(np.int64)),
        ("text_vocabulary", lambda a: np.r_[a, np.frombuffer(b"\nzephyr", np.uint8)]),
        ("text_vocabulary", lambda a: np.zeros(0, np.uint8)),
        ("text_setup", lambda a: np.r_[a[0] + 0.5, a[1:]]),
        ("text_setup", lambda a: np.r_[a[:2], -1.0, a[3]]),
        ("text_setup", lambda a: a[:3]),
        ("text_setup", None),
        ("text_idf", None),
    ],
)
def test_a_corrupted_saved_part_raises_a_typed_error(
    signal: TextSignal, key: str, make: Callable[[np.ndarray], np.ndarray] | None
) -> None:
    original = signal.arrays("e_")[f"e_{key}"]
    damaged = _damaged(signal, key, None if make is None else make(original))
    with pytest.raises(StateFileError):
        TextSignal.from_arrays(damaged, "e_")


def test_too_few_outcomes_or_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInput):
        TextSignal().fit(["all good", "all good too"], [0.9, 0.8])
    with pytest.raises(InvalidInput):
        TextSignal().score(["unfitted"])
    with pytest.raises(InvalidInput):
        TextSignal(strength=0)
    with pytest.raises(InvalidInput):
        TextSignal(ngrams=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=4))
def test_any_text_gets_a_finite_repeatable_score(signal: TextSignal, texts: list[str]) -> None:
    first, second = signal.score(texts), signal.score(texts)
    assert first.shape == (len(texts),) and np.isfinite(first).all()
    assert np.array_equal(first, second)


def _evaluator(**kwargs: object) -> Evaluator:
    return Evaluator(embedder=HashingEmbedder(dim=32), **kwargs)  # type: ignore[arg-type]


def test_evaluator_fit_stacks_the_text_signal_and_ranks_by_the_planted_word() -> None:
    prompts, responses, labels = _planted(MIN_TEXT_ROWS, seed=7)
    ev = _evaluator().fit(prompts, responses, labels)
    plain = _evaluator(text_signal=False).fit(prompts, responses, labels)
    assert ev.text is not None and ev.text_columns == 1 and plain.text is None
    probe = ["river stone zephyr cloud lamp.", "river stone quagmire cloud lamp."]
    assert ev.features(["Say it."] * 2, probe).shape[1] == plain.features(["a"], ["b"]).shape[1] + 1
    good, bad = ev.evaluate_many(["Say something."] * 2, probe)
    assert good.calibrated and good.total > bad.total
    assert ev.evaluate("Say it.", "").total == 0.0  # an empty response still scores 0


def test_small_fits_and_the_unfitted_default_stay_as_they_were() -> None:
    prompts, responses, labels = _planted(MIN_TEXT_ROWS - 1, seed=8)
    assert _evaluator().fit(prompts, responses, labels).text is None
    default, without = _evaluator(), _evaluator(text_signal=False)
    assert default.text is None
    assert default.evaluate_many(prompts[:8], responses[:8]) == without.evaluate_many(
        prompts[:8], responses[:8]
    )
    assert "text_signal" in default.get_params()


def test_evaluator_state_arrays_round_trip_and_refit_forgets_the_signal() -> None:
    prompts, responses, labels = _planted(MIN_TEXT_ROWS, seed=9)
    ev = _evaluator().fit(prompts, responses, labels)
    ev.partial_fit(prompts[:4], responses[:4], labels[:4])  # online labels keep the text model
    arrays = ev.state_arrays("evaluator_")
    loaded = _evaluator()
    loaded.load_text_arrays(arrays, "evaluator_")
    loaded.calibration.load_arrays(arrays, "evaluator_")
    probe_p, probe_r, _ = _planted(12, seed=10)
    assert loaded.evaluate_many(probe_p, probe_r) == ev.evaluate_many(probe_p, probe_r)
    ev.fit(prompts[:10], responses[:10], labels[:10])
    assert ev.text is None and "evaluator_text_idf" not in ev.state_arrays("evaluator_")
    fresh = _evaluator()
    fresh.load_text_arrays({}, "evaluator_")
    assert fresh.text is None
