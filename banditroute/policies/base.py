"""The base policy: a Bayesian linear-regression posterior of quality per model, and validation.

Every policy learns the same thing: for each model, quality ≈ θ·x with a Gaussian posterior over θ
(`RidgeArms`: O(d²) per update, no inverse or factorisation per decision).
Policies differ only in how they turn the posterior mean and spread of θ·x into
utilities; the engine subtracts the known cost / latency penalty and takes the argmax.

Public methods validate once and call the private ``_utilities``.
"""

from __future__ import annotations

import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import StateFileError, check_number, check_seed, invalid
from ..linear import RidgeArms
from ..params import Configurable
from .common_part import COMMON_KEY, CommonPart
from .policy_state import PolicyState, checked_state

if TYPE_CHECKING:
    from .tracking import UpdateTracker

__all__ = ["Policy", "PolicyState"]


def _check_context(context: object) -> np.ndarray:
    x = np.asarray(context, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise invalid("context.shape", x.shape, "a non-empty 1-d vector")
    if not np.isfinite(x).all():
        raise invalid("context", "non-finite values", "finite")
    return x


class Policy(Configurable, ABC):
    """Base class: per-model Gaussian posterior of quality given the context.

    The posterior of θ is N(B⁻¹t, σ²B⁻¹) with B = prior precision + Σxxᵀ (the ridge of
    `RidgeArms`); σ², the model's noise variance, is estimated from its own residuals.

    Parameters
    ----------
    prior_quality : float
        Prior mean of a model's quality before any feedback.
    prior_precision : float
        Prior precision of the context weights, in pseudo-observations (ridge penalty).
    intercept_precision : float
        Prior precision of each model's intercept (its context-free quality), likewise.
    noise_variance : float
        Prior guess of the variance of observed quality around θ·x.
    noise_prior_weight : float
        How many observations that guess is worth against the measured residuals.
    pooled_prior : bool
        When true, the prior mean of every model's intercept follows the mean quality observed
        over all models (shrunk to ``prior_quality`` with the weight of one observation), so a
        model with little data starts from what models typically score (empirical Bayes).
    discount : float in [0.5, 1]
        Passive forgetting: before each update of a model, what it had learned is weighted by
        this factor (1 = remember everything; 0.99 ≈ the last 100 observations).
    declared_weight : float
        How many observations a model's declared prior quality is worth (`declare_prior`);
        30 was chosen on ``mmlupro_train.csv`` (3, 10, 30, 100 tried; 100 was marginally better
        there, 30 is kept for declarations that are wrong).
    common_part : bool
        When true, every outcome also teaches a part common to all models (`CommonPart`) and
        each model learns only its deviation from it (same prior precisions, mean 0).
    onboarding_widen : float
        Prior variances of a model added while running, relative to the uniform prior's
        (`borrow_prior`).
    seed : int, optional
        Seed of the policy's own random generator.
    """

    name: ClassVar[str] = "base"
    #: replicas may merge this policy's running sums (`banditroute.shared`)
    shares_sums: ClassVar[bool] = True

    def __init__(
        self,
        *,
        prior_quality: float = 0.5,
        prior_precision: float = 1.0,
        intercept_precision: float = 1.0,
        noise_variance: float = 0.25,
        noise_prior_weight: float = 5.0,
        pooled_prior: bool = False,
        discount: float = 1.0,
        declared_weight: float = 30.0,
        common_part: bool = False,
        onboarding_widen: float = 4.0,
        seed: int | None = None,
    ) -> None:
        self.onboarding_widen = check_number("onboarding_widen", onboarding_widen, 1e-3, 1e3)
        check_number("prior_quality", prior_quality, -1e3, 1e3)
        self.common_part = bool(common_part)
        self._common: CommonPart | None = None
        if self.common_part:
            self._common = CommonPart(prior_quality, intercept_precision, prior_precision)
            self._ridge = RidgeArms(0.0, intercept_precision, prior_precision)
        else:
            self._ridge = RidgeArms(prior_quality, intercept_precision, prior_precision)
        self.declared_weight = check_number("declared_weight", declared_weight, 0, 1e6)
        if not isinstance(pooled_prior, bool | np.bool_):
            raise invalid("pooled_prior", pooled_prior, "True or False")
        self.prior_quality = float(prior_quality)
        self.prior_precision = float(prior_precision)
        self.intercept_precision = float(intercept_precision)
        self.noise_variance = check_number("noise_variance", noise_variance, 1e-6, 1e6)
        self.noise_prior_weight = check_number("noise_prior_weight", noise_prior_weight, 1e-6, 1e6)
        self.pooled_prior = bool(pooled_prior)
        self.discount = check_number("discount", discount, 0.5, 1)  # below: forgets in 1 step
        self.seed = check_seed(seed)
        self._quality_sum = 0.0  # over all models, for the pooled prior
        self._quality_count = 0
        self._rng = np.random.default_rng(seed)
        self._sse = np.zeros(0)  # per arm: sum of squared one-step-ahead residuals
        self.tracker: UpdateTracker | None = None  #: records updates for replicas (`tracking`)

    def reseed(self, seed: int | None) -> None:
        """Restart the policy's own random generator from ``seed`` (the engine's seed)."""
        self.seed = check_seed(seed)
        self._rng = np.random.default_rng(self.seed)

    def branch_rng(self, name: str) -> None:
        """Give this copy of the policy its own random stream, derived from its seed and ``name``.

        Replicas that start from one saved state would otherwise draw the same numbers and
        explore in step; each branches on its replica id. Seeded runs still repeat: the stream
        depends only on the seed and the name (fresh entropy when the policy has no seed).
        """
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
        root = self.seed if self.seed is not None else secrets.randbits(64)
        self._rng = np.random.default_rng([root, key])

    # -- arms -------------------------------------------------------------------------------
    @property
    def arms(self) -> list[str]:
        """Models this policy has a posterior for."""
        return list(self._ridge.index)

    def _ensure(self, arms: Sequence[str], dim: int) -> np.ndarray:
        idx = self._ridge.ensure(arms, dim)
        if self._sse.size < len(self._ridge.index):
            self._sse = np.concatenate(
                [self._sse, np.zeros(len(self._ridge.index) - self._sse.size)]
            )
        return idx

    @staticmethod
    def _check_arms(arms: Sequence[str]) -> list[str]:
        arms = list(arms)
        if not arms or not all(isinstance(a, str) and a for a in arms):
            raise invalid("arms", arms, "a non-empty list of model ids")
        return arms

    def reset_arm(self, arm: str) -> None:
        """Forget everything learned about one model (back to the prior)."""
        if arm in self._ridge.index:
            self._ridge.reset(arm)
            self._sse[self._ridge.index[arm]] = 0.0
            if self.tracker is not None:
                self.tracker.restarted(self, arm)

    def declare_prior(self, arm: str, quality: float) -> None:
        """Start ``arm`` from ``quality`` (worth ``declared_weight`` observations), not the
        uniform prior, when it is first learned and after each reset. A registry's
        ``prior_quality`` arrives here."""
        quality = check_number("quality", quality, -1e3, 1e3)
        if self._common is not None:  # a deviation from the common part's prior
            quality -= self.prior_quality
        self._ridge.declare(arm, quality, self.declared_weight)

    def borrow_prior(self, arm: str, donors: Sequence[str]) -> None:
        """Start a new ``arm`` from the mean of what ``donors`` (similar models) learned.

        Its prior variances are ``onboarding_widen`` times the uniform prior's: a newcomer is
        explored more until its own feedback, which soon outweighs the borrowed mean, speaks
        (directed exploration without a fixed burn-in). Known arms and unknown donors are left
        alone.
        """
        known = [a for a in donors if a in self._ridge.index]
        if arm in self._ridge.index or not known or self._ridge.dim is None:
            return
        mean = self._ridge.weights[[self._ridge.index[a] for a in known]].mean(axis=0)
        self._ridge.set_prior_mean(arm, mean, self.onboarding_widen)

    def soften_arm(self, arm: str, factor: float) -> None:
        """Keep a model's posterior mean but shrink its precision by ``factor`` (re-explore)."""
        if not 0 < factor <= 1:
            raise invalid("factor", factor, "in (0, 1]")
        if arm in self._ridge.index:
            i = self._ridge.index[arm]
            self._ridge.soften(i, factor)
            self._sse[i] *= factor
            if self.tracker is not None:
                self.tracker.restarted(self, arm)

    def remove_arm(self, arm: str) -> None:
        """Drop a model's posterior entirely."""
        i = self._ridge.index.get(arm)
        self._ridge.remove(arm)  # raises UnknownModel when absent
        self._sse = np.delete(self._sse, int(i or 0))
        if self.tracker is not None:
            self.tracker.removed(arm)

    def noise_variances(self, idx: np.ndarray) -> np.ndarray:
        """Current estimate of each arm's noise variance."""
        w0 = self.noise_prior_weight
        return (self.noise_variance * w0 + self._sse[idx]) / (w0 + self._ridge.counts[idx])

    # -- decisions ------------------------------------------------------------------------------
    def posterior(self, context: np.ndarray, arms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of each model's quality for this context."""
        x = _check_context(context)
        idx = self._ensure(self._check_arms(arms), x.size)
        mean, spread = self._ridge.predict(idx, x), self._ridge.spread(idx, x)
        if self._common is not None:
            mean, spread = mean + self._common.predict(x), spread + self._common.spread(x)
        return mean, np.sqrt(self.noise_variances(idx) * spread)

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
        return self.utilities_from_posterior(mean, sd, penalty, n_samples, arms)

    def utilities_from_posterior(
        self,
        mean: np.ndarray,
        sd: np.ndarray,
        penalty: np.ndarray,
        n_samples: int,
        arms: list[str],
    ) -> np.ndarray:
        """As `sample_utilities`, from a `posterior` the caller already computed (no checks)."""
        return self._utilities(mean, sd, penalty, n_samples, arms)

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        """Probability that this policy picks ``arms[chosen]`` given this posterior.

        The default estimates it from 256 fresh draws (for policies added by users); the
        built-in policies override it with an exact computation.
        """
        draws = self._utilities(mean, sd, penalty, 256, arms)
        return float(np.count_nonzero(draws.argmax(axis=1) == chosen) / len(draws))

    def deferred_propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float | Callable[[], float]:
        """`propensity`, or a function of no arguments that computes it later (only when that
        needs no random draws and no state that later learning changes). The default computes
        it now."""
        return self.propensity(mean, sd, penalty, chosen, arms)

    @abstractmethod
    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray: ...

    # -- learning ----------------------------------------------------------------------------
    def update(self, arm: str, context: np.ndarray, quality: float) -> Policy:
        """Learn from one observed quality of ``arm`` on ``context``; returns the policy."""
        x = _check_context(context)
        check_number("quality", quality)
        i = int(self._ensure(self._check_arms([arm]), x.size)[0])
        own = float(self._ridge.weights[i] @ x)
        common = 0.0 if self._common is None else self._common.predict(x)
        residual = float(quality) - own - common
        self._sse[i] += residual * residual
        self._ridge.update(i, x, float(quality) - common, self.discount)
        if self.discount != 1.0:
            self._sse[i] *= self.discount
        tracker = self.tracker
        if tracker is not None:
            tracker.observed(arm, x, float(quality) - common, residual**2, self.discount)
            tracker.counted(float(quality))
        if self._common is not None:  # backfitting: each part learns what the other left
            learned = self._common.update(x, float(quality) - own, self.discount)
            if tracker is not None:
                tracker.observed(COMMON_KEY, x, learned, 0.0, self.discount)
        self._quality_sum += float(quality)
        self._quality_count += 1
        if self.pooled_prior and self._common is None:  # (the common part is the pool)
            pooled = (self.prior_quality + self._quality_sum) / (1 + self._quality_count)
            self._ridge.shift_prior_intercept(pooled - self._ridge.prior_intercept)
        return self

    @property
    def context_dim(self) -> int | None:
        """Length of the context vectors learned from (None before the first)."""
        return self._ridge.dim

    def counts(self) -> dict[str, int]:
        """Number of updates per model since its last reset."""
        return {a: int(self._ridge.counts[i]) for a, i in self._ridge.index.items()}

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> PolicyState:
        """What was learned, as arrays (copies)."""
        arrays = self._ridge.arrays("quality_")
        if self._common is not None:
            arrays.update(self._common.arrays("common_"))
        arrays["quality_sse"] = self._sse.copy()
        arrays["quality_pooled"] = np.array(
            [self._quality_sum, self._quality_count, self._ridge.prior_intercept]
        )
        return PolicyState(self.arms, arrays, dict(self._rng.bit_generator.state))

    def set_state(self, state: PolicyState) -> None:
        """Restore what `get_state` returned; `StateFileError` names the first field of the wrong
        type or shape, with infinite or NaN values, or out of range."""
        checked = checked_state(state)
        self._ridge.load_arrays(checked.arms, state.arrays, "quality_")
        if self._common is not None:
            self._common.load_arrays(state.arrays, "common_")
        self._sse = checked.sse
        self._quality_sum, self._quality_count = float(checked.pooled[0]), int(checked.pooled[1])
        self._ridge.prior_intercept = float(checked.pooled[2])
        try:
            self._rng.bit_generator.state = checked.rng_state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise StateFileError(f"saved rng_state is invalid: {exc}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
