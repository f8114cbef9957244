"""A learned text signal: TF-IDF words of a response → log-odds that a judge prefers it.

`TextSignal` fits a logistic regression of "beats the reference" (gold label > 0.5) on the
TF-IDF vector (word uni- and bigrams, sublinear term frequency, l2-normalised) of each response.
The evaluator stacks its score as one more column of its `RankCalibration`; `cross_fit` gives the
out-of-fold scores that column is fitted on, so the calibration never sees the over-fitted scores
of responses the text model was trained on. The fitted state is three arrays (the vocabulary as
UTF-8 bytes, the idf weights and the coefficients, the last one the intercept): no pickle, and
`from_arrays` checks them as untrusted input.

>>> from banditroute.evaluation.text_signal import TextSignal
>>> words = ["thorough", "vague"]
>>> responses = [f"a {words[k % 2]} answer number {k}" for k in range(40)]
>>> labels = [1.0 - k % 2 for k in range(40)]
>>> signal = TextSignal(min_df=1).fit(responses, labels)
>>> good, bad = signal.score(["a thorough reply", "a vague reply"])
>>> bool(good > 0 > bad), signal.terms > 0
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import StateFileError, check_number, invalid
from ..untrusted import float_array
from .signals import MAX_CHARS

__all__ = ["TextSignal"]

_TOKEN = r"(?u)\b\w\w+\b"  # scikit-learn's default: words of two or more characters


class TextSignal:
    """Logistic regression of "the judge prefers this response" on its TF-IDF words.

    Parameters
    ----------
    strength : float
        Inverse L2 penalty of the logistic regression (scikit-learn's ``C``).
    ngrams : int
        Longest word n-gram used (1: words, 2: words and word pairs).
    min_df : int
        A term must occur in at least this many fitted responses.
    max_terms : int
        Keep at most this many terms (the most frequent).
    """

    def __init__(
        self, strength: float = 0.1, ngrams: int = 2, min_df: int = 3, max_terms: int = 50_000
    ) -> None:
        self.strength = check_number("strength", strength, 0, above=True)
        for name, value, high in (("ngrams", ngrams, 3), ("min_df", min_df, 10**6)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise invalid(name, value, f"an int in [1, {high}]")
        if isinstance(max_terms, bool) or not isinstance(max_terms, int) or max_terms < 1:
            raise invalid("max_terms", max_terms, "a positive int")
        self.ngrams, self.min_df, self.max_terms = ngrams, min_df, max_terms
        self.vocabulary: list[str] = []
        self.idf = np.zeros(0)
        self.coef = np.zeros(0)
        self.intercept = 0.0
        self._counter: Any = None  # a CountVectorizer on the fitted vocabulary

    @property
    def fitted(self) -> bool:
        """True once `fit` (or `from_arrays`) gave the signal a vocabulary."""
        return bool(self.vocabulary)

    @property
    def terms(self) -> int:
        """Size of the fitted vocabulary."""
        return len(self.vocabulary)

    def __repr__(self) -> str:
        return f"TextSignal(strength={self.strength}, ngrams={self.ngrams}, terms={self.terms})"

    def _setup(self) -> tuple[int, int, float, int]:
        return self.ngrams, self.min_df, self.strength, self.max_terms

    @staticmethod
    def can_fit(labels: np.ndarray) -> bool:
        """Whether ``labels`` hold both outcomes (some > 0.5 and some ≤ 0.5)."""
        wins = np.asarray(labels) > 0.5
        return bool(wins.any() and not wins.all())

    def fit(self, responses: Sequence[str], labels: Sequence[float] | np.ndarray) -> TextSignal:
        """Learn the vocabulary, idf weights and coefficients from labelled responses."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels, dtype=float)
        if len(y) != len(responses) or not self.can_fit(y):
            raise invalid("labels", f"{len(y)} labels", "one per response, both above and ≤ 0.5")
        vectorizer = TfidfVectorizer(
            token_pattern=_TOKEN,
            ngram_range=(1, self.ngrams),
            min_df=self.min_df,
            max_features=self.max_terms,
            sublinear_tf=True,
        )
        try:
            matrix = vectorizer.fit_transform([r[:MAX_CHARS] for r in responses])
        except ValueError:  # no term reaches min_df
            raise invalid("responses", f"{len(y)} texts", "some repeated words") from None
        model = LogisticRegression(C=self.strength, max_iter=2000).fit(matrix, y > 0.5)
        order = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
        self._set([t for t, _ in order], vectorizer.idf_, model.coef_[0], model.intercept_[0])
        return self

    def _set(self, vocabulary: list[str], idf: np.ndarray, coef: np.ndarray, b: float) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocabulary = vocabulary
        self.idf, self.coef, self.intercept = np.asarray(idf, float), np.asarray(coef, float), b
        counter = CountVectorizer(
            token_pattern=_TOKEN,
            ngram_range=(1, self.ngrams),
            vocabulary={t: k for k, t in enumerate(vocabulary)},
            dtype=np.float64,
        )
        counter.transform([""])  # validates the vocabulary once, not on every call
        self._counter = counter

    def score(self, responses: Sequence[str]) -> np.ndarray:
        """Log-odds that the judge prefers each response (what the fitted model says)."""
        if self._counter is None:
            raise invalid("text signal", "unfitted", "fit it (Evaluator.fit) first")
        counts = sp.csr_matrix(self._counter.transform([r[:MAX_CHARS] for r in responses]))
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        dots = np.asarray(counts @ self.coef).ravel()
        return np.asarray(dots / np.maximum(norms, 1e-12) + self.intercept, dtype=float)

    def cross_fit(
        self, responses: Sequence[str], labels: Sequence[float] | np.ndarray, groups: np.ndarray
    ) -> np.ndarray | None:
        """Out-of-fold scores: the groups (prompts) are split in two halves, each scored by a
        signal fitted on the other (same settings). None when a half cannot be fitted."""
        y = np.asarray(labels, dtype=float)
        keys, inverse = np.unique(np.asarray(groups), return_inverse=True)
        half = (np.random.default_rng(len(keys)).permutation(len(keys)) % 2)[inverse]
        out = np.zeros(len(y))
        for h in (0, 1):
            train, held = np.flatnonzero(half != h), np.flatnonzero(half == h)
            if not len(held) or not self.can_fit(y[train]):
                return None
            try:
                part = TextSignal(self.strength, self.ngrams, self.min_df, self.max_terms)
                part.fit([responses[i] for i in train.tolist()], y[train])
            except ValueError:
                return None
            out[held] = part.score([responses[i] for i in held.tolist()])
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The fitted state as named numeric arrays (empty when unfitted)."""
        if not self.fitted:
            return {}
        words = "\n".join(self.vocabulary).encode("utf-8")
        return {
            f"{prefix}text_vocabulary": np.frombuffer(words, dtype=np.uint8).copy(),
            f"{prefix}text_idf": self.idf.copy(),
            f"{prefix}text_coef": np.r_[self.coef, self.intercept],
            f"{prefix}text_setup": np.array(self._setup(), dtype=float),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> TextSignal:
        """Rebuild what `arrays` saved, checking every part (`StateFileError` if damaged)."""
        setup = float_array(f"{prefix}text_setup", arrays, (4,), low=0.0)
        if not np.array_equal(setup[[0, 1, 3]], np.floor(setup[[0, 1, 3]])):
            raise StateFileError(f"saved array '{prefix}text_setup' must hold whole counts")
        try:
            signal = cls(setup[2], int(setup[0]), int(setup[1]), int(setup[3]))
        except ValueError as exc:
            raise StateFileError(f"saved array '{prefix}text_setup' is invalid: {exc}") from None
        raw = arrays.get(f"{prefix}text_vocabulary")
        if raw is None:
            raise StateFileError(f"saved state lacks the array '{prefix}text_vocabulary'")
        raw = np.asarray(raw)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise StateFileError(f"saved array '{prefix}text_vocabulary' must be utf-8 bytes")
        try:
            vocabulary = raw.tobytes().decode("utf-8").split("\n")
        except UnicodeDecodeError:
            raise StateFileError(f"saved '{prefix}text_vocabulary' is not valid utf-8") from None
        n = len(vocabulary)
        if len(set(vocabulary)) != n or not all(vocabulary) or n > signal.max_terms:
            raise StateFileError(
                f"saved '{prefix}text_vocabulary' must hold distinct, non-empty terms"
            )
        if any(len(t.split(" ")) > signal.ngrams for t in vocabulary):
            raise StateFileError(f"saved '{prefix}text_vocabulary' holds too long n-grams")
        idf = float_array(f"{prefix}text_idf", arrays, (n,), low=1.0)
        coef = float_array(f"{prefix}text_coef", arrays, (n + 1,))
        signal._set(vocabulary, idf, coef[:n], float(coef[n]))
        return signal
