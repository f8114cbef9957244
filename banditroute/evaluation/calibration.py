"""A learned score from gold labels: ridge regression on within-prompt ranks, fitted online.

What a reward model needs is to order responses to the *same* prompt like the gold labels do, so
responses that share a prompt are fitted as a group: features and targets are centred within the
group and the target is the label's rank in it (robust to a judge's skewed probabilities). A
label that arrives alone (a user's rating of one call) is fitted as it is. The sufficient
statistics (XᵀX, Xᵀy) are kept, so `partial_fit` on new labels equals refitting on all of them,
and the state is a few arrays.

Scores are squashed to (0, 1) by a logistic of the standardised prediction (monotone, so the
ordering is untouched).

>>> import numpy as np
>>> from banditroute.evaluation.calibration import RankCalibration
>>> rng = np.random.default_rng(0)
>>> x = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
>>> labels = (x[:, 1] > 0).astype(float)            # only the first feature matters
>>> groups = np.repeat(np.arange(40), 5)             # 40 prompts, 5 responses each
>>> cal = RankCalibration(penalty=1.0).partial_fit(x, labels, groups)
>>> s = cal.predict(x)
>>> bool(s[x[:, 1] > 0].mean() > s[x[:, 1] < 0].mean()), bool(((0 < s) & (s < 1)).all())
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import StateFileError, check_number, invalid

__all__ = ["RankCalibration"]


class RankCalibration:
    """Online ridge regression of within-prompt label ranks on evaluator features.

    Parameters
    ----------
    penalty : float
        Ridge penalty (prior precision of every weight).
    """

    def __init__(self, penalty: float = 1.0) -> None:
        self.penalty = check_number("penalty", penalty, 0, above=True)
        self.dim: int | None = None
        self.gram = np.zeros((0, 0))  # Σ x̃ x̃ᵀ over fitted (centred) rows
        self.moment = np.zeros(0)  # Σ x̃ ỹ
        self.raw_sum = np.zeros(0)  # Σ x over all labelled rows, for the output scale
        self.raw_gram = np.zeros((0, 0))  # Σ x xᵀ
        self.count = 0
        self._weights: np.ndarray | None = None
        self._scale: tuple[float, float] = (0.0, 1.0)

    @property
    def fitted(self) -> bool:
        """True once any label has been fitted."""
        return self.count > 0

    def _start(self, dim: int) -> None:
        self.dim = dim
        self.gram = np.zeros((dim, dim))
        self.moment = np.zeros(dim)
        self.raw_sum = np.zeros(dim)
        self.raw_gram = np.zeros((dim, dim))

    def partial_fit(
        self, features: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None
    ) -> RankCalibration:
        """Add labelled rows; rows with the same ``groups`` value are responses to one prompt."""
        x = np.asarray(features, dtype=float)
        y = np.asarray(labels, dtype=float)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise invalid("features/labels", (x.shape, y.shape), "an (n, d) matrix and n labels")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise invalid("features/labels", "non-finite values", "finite numbers")
        if self.dim is None:
            self._start(x.shape[1])
        elif x.shape[1] != self.dim:
            raise invalid("features.shape", x.shape, f"(n, {self.dim}) as in earlier fits")
        g = np.arange(len(y)) if groups is None else np.asarray(groups)
        if g.shape != y.shape:
            raise invalid("groups", g.shape, f"one group key per label ({len(y)})")
        _, inverse, sizes = np.unique(g, return_inverse=True, return_counts=True)
        xt, yt = x.copy(), y.copy()
        for k in np.flatnonzero(sizes > 1):
            rows = np.flatnonzero(inverse == k)
            ranks = np.argsort(np.argsort(y[rows], kind="stable"), kind="stable")
            # ties share their mean rank, so equal labels get equal targets
            target = ranks.astype(float)
            for value in np.unique(y[rows]):
                same = y[rows] == value
                target[same] = target[same].mean()
            target /= max(len(rows) - 1, 1)
            xt[rows] = x[rows] - x[rows].mean(axis=0)
            yt[rows] = target - target.mean()
        self.gram += xt.T @ xt
        self.moment += xt.T @ yt
        self.raw_sum += x.sum(axis=0)
        self.raw_gram += x.T @ x
        self.count += len(y)
        self._solve()
        return self

    def _solve(self) -> None:
        assert self.dim is not None
        w = np.linalg.solve(self.gram + self.penalty * np.eye(self.dim), self.moment)
        mean_x = self.raw_sum / self.count
        cov_x = self.raw_gram / self.count - np.outer(mean_x, mean_x)
        sd = math.sqrt(max(float(w @ cov_x @ w), 1e-12))
        self._weights, self._scale = w, (float(w @ mean_x), sd)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores in (0, 1), ordered like the fitted labels' within-prompt ranks."""
        if self._weights is None:
            raise invalid("calibration", "unfitted", "partial_fit with some labels first")
        centre, sd = self._scale
        z = (np.asarray(features, dtype=float) @ self._weights - centre) / sd
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The state as named arrays (for the engine's state file)."""
        return {
            f"{prefix}gram": self.gram,
            f"{prefix}moment": self.moment,
            f"{prefix}raw_sum": self.raw_sum,
            f"{prefix}raw_gram": self.raw_gram,
            f"{prefix}count": np.array([self.count]),
        }

    def load_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        """Restore what `arrays` saved."""
        try:
            gram, count = arrays[f"{prefix}gram"], int(arrays[f"{prefix}count"][0])
            if count:
                self._start(gram.shape[0])
                self.gram, self.moment = gram.copy(), arrays[f"{prefix}moment"].copy()
                self.raw_sum = arrays[f"{prefix}raw_sum"].copy()
                self.raw_gram = arrays[f"{prefix}raw_gram"].copy()
                self.count = count
                self._solve()
        except (KeyError, IndexError, ValueError) as exc:
            raise StateFileError(f"calibration arrays are missing or malformed: {exc}") from exc
