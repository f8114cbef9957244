"""The response evaluator: defined scores on odd input, calibration, agreement metric."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput
from banditroute.evaluation import ComponentWeights, Evaluator, RankCalibration, agreement
from banditroute.features import HashingEmbedder

PROMPT = "Explain why the sky is blue."
ANSWER = (
    "The sky is blue because of Rayleigh scattering. Sunlight contains every colour, and the "
    "molecules of the air scatter short wavelengths, such as blue, much more strongly than long "
    "ones. That scattered blue light reaches our eyes from every direction of the sky."
)


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(embedder=HashingEmbedder(dim=64))


@pytest.mark.parametrize(
    "response",
    [
        "",
        "   \n\t ",
        "a" * 1_000_000,
        ("word " * 200_000),
        "Der Himmel ist blau wegen der Rayleigh-Streuung des Sonnenlichts.",
        "天空是蓝色的，因为瑞利散射。",
        "\x00\x01\ufffd\ufffd",
        "blue " * 500,
    ],
    ids=["empty", "blank", "1MB-one-token", "1MB-words", "german", "chinese", "garbage", "repeat"],
)
def test_odd_responses_get_defined_scores(evaluator: Evaluator, response: str) -> None:
    e = evaluator.evaluate(PROMPT, response)
    for value in e[:4]:
        assert 0.0 <= value <= 1.0
    assert e.total < evaluator.evaluate(PROMPT, ANSWER).total


def test_empty_response_scores_zero(evaluator: Evaluator) -> None:
    assert evaluator.evaluate(PROMPT, "")[:4] == (0.0, 0.0, 0.0, 0.0)


def test_each_part_reacts_to_its_own_fault(evaluator: Evaluator) -> None:
    good = evaluator.evaluate(PROMPT, ANSWER)
    truncated = evaluator.evaluate(PROMPT, ANSWER[:60])
    off_topic = evaluator.evaluate(PROMPT, "Bananas are rich in potassium and taste sweet.")
    refusal = evaluator.evaluate(PROMPT, "I'm sorry, but I cannot help with that request.")
    looping = evaluator.evaluate(PROMPT, "the sky is blue " * 80)
    assert truncated.completeness < good.completeness
    assert off_topic.relevance < good.relevance and refusal.relevance < good.relevance
    assert looping.coherence < 0.5 * good.coherence


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a list"]])
def test_non_text_is_a_clear_error(evaluator: Evaluator, bad: object) -> None:
    with pytest.raises(InvalidInput, match="response"):
        evaluator.evaluate(PROMPT, bad)  # type: ignore[arg-type]


def test_mismatched_batches_and_bad_labels_are_errors(evaluator: Evaluator) -> None:
    with pytest.raises(InvalidInput):
        evaluator.evaluate_many([PROMPT], [ANSWER, ANSWER])
    with pytest.raises(InvalidInput, match="labels"):
        evaluator.partial_fit([PROMPT], [ANSWER], [1.5])


def test_weights_are_validated_and_change_the_total() -> None:
    with pytest.raises(InvalidInput):
        ComponentWeights(completeness=0, relevance=0, coherence=0)
    only_coherence = Evaluator(
        ComponentWeights(completeness=0, relevance=0, coherence=1), HashingEmbedder(dim=64)
    )
    e = only_coherence.evaluate(PROMPT, ANSWER)
    assert e.total == pytest.approx(e.coherence)


def test_batch_equals_one_by_one(evaluator: Evaluator) -> None:
    responses = [ANSWER, "Blue.", "", "I'm sorry, I can't."]
    batch = evaluator.evaluate_many([PROMPT] * 4, responses)
    assert batch == [evaluator.evaluate(PROMPT, r) for r in responses]


def test_calibration_learns_what_the_labels_reward() -> None:
    """Labels that prefer short answers turn the length-loving default around."""
    ev = Evaluator(embedder=HashingEmbedder(dim=64), penalty=1.0)
    prompts, responses, labels = [], [], []
    for k in range(30):
        prompt = f"Question number {k}: what is {k} plus {k}?"
        short, long = f"{2 * k}.", f"Let me think about {k} plus {k} step by step. " * 6
        prompts += [prompt, prompt]
        responses += [short, long]
        labels += [1.0, 0.0]
    before = ev.evaluate_many(prompts[:2], responses[:2])
    assert before[0].total < before[1].total
    ev.fit(prompts, responses, labels)
    after = ev.evaluate_many(
        ["What is 40 plus 40?"] * 2, ["80.", "Let me think step by step. " * 6]
    )
    assert after[0].calibrated and after[0].total > after[1].total


def test_partial_fit_in_pieces_equals_one_fit() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = rng.uniform(size=60)
    groups = np.repeat(np.arange(20), 3)
    whole = RankCalibration(2.0).partial_fit(x, y, groups)
    pieces = RankCalibration(2.0)
    for part in np.array_split(np.arange(60), 4):  # splits fall on group boundaries
        pieces.partial_fit(x[part], y[part], groups[part])
    np.testing.assert_allclose(whole.predict(x), pieces.predict(x))
    restored = RankCalibration(2.0)
    restored.load_arrays(whole.arrays("c_"), "c_")
    np.testing.assert_allclose(whole.predict(x), restored.predict(x))


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_gets_scores_in_range(prompt: str, response: str) -> None:
    e = Evaluator(embedder=HashingEmbedder(dim=32)).evaluate(prompt, response)
    assert all(0.0 <= v <= 1.0 for v in e[:4])


def test_agreement_counts_ties_as_half_and_skips_close_labels() -> None:
    r = agreement(
        np.array([0, 0, 0]), np.array([0.0, 1.0, 0.05]), np.array([1.0, 1.0, 0.0]), np.ones(3)
    )
    # pairs with a label gap > 0.1: (0,1) tie → 0.5, (1,2) agrees → 1; (0,2) gap 0.05 skipped
    assert (r.agreement, r.pairs) == (0.75, 2)
