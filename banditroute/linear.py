"""Per-key Bayesian ridge regression, y ≈ θ_k·x, with O(d²) Sherman–Morrison updates.

Used for each model's quality (the policies) and answer length (the cost estimator). The first
context component is the intercept and gets its own prior.

>>> import numpy as np
>>> from banditroute.linear import RidgeArms
>>> ridge = RidgeArms(prior_intercept=0.5)
>>> idx = ridge.ensure(["a"], dim=2)
>>> for _ in range(100):
...     ridge.update(0, np.array([1.0, 1.0]), 2.0)
>>> round(float(ridge.predict(idx, np.array([1.0, 1.0]))[0]), 2)
1.99
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import StateFileError, UnknownModel, check_number, invalid
from .untrusted import float_array

#: precisions (inverse prior variances) a posterior accepts: beyond, its arithmetic overflows
PRECISION_RANGE = (1e-6, 1e6)

__all__ = ["PRECISION_RANGE", "RidgeArms"]


class RidgeArms:
    """One ridge regression per key (model id), stored as stacked arrays for vectorised scoring.

    Parameters
    ----------
    prior_intercept : float
        Prior mean of the intercept (the first context component); other weights start at 0.
    intercept_precision : float
        Prior precision of the intercept, in pseudo-observations.
    prior_precision : float
        Prior precision of the other weights (ridge penalty).
    """

    def __init__(
        self,
        prior_intercept: float = 0.0,
        intercept_precision: float = 1.0,
        prior_precision: float = 1.0,
    ) -> None:
        self.prior_intercept = check_number("prior_intercept", prior_intercept, -1e3, 1e3)
        self.intercept_precision = check_number(
            "intercept_precision", intercept_precision, *PRECISION_RANGE
        )
        self.prior_precision = check_number("prior_precision", prior_precision, *PRECISION_RANGE)
        self._idx_cache: dict[tuple[str, ...], np.ndarray] = {}
        #: per key, a declared prior intercept and its weight in observations (`declare`)
        self.declared: dict[str, tuple[float, float]] = {}
        self._empty()

    def _empty(self) -> None:
        """No keys, no dimension yet."""
        self.dim: int | None = None
        self.index: dict[str, int] = {}
        self.inv_gram = np.zeros((0, 0, 0))  # (K, d, d): B⁻¹, B = prior precision + Σ x xᵀ
        self.targets = np.zeros((0, 0))  # (K, d): prior precision · prior mean + Σ x y
        self.weights = np.zeros((0, 0))  # (K, d): B⁻¹ targets
        self.counts = np.zeros(0)  # (K,)
        self._idx_cache.clear()

    def _prior(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        precision = np.full(dim, self.prior_precision)
        precision[0] = self.intercept_precision
        mean = np.zeros(dim)
        mean[0] = self.prior_intercept
        return np.diag(1.0 / precision), precision * mean

    def ensure(self, keys: Sequence[str], dim: int) -> np.ndarray:
        """Row indices of these keys, creating prior rows for new keys."""
        if self.dim is None:
            self.dim = dim
            self.inv_gram = np.zeros((0, dim, dim))
            self.targets = np.zeros((0, dim))
            self.weights = np.zeros((0, dim))
        elif dim != self.dim:
            raise invalid("context.shape", (dim,), f"({self.dim},), as in earlier calls")
        cached = self._idx_cache.get(tuple(keys))
        if cached is not None:
            return cached
        new = [k for k in dict.fromkeys(keys) if k not in self.index]
        if new:
            self._idx_cache.clear()
            inv_gram, targets = self._prior(dim)
            n = len(new)
            self.inv_gram = np.concatenate([self.inv_gram, np.repeat(inv_gram[None], n, axis=0)])
            self.targets = np.concatenate([self.targets, np.repeat(targets[None], n, axis=0)])
            weights = (inv_gram @ targets)[None]
            self.weights = np.concatenate([self.weights, np.repeat(weights, n, axis=0)])
            self.counts = np.concatenate([self.counts, np.zeros(n)])
            for key in new:
                self.index[key] = len(self.index)
                self._add_declared(key)
        idx = np.fromiter((self.index[k] for k in keys), dtype=np.intp, count=len(keys))
        if len(self._idx_cache) > 256:
            self._idx_cache.clear()
        self._idx_cache[tuple(keys)] = idx
        return idx

    def predict(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Posterior-mean prediction θ_k·x for each row in ``idx``."""
        return (self.weights @ x)[idx]

    def spread(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """xᵀB⁻¹x for each row: the prediction's variance in units of the noise variance."""
        # All rows at once: indexing the (K, d, d) stack first would copy it.
        return np.maximum((self.inv_gram @ x) @ x, 0.0)[idx]

    def update(self, i: int, x: np.ndarray, y: float, discount: float = 1.0) -> None:
        """Add one observation to row ``i`` (``x`` and ``y`` must be finite).

        ``discount`` < 1 first multiplies what row ``i`` knew (its precision and targets) by it:
        old observations fade, so the row follows a model that changes (passive forgetting).
        """
        if not (np.isfinite(y) and np.isfinite(x).all()):
            raise invalid("observation", (y,), "finite")
        if discount != 1.0:
            self.soften(i, discount)
        g = self.inv_gram[i] @ x
        self.inv_gram[i] -= np.outer(g, g) / (1.0 + x @ g)
        self.targets[i] += x * y
        self.weights[i] = self.inv_gram[i] @ self.targets[i]
        self.counts[i] += 1

    def soften(self, i: int, factor: float) -> None:
        """Scale row ``i``'s precision and targets by ``factor`` in (0, 1]: same mean, wider."""
        self.inv_gram[i] /= factor
        self.targets[i] *= factor
        self.counts[i] *= factor

    def shift_prior_intercept(self, delta: float) -> None:
        """Move the intercept's prior mean by ``delta`` for every key, in O(K·d).

        The targets hold prior precision · prior mean, so the weights B⁻¹t move by
        delta · intercept_precision · B⁻¹[:, 0].
        """
        self.prior_intercept += delta
        if self.dim is None or not self.index:
            return
        step = delta * self.intercept_precision
        self.targets[:, 0] += step
        self.weights += step * self.inv_gram[:, :, 0]

    def reset(self, key: str) -> None:
        """Put one key back to the prior (with its declared part, if any)."""
        if key in self.index and self.dim is not None:
            i = self.index[key]
            inv_gram, targets = self._prior(self.dim)
            self.inv_gram[i], self.targets[i] = inv_gram, targets
            self.weights[i], self.counts[i] = inv_gram @ targets, 0
            self._add_declared(key)

    def declare(self, key: str, intercept: float, weight: float) -> None:
        """Declare what ``key``'s intercept is believed to be, worth ``weight`` observations.

        Added to the key's prior as ``weight`` pseudo-observations (no count) of ``intercept``
        with no dependence on the context: ``weight`` on the whole diagonal of the precision
        (pinning the intercept alone left the draw's spread, which comes mostly from the context
        weights, swamping the declared differences), when the key gets its row, and again after
        each `reset`. A
        row that exists already is left as it is (it holds the declaration it was made with, or
        was loaded from a saved state that does).

        >>> ridge = RidgeArms(prior_intercept=0.5, intercept_precision=1.0)
        >>> ridge.declare("a", 0.9, weight=9.0)
        >>> round(float(ridge.predict(ridge.ensure(["a"], dim=2), np.array([1.0, 0.0]))[0]), 2)
        0.86
        """
        check_number("intercept", intercept, -1e3, 1e3)
        check_number("weight", weight, 0.0, PRECISION_RANGE[1])
        self.declared[key] = (float(intercept), float(weight))

    def set_prior_mean(self, key: str, mean: np.ndarray, widen: float = 1.0) -> None:
        """Make a new row for ``key`` whose prior mean is ``mean``, its prior variances the usual
        ones times ``widen`` (> 1: explored more until its own data speaks)."""
        if self.dim is None or key in self.index or mean.shape != (self.dim,):
            raise invalid("prior mean", key, f"a new key and a ({self.dim},) vector")
        check_number("widen", widen, 1e-3, 1e3)
        i = int(self.ensure([key], self.dim)[0])
        inv_gram = self._prior(self.dim)[0] * widen
        self.inv_gram[i], self.targets[i] = inv_gram, mean / np.diagonal(inv_gram)
        self.weights[i] = mean
        self._add_declared(key)  # a declared intercept still counts on top

    def _add_declared(self, key: str) -> None:
        if key not in self.declared or key not in self.index or self.dim is None:
            return
        intercept, weight = self.declared[key]
        i = self.index[key]
        gram = np.linalg.inv(self.inv_gram[i])  # once per key: O(d³) is fine
        gram += weight * np.eye(self.dim)  # "about this quality on every prompt"
        inv = np.linalg.inv(gram)
        self.inv_gram[i] = (inv + inv.T) / 2
        self.targets[i][0] += weight * intercept
        self.weights[i] = self.inv_gram[i] @ self.targets[i]

    def sums(self, key: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Row ``key`` as sums: B (the inverse of the stored B⁻¹), the targets t, the count."""
        i = self.index[key]
        gram = np.linalg.inv(self.inv_gram[i])
        return (gram + gram.T) / 2, self.targets[i].copy(), float(self.counts[i])

    def set_sums(self, key: str, gram: np.ndarray, targets: np.ndarray, count: float) -> None:
        """Replace row ``key`` (made if new) by these sums; B⁻¹ and the weights are recomputed."""
        i = int(self.ensure([key], targets.size)[0])
        inv = np.linalg.inv(gram)
        self.inv_gram[i] = (inv + inv.T) / 2
        self.targets[i] = targets
        self.weights[i] = self.inv_gram[i] @ targets
        self.counts[i] = max(count, 0.0)

    def remove(self, key: str) -> None:
        """Drop one key."""
        if key not in self.index:
            raise UnknownModel(f"no model {key!r} has been learned")
        i = self.index.pop(key)
        self._idx_cache.clear()
        self.inv_gram = np.delete(self.inv_gram, i, axis=0)
        self.targets = np.delete(self.targets, i, axis=0)
        self.weights = np.delete(self.weights, i, axis=0)
        self.counts = np.delete(self.counts, i)
        self.index = {k: j - (j > i) for k, j in self.index.items()}

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """State as named arrays (copies), for saving."""
        return {
            f"{prefix}inv_gram": self.inv_gram.copy(),
            f"{prefix}targets": self.targets.copy(),
            f"{prefix}weights": self.weights.copy(),
            f"{prefix}counts": self.counts.copy(),
        }

    def load_arrays(self, keys: Sequence[str], arrays: dict[str, np.ndarray], prefix: str) -> None:
        """Restore what `arrays` returned, for these keys in order; `StateFileError` names the
        first array of the wrong shape, with infinite or NaN values, or negative counts."""
        keys = list(keys)
        if not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            raise StateFileError(f"saved {prefix}keys must be distinct, non-empty model ids")
        k = len(keys)
        inv_gram = float_array(f"{prefix}inv_gram", arrays)
        if k == 0:  # nothing learned yet: the dimension is set by the first context
            self._empty()
            return
        d = inv_gram.shape[1] if inv_gram.ndim == 3 else 0
        if inv_gram.shape != (k, d, d) or d < 1:
            raise StateFileError(
                f"saved array {prefix + 'inv_gram'!r} has shape {inv_gram.shape}, must be "
                f"({k}, d, d) for the {k} model(s) {keys}"
            )
        asymmetry = np.abs(inv_gram - inv_gram.transpose(0, 2, 1)).max()
        positive = np.all(np.diagonal(inv_gram, axis1=1, axis2=2) > 0)
        if not positive or asymmetry > 1e-6 * max(float(np.abs(inv_gram).max()), 1e-300):
            raise StateFileError(
                f"saved array {prefix + 'inv_gram'!r} is not symmetric positive definite"
            )
        targets = float_array(f"{prefix}targets", arrays, (k, d))
        weights = float_array(f"{prefix}weights", arrays, (k, d))
        counts = float_array(f"{prefix}counts", arrays, (k,), low=0.0)
        self.index = {key: i for i, key in enumerate(keys)}
        self._idx_cache.clear()
        self.dim = d
        self.inv_gram, self.targets, self.weights, self.counts = inv_gram, targets, weights, counts
