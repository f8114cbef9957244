"""The response evaluator: completeness, relevance and coherence in [0, 1], and their total.

Un-fitted, the total is the weighted sum of the three parts (0.40 / 0.35 / 0.25). Given gold
labels (a judge's verdicts, users' ratings) through `Evaluator.fit` or `Evaluator.partial_fit`,
the total becomes a `RankCalibration` over the parts, their underlying signals, the
response's embedding and, after `Evaluator.fit` on enough labels, a learned `TextSignal` (TF-IDF
words → log-odds that the judge prefers the response, cross-fitted for the calibration); the
parts stay the interpretable heuristics.

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

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from .._validation import StrictModel
from ..embedders import check_embedder
from ..errors import invalid
from ..features import CachedEmbedder, Embedder, HashingEmbedder
from ..params import Configurable
from .calibration import RankCalibration
from .inputs import checked_labels, checked_texts
from .signals import MAX_CHARS, Signals, measure, sentence_shape
from .text_signal import TextSignal

__all__ = ["MIN_TEXT_ROWS", "ComponentWeights", "Evaluation", "Evaluator"]

MIN_TEXT_ROWS = 200  #: `Evaluator.fit` learns a text signal from this many labels on


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
    text_signal : bool
        Whether `fit` on at least `MIN_TEXT_ROWS` labels also learns a `TextSignal` and stacks
        its score into the calibration (``self.text``; `partial_fit` keeps it as it is).
    """

    def __init__(
        self,
        weights: ComponentWeights | None = None,
        embedder: Embedder | None = None,
        response_chars: int = 300,
        penalty: float = 1.0,
        text_signal: bool = True,
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
        if not isinstance(text_signal, bool):
            raise invalid("text_signal", text_signal, "True or False")
        self.penalty = penalty
        self.text_signal = text_signal
        self.calibration = RankCalibration(penalty)
        self.text: TextSignal | None = None

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
            params.get("text_signal", True),  # states from before it: the default
        )

    def _measure(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) parts and (n, d) calibration features."""
        prompts = checked_texts("prompts", prompts)
        responses = checked_texts("responses", responses)
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
        columns = [np.array(rows), e_response]
        if self.text is not None:
            columns.append(self.text.score(responses)[:, None])
        return np.array(parts), np.hstack(columns)

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
        """The calibration's input rows (signals, parts, response embedding, text signal)."""
        return self._measure(prompts, responses)[1]

    def partial_fit(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        labels: Sequence[float] | np.ndarray,
    ) -> Evaluator:
        """Learn from gold labels in [0, 1]; responses to the same prompt are ranked together."""
        prompts = checked_texts("prompts", prompts)
        y = checked_labels(labels, len(prompts))
        features = self.features(prompts, responses)
        _, groups = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)
        self.calibration.partial_fit(features, y, groups)
        return self

    def fit(
        self, prompts: Sequence[str], responses: Sequence[str], labels: Sequence[float]
    ) -> Evaluator:
        """Forget earlier labels, then learn from these: the text signal (if ``text_signal`` and
        there are at least `MIN_TEXT_ROWS` labels) and the calibration, which sees the text
        signal's out-of-fold scores (by prompt), as `partial_fit` would with the fitted one."""
        self.calibration = RankCalibration(self.calibration.penalty)
        self.text = None
        prompts = checked_texts("prompts", prompts)
        responses = checked_texts("responses", responses)
        y = checked_labels(labels, len(prompts))
        if not self.text_signal or len(y) < MIN_TEXT_ROWS:
            return self.partial_fit(prompts, responses, y)
        features = self.features(prompts, responses)
        _, groups = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)
        signal = TextSignal()
        held_out = signal.cross_fit(responses, y, groups)
        if held_out is not None:
            features = np.column_stack([features, held_out])
            self.text = signal.fit(responses, y)
        self.calibration.partial_fit(features, y, groups)
        return self

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The learned state as named arrays: the calibration's and the text signal's."""
        text = {} if self.text is None else self.text.arrays(prefix)
        return {**self.calibration.arrays(prefix), **text}

    def load_text_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        """Restore the text signal `state_arrays` saved, if it saved one (`StateFileError` if
        damaged); call it before sizing the calibration (it adds `text_columns` columns)."""
        has_text = f"{prefix}text_setup" in arrays
        self.text = TextSignal.from_arrays(arrays, prefix) if has_text else None

    @property
    def text_columns(self) -> int:
        """Calibration columns the text signal adds (0 or 1)."""
        return int(self.text is not None)
