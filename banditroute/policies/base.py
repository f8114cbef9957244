"""The base policy: a Bayesian linear-regression posterior of quality per model, and validation.

Every policy learns the same thing: for each model, quality ≈ θ·x with a Gaussian posterior over θ,
kept as a covariance updated by Sherman–Morrison (O(d²) per update, no inverse or factorisation
per decision). Policies differ only in how they turn the posterior mean and spread of θ·x into
utilities; the engine subtracts the known cost / latency penalty and takes the argmax.

Public methods validate once and call the private ``_utilities``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import StateFileError, UnknownModel, invalid

__all__ = ["Policy", "PolicyState"]


@dataclass
class PolicyState:
    """Everything a policy learned, as plain arrays and JSON-able values (no pickle)."""

    arms: list[str]
    cov: np.ndarray  # (K, d, d)
    weighted_targets: np.ndarray  # (K, d): prior precision @ prior mean + Σ x y / σ²
    counts: np.ndarray  # (K,)
    rng_state: dict[str, Any]


def _check_context(context: object) -> np.ndarray:
    x = np.asarray(context, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise invalid("context.shape", x.shape, "a non-empty 1-d vector")
    if not np.all(np.isfinite(x)):
        raise invalid("context", "non-finite values", "finite")
    return x


class Policy(ABC):
    """Base class: per-model Gaussian posterior of quality given the context.

    Parameters
    ----------
    prior_quality : float
        Prior mean of a model's quality before any feedback.
    prior_precision : float
        Prior precision of the context weights (larger: trust the context less at first).
    intercept_precision : float
        Prior precision of each model's intercept (its context-free average quality).
    noise_variance : float
        Variance of observed quality around θ·x.
    seed : int, optional
        Seed of the policy's own random generator.
    """

    name: ClassVar[str] = "base"

    def __init__(
        self,
        *,
        prior_quality: float = 0.5,
        prior_precision: float = 10.0,
        intercept_precision: float = 16.0,
        noise_variance: float = 0.25,
        seed: int | None = None,
    ) -> None:
        for pname, value in (
            ("prior_precision", prior_precision),
            ("intercept_precision", intercept_precision),
            ("noise_variance", noise_variance),
        ):
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise invalid(pname, value, "a finite number > 0")
        if not (isinstance(prior_quality, int | float) and np.isfinite(prior_quality)):
            raise invalid("prior_quality", prior_quality, "a finite number")
        self.prior_quality = float(prior_quality)
        self.prior_precision = float(prior_precision)
        self.intercept_precision = float(intercept_precision)
        self.noise_variance = float(noise_variance)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._dim: int | None = None
        self._index: dict[str, int] = {}
        self._cov = np.zeros((0, 0, 0))
        self._targets = np.zeros((0, 0))
        self._mean = np.zeros((0, 0))
        self._counts = np.zeros(0)

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this policy (sklearn style)."""
        params = {}
        for cls in type(self).__mro__:
            if not (isinstance(cls, type) and issubclass(cls, Policy)):
                continue
            for pname, p in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
                named = p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                if named and pname != "self" and pname not in params:
                    params[pname] = getattr(self, pname)
        return params

    def clone(self) -> Policy:
        """A fresh, untrained policy with the same parameters (and seed)."""
        return type(self)(**self.get_params())

    # -- arms -------------------------------------------------------------------------------
    @property
    def arms(self) -> list[str]:
        """Models this policy has a posterior for."""
        return list(self._index)

    def _prior(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        precision = np.full(dim, self.prior_precision)
        precision[0] = self.intercept_precision
        mean = np.zeros(dim)
        mean[0] = self.prior_quality
        return np.diag(1.0 / precision), precision * mean

    def _ensure(self, arms: Sequence[str], dim: int) -> np.ndarray:
        if self._dim is None:
            self._dim = dim
            self._cov = np.zeros((0, dim, dim))
            self._targets = np.zeros((0, dim))
            self._mean = np.zeros((0, dim))
        elif dim != self._dim:
            raise invalid("context.shape", (dim,), f"({self._dim},), as in earlier calls")
        new = [a for a in dict.fromkeys(arms) if a not in self._index]
        if new:
            cov, targets = self._prior(dim)
            k = len(new)
            self._cov = np.concatenate([self._cov, np.repeat(cov[None], k, axis=0)])
            self._targets = np.concatenate([self._targets, np.repeat(targets[None], k, axis=0)])
            self._mean = np.concatenate([self._mean, np.repeat((cov @ targets)[None], k, axis=0)])
            self._counts = np.concatenate([self._counts, np.zeros(k)])
            for a in new:
                self._index[a] = len(self._index)
        return np.fromiter((self._index[a] for a in arms), dtype=np.intp, count=len(arms))

    @staticmethod
    def _check_arms(arms: Sequence[str]) -> list[str]:
        arms = list(arms)
        if not arms or not all(isinstance(a, str) and a for a in arms):
            raise invalid("arms", arms, "a non-empty list of model ids")
        return arms

    def reset_arm(self, arm: str) -> None:
        """Forget everything learned about one model (back to the prior)."""
        if arm not in self._index or self._dim is None:
            return
        i = self._index[arm]
        cov, targets = self._prior(self._dim)
        self._cov[i], self._targets[i], self._mean[i], self._counts[i] = cov, targets, cov @ targets, 0

    def remove_arm(self, arm: str) -> None:
        """Drop a model's posterior entirely."""
        if arm not in self._index:
            raise UnknownModel(f"policy has no model {arm!r}")
        i = self._index.pop(arm)
        self._cov = np.delete(self._cov, i, axis=0)
        self._targets = np.delete(self._targets, i, axis=0)
        self._mean = np.delete(self._mean, i, axis=0)
        self._counts = np.delete(self._counts, i)
        self._index = {a: j - (j > i) for a, j in self._index.items()}

    # -- decisions ------------------------------------------------------------------------------
    def posterior(self, context: np.ndarray, arms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of each model's quality for this context."""
        x = _check_context(context)
        idx = self._ensure(self._check_arms(arms), x.size)
        mean = self._mean[idx] @ x
        spread = np.einsum("kij,j->ki", self._cov[idx], x) @ x
        return mean, np.sqrt(np.maximum(spread, 0.0))

    def sample_utilities(
        self,
        context: np.ndarray,
        arms: Sequence[str],
        penalty: np.ndarray | None = None,
        n_samples: int = 1,
    ) -> np.ndarray:
        """Utilities of shape ``(n_samples, len(arms))``; each row's argmax is one possible choice.

        ``penalty`` (same length as ``arms``) is what the caller subtracts for known cost and
        latency. Row 0 is the decision; the other rows estimate its propensity.
        """
        arms = self._check_arms(arms)
        if penalty is None:
            penalty = np.zeros(len(arms))
        penalty = np.asarray(penalty, dtype=np.float64)
        if penalty.shape != (len(arms),) or not np.all(np.isfinite(penalty)):
            raise invalid("penalty", penalty, f"{len(arms)} finite numbers")
        if not isinstance(n_samples, int) or n_samples < 1:
            raise invalid("n_samples", n_samples, "an int >= 1")
        mean, sd = self.posterior(context, arms)
        return self._utilities(mean, sd, penalty, n_samples, arms)

    @abstractmethod
    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray: ...

    # -- learning ----------------------------------------------------------------------------
    def update(self, arm: str, context: np.ndarray, quality: float) -> None:
        """Learn from one observed quality of ``arm`` on ``context``."""
        x = _check_context(context)
        if not isinstance(quality, int | float | np.floating) or not np.isfinite(quality):
            raise invalid("quality", quality, "a finite number")
        i = int(self._ensure(self._check_arms([arm]), x.size)[0])
        u = x / np.sqrt(self.noise_variance)
        cov_u = self._cov[i] @ u
        self._cov[i] -= np.outer(cov_u, cov_u) / (1.0 + u @ cov_u)
        self._targets[i] += x * (float(quality) / self.noise_variance)
        self._mean[i] = self._cov[i] @ self._targets[i]
        self._counts[i] += 1

    def counts(self) -> dict[str, int]:
        """Number of updates per model since its last reset."""
        return {a: int(self._counts[i]) for a, i in self._index.items()}

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> PolicyState:
        """What was learned, as arrays (copies)."""
        return PolicyState(
            arms=self.arms,
            cov=self._cov.copy(),
            weighted_targets=self._targets.copy(),
            counts=self._counts.copy(),
            rng_state=self._rng.bit_generator.state,
        )

    def set_state(self, state: PolicyState) -> None:
        """Restore what `get_state` returned (shapes are checked)."""
        k = len(state.arms)
        if k and (
            state.cov.ndim != 3
            or state.cov.shape[0] != k
            or state.cov.shape[1] != state.cov.shape[2]
            or state.weighted_targets.shape != state.cov.shape[:2]
            or state.counts.shape != (k,)
        ):
            raise StateFileError("policy state arrays have inconsistent shapes")
        try:
            self._rng.bit_generator.state = state.rng_state
        except (TypeError, ValueError, KeyError) as exc:
            raise StateFileError(f"policy random-generator state is invalid: {exc}") from None
        self._index = {a: i for i, a in enumerate(state.arms)}
        self._dim = int(state.cov.shape[1]) if k else None
        self._cov = np.array(state.cov, dtype=np.float64)
        self._targets = np.array(state.weighted_targets, dtype=np.float64)
        self._mean = np.einsum("kij,kj->ki", self._cov, self._targets) if k else self._targets.copy()
        self._counts = np.array(state.counts, dtype=np.float64)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
