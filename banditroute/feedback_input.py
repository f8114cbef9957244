"""What a caller reports about one call, validated once (`FeedbackInput`), and response scoring.

>>> from banditroute.feedback_input import FeedbackInput
>>> FeedbackInput.check(quality=0.5, cost_usd=0.001).quality
0.5
>>> FeedbackInput.check(quality=2)
Traceback (most recent call last):
...
banditroute.errors.InvalidInput: quality == 2, must be a finite number in [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Required, TypedDict

from .decision import Outcome
from .errors import InvalidInput, check_number, invalid
from .evaluation.evaluator import Evaluation, Evaluator
from .text import clean_text

__all__ = ["FeedbackFields", "FeedbackInput", "ObservedFields", "score_response"]


class ObservedFields(TypedDict, total=False):
    """The keywords of `Engine.observe`: one logged call's measurements."""

    quality: Required[float]
    cost_usd: float | None
    latency_ms: float | None
    output_tokens: float | None


class FeedbackFields(TypedDict, total=False):
    """The keywords of `Engine.feedback`."""

    quality: float | None
    cost_usd: float | None
    latency_ms: float | None
    output_tokens: float | None
    error: str | None
    response: str | None
    prompt: str | None


def _optional(name: str, value: object, high: float = math.inf) -> float | None:
    return None if value is None else check_number(name, value, 0.0, high)


def _text(name: str, value: object) -> str | None:
    return None if value is None else clean_text(value, name)


@dataclass(frozen=True)
class FeedbackInput:
    """One call's reported outcome: quality in [0, 1], the other measurements >= 0."""

    quality: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    output_tokens: float | None = None
    error: str | None = None
    response: str | None = None
    prompt: str | None = None

    @classmethod
    def check(
        cls,
        quality: object = None,
        cost_usd: object = None,
        latency_ms: object = None,
        output_tokens: object = None,
        error: object = None,
        response: object = None,
        prompt: object = None,
    ) -> FeedbackInput:
        """Validate every field; `InvalidInput` names the first bad one. Texts are cleaned
        (`banditroute.text.clean_text`: lone surrogates become U+FFFD)."""
        for name, value, what in (
            ("error", error, "a string describing the failure, or None"),
            ("response", response, "the model's answer as a str, or None"),
            ("prompt", prompt, "the prompt as a str, or None"),
        ):
            if value is not None and not isinstance(value, str):
                raise invalid(name, value, what)
        return cls(
            _optional("quality", quality, 1.0),
            _optional("cost_usd", cost_usd),
            _optional("latency_ms", latency_ms),
            _optional("output_tokens", output_tokens),
            _text("error", error),
            _text("response", response),
            _text("prompt", prompt),
        )

    @classmethod
    def from_keywords(cls, fields: Mapping[str, object]) -> FeedbackInput:
        """`check` over keyword arguments; an unknown keyword is `InvalidInput` too."""
        unknown = sorted(set(fields) - set(FeedbackFields.__annotations__))
        if unknown:
            raise invalid("keywords", unknown, f"among {list(FeedbackFields.__annotations__)}")
        return cls.check(**fields)

    def outcome(
        self, decision_id: str, model: str, quality: float, reward: float, ev: Evaluation | None
    ) -> Outcome:
        """The `Outcome` recorded for this feedback."""
        return Outcome(
            decision_id, model, quality, reward, self.cost_usd, self.latency_ms, self.error, ev
        )

    def require_signal(self) -> FeedbackInput:
        """Feedback must say something: a quality, a response or an error."""
        if self.quality is None and self.error is None and self.response is None:
            raise InvalidInput("feedback needs quality=... (in [0, 1]), response=... or error=...")
        return self


def score_response(
    evaluator: Evaluator, given: FeedbackInput, remembered_prompt: str | None
) -> tuple[float | None, Evaluation | None]:
    """The quality of a feedback that carries a response, and the evaluation behind it.

    A gold ``quality`` teaches the evaluator (`Evaluator.partial_fit`) and stays the quality;
    an error leaves the quality to the error; otherwise the evaluator scores the response.
    """
    text = given.prompt if given.prompt is not None else remembered_prompt
    if text is None:
        raise InvalidInput(
            "this decision's prompt is not in memory (engine reloaded?): pass prompt=..."
        )
    assert given.response is not None
    if given.quality is not None:
        evaluator.partial_fit([text], [given.response], [given.quality])
        return given.quality, None
    if given.error is not None:
        return None, None
    evaluation = evaluator.evaluate(text, given.response)
    return evaluation.total, evaluation
