"""The response evaluator: completeness, relevance and coherence in [0, 1], and their total.

Un-fitted, the total is the weighted sum of the three parts (0.40 / 0.35 / 0.25). Given gold
labels (a judge's verdicts, users' ratings) through `Evaluator.fit` or `Evaluator.partial_fit`,
the total becomes a `RankCalibration` over the parts, their underlying signals and the
response's embedding; the parts stay the interpretable heuristics.

>>> from banditroute.evaluation import Evaluator
>>> from banditroute.features import HashingEmbedder
>>> ev = Evaluator(embedder=HashingEmbedder(dim=64))
>>> prompt = "Name a prime number."
>>> good = ev.evaluate(prompt, "Seven is a prime number: its only divisors are 1 and 7.")
>>> bad = ev.evaluate(prompt, "")
>>> good.total > bad.total, bad
(True, Evaluation(completeness=0.0, relevance=0.0, coherence=0.0, total=0.0, calibrated=False))
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from .._validation import StrictModel
from ..embedders import check_embedder
from ..errors import check_number, invalid
from ..features import CachedEmbedder, Embedder, HashingEmbedder
from ..params import Configurable
from ..text import clean_text
from .calibration import RankCalibration
from .signals import MAX_CHARS, Signals, measure, sentence_shape

__all__ = ["ComponentWeights", "Evaluation", "Evaluator"]


class ComponentWeights(StrictModel):
    """How the three parts add up to the un-fitted total (normalised to sum 1)."""

    completeness: float = Field(default=0.40, ge=0, allow_inf_nan=False)
    relevance: float = Field(default=0.35, ge=0, allow_inf_nan=False)
    coherence: float = Field(default=0.25, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_weight(self) -> ComponentWeights:
        if self.completeness + self.relevance + self.coherence <= 0:
            raise ValueError("at least one weight must be positive")
        return self

    def combine(self, parts: np.ndarray) -> np.ndarray:
        """Weighted mean of (n, 3) parts ordered completeness, relevance, coherence."""
        w = np.array([self.completeness, self.relevance, self.coherence])
        return parts @ (w / w.sum())


class Evaluation(NamedTuple):
    """Scores of one response; ``calibrated`` says whether ``total`` comes from gold labels."""

    completeness: float
    relevance: float
    coherence: float
    total: float
    calibrated: bool


def _text(name: str, value: object) -> str:
    return clean_text(value, name)  # InvalidInput for a non-str; lone surrogates → U+FFFD


def _texts(name: str, values: object) -> list[str]:
    """A sequence of texts as a list of clean str, or `InvalidInput` naming ``name``."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise invalid(name, values, "a sequence of str")
    try:
        items = list(values)
    except TypeError:  # iterable in name only (a 0-d array, ...)
        raise invalid(name, values, "a sequence of str") from None
    return [_text(name[:-1], v) for v in items]


def _labels(labels: object, n: int) -> np.ndarray:
    """``n`` gold labels in [0, 1] as floats (no str, no bool), or `InvalidInput`."""
    allowed = f"{n} numbers in [0, 1]"
    items: list[object] | None = None
    if isinstance(labels, np.ndarray):
        items = list(labels) if labels.ndim == 1 else None
    elif isinstance(labels, Iterable) and not isinstance(labels, str | bytes | Mapping):
        with contextlib.suppress(TypeError):  # TypeError: iterable in name only
            items = list(labels)
    if items is None or len(items) != n:
        raise invalid("labels", labels, allowed)
    return np.array([check_number("labels[i]", v, 0, 1) for v in items], dtype=float)


def _parts(s: Signals, similarity: float) -> tuple[float, float, float]:
    """The heuristic parts from a response's signals and its prompt similarity."""
    if s.words == 0:
        return 0.0, 0.0, 0.0
    expected_words = 25.0 if s.brevity_asked else 150.0
    completeness = (1 - math.exp(-s.words / expected_words)) * (0.7 + 0.3 * s.ends_cleanly)
    on_topic = 0.5 * s.coverage + 0.5 * min(max((similarity - 0.05) / 0.55, 0.0), 1.0)
    relevance = on_topic * (1 - 0.7 * s.refusal) * (0.3 + 0.7 * s.script_match)
    coherence = s.distinct_trigrams * s.clean_chars * sentence_shape(s.words_per_sentence)
    return completeness, relevance, coherence


def _signal_features(s: Signals, similarity: float) -> list[float]:
    per_word = 10.0 / max(s.words, 1)
    return [
        1.0,
        math.log1p(s.words) / 8,
        s.brevity_asked,
        s.ends_cleanly,
        math.log1p(s.list_items) / 3,
        math.log1p(s.paragraphs) / 3,
        float(s.code_blocks > 0),
        s.coverage,
        s.refusal,
        s.script_match,
        s.distinct_trigrams,
        s.clean_chars,
        sentence_shape(s.words_per_sentence),
        math.log1p(s.words_per_sentence) / 4,
        similarity,
        math.log1p(s.chars) / 9,
        math.log1p(s.numbered_items) / 3,
        s.headers / 5,
        s.bold_spans * 2 * per_word,
        s.line_breaks * per_word,
        s.colons * per_word,
        10 * s.digit_share,
        s.closing_summary,
        s.eager_opener,
    ]


class Evaluator(Configurable):
    """Scores (prompt, response) pairs offline; batch with `evaluate_many`.

    Parameters
    ----------
    weights : ComponentWeights, optional
        Combination of the parts before any calibration.
    embedder : Embedder, optional
        Embeds prompts and responses (default: a cached `HashingEmbedder`; pass the engine's
        MiniLM embedder for the semantic similarity the calibration was measured with).
    response_chars : int
        How much of a response's start is embedded (the encoder reads ~256 tokens anyway).
    penalty : float
        Ridge penalty of the calibration.
    """

    def __init__(
        self,
        weights: ComponentWeights | None = None,
        embedder: Embedder | None = None,
        response_chars: int = 300,
        penalty: float = 1.0,
    ) -> None:
        if weights is not None and not isinstance(weights, ComponentWeights):
            raise invalid("weights", weights, "a ComponentWeights or None")
        self.weights = weights if weights is not None else ComponentWeights()
        self.embedder = (
            check_embedder(embedder) if embedder is not None else CachedEmbedder(HashingEmbedder())
        )
        if isinstance(response_chars, bool) or not isinstance(response_chars, int | np.integer):
            raise invalid("response_chars", response_chars, "a positive int")
        if response_chars < 1:
            raise invalid("response_chars", response_chars, "a positive int")
        self.response_chars = int(response_chars)
        self.penalty = penalty
        self.calibration = RankCalibration(penalty)

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments other than the embedder (JSON-ready, for state files)."""
        params = super().get_params()
        del params["embedder"]
        params["weights"] = self.weights.model_dump()
        return params

    @classmethod
    def given_or_default(cls, evaluator: object, embedder: Embedder) -> Evaluator:
        """``evaluator`` if it is one (else `InvalidInput`), or a default one on ``embedder``."""
        if evaluator is None:
            return cls(embedder=embedder)
        if not isinstance(evaluator, Evaluator):
            raise invalid("evaluator", evaluator, "a banditroute Evaluator")
        return evaluator

    @classmethod
    def from_params(cls, params: dict[str, Any], embedder: Embedder) -> Evaluator:
        """Rebuild from `get_params` and an embedder."""
        return cls(
            ComponentWeights(**params["weights"]),
            embedder,
            int(params["response_chars"]),
            float(params["penalty"]),
        )

    def _measure(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) parts and (n, d) calibration features."""
        prompts = _texts("prompts", prompts)
        responses = _texts("responses", responses)
        if len(prompts) != len(responses):
            raise invalid("responses", len(responses), f"one per prompt ({len(prompts)})")
        if not prompts:
            return np.zeros((0, 3)), np.zeros((0, 0))
        heads = [r[: self.response_chars] for r in responses]
        embedded = self.embedder.embed([p or " " for p in prompts] + [h or " " for h in heads])
        e_prompt, e_response = embedded[: len(prompts)], embedded[len(prompts) :]
        norms = np.linalg.norm(e_prompt, axis=1) * np.linalg.norm(e_response, axis=1)
        cosine = np.einsum("ij,ij->i", e_prompt, e_response) / np.maximum(norms, 1e-12)
        parts, rows = [], []
        for p, r, sim in zip(prompts, responses, cosine, strict=True):
            s = measure(p, r)
            similarity = float(sim) if s.words else 0.0
            part = _parts(s, similarity)
            parts.append(part)
            rows.append(_signal_features(s, similarity) + list(part))
        empty = np.array([not r[:MAX_CHARS].strip() for r in responses])
        e_response = np.where(empty[:, None], 0.0, e_response)
        return np.array(parts), np.hstack([np.array(rows), e_response])

    def evaluate_many(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Evaluation]:
        """Evaluate pairs in one batch (one embedding call)."""
        parts, features = self._measure(prompts, responses)
        calibrated = self.calibration.fitted
        if calibrated:
            total = self.calibration.predict(features)
            total = np.where(features[:, 1] == 0, 0.0, total)  # an empty response scores 0
        else:
            total = self.weights.combine(parts) if len(parts) else np.zeros(0)
        return [
            Evaluation(float(c), float(r), float(h), float(t), calibrated)
            for (c, r, h), t in zip(parts, total, strict=True)
        ]

    def evaluate(self, prompt: str, response: str) -> Evaluation:
        """Evaluate one response to a prompt."""
        return self.evaluate_many([prompt], [response])[0]

    def features(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """The calibration's input rows (signals, parts, response embedding)."""
        return self._measure(prompts, responses)[1]

    def partial_fit(
        self, prompts: Sequence[str], responses: Sequence[str], labels: Sequence[float]
    ) -> Evaluator:
        """Learn from gold labels in [0, 1]; responses to the same prompt are ranked together."""
        prompts = _texts("prompts", prompts)
        y = _labels(labels, len(prompts))
        features = self.features(prompts, responses)
        _, groups = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)
        self.calibration.partial_fit(features, y, groups)
        return self

    def fit(
        self, prompts: Sequence[str], responses: Sequence[str], labels: Sequence[float]
    ) -> Evaluator:
        """Forget earlier labels, then `partial_fit`."""
        self.calibration = RankCalibration(self.calibration.penalty)
        return self.partial_fit(prompts, responses, labels)
