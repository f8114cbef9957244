"""What the caller allows (`Constraints`) and which models may serve a prompt, and why not.

>>> from banditroute.constraints import Constraints, ArmEstimate, split_feasible
>>> from banditroute.registry import ModelProfile
>>> cheap = ModelProfile(id="cheap", provider="a", input_usd_per_mtok=0.2, output_usd_per_mtok=0.2)
>>> dear = ModelProfile(id="dear", provider="b", input_usd_per_mtok=10, output_usd_per_mtok=30,
...                     capabilities=["code"])
>>> estimates = {"cheap": ArmEstimate(0.0001, 800, 0.5), "dear": ArmEstimate(0.01, 4000, 0.9)}
>>> ok, why_not = split_feasible([cheap, dear], Constraints(max_cost_usd=0.002), 100, estimates)
>>> [m.id for m in ok], why_not
(['cheap'], {'dear': 'estimated cost 0.01 USD > max_cost_usd 0.002'})
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from pydantic import Field, field_validator

from ._validation import StrictModel
from .errors import check_real
from .registry import ModelProfile
from .registry_history import day
from .text import redact_secrets

__all__ = [
    "MAX_OUTPUT_TOKENS",
    "ArmEstimate",
    "Constraints",
    "UnknownModelWarning",
    "split_feasible",
    "warn_unknown_models",
]

MAX_OUTPUT_TOKENS = 1_000_000_000  #: the largest ``expected_output_tokens`` accepted


class Constraints(StrictModel):
    """Hard limits for one request. Every field is optional; the default allows every active model.

    Parameters
    ----------
    max_cost_usd : float, optional
        Estimated cost of the call (prompt tokens and expected output tokens at list price).
    max_latency_ms : float, optional
        Estimated latency, learned per model from feedback.
    min_quality : float in [0, 1], optional
        The model's expected quality for this prompt, from its posterior.
    capabilities : set of str
        Every one must be offered by the model (``{"code", "json"}``).
    allow_models, deny_models, allow_providers, deny_providers : set of str, optional
        Allow lists restrict to their members; deny lists exclude theirs.
    include_deprecated : bool
        Deprecated models are excluded unless this is true.
    force_model : str, optional
        Use exactly this model (it must still satisfy the other constraints).
    expected_output_tokens : int, optional
        Overrides the engine's learned estimate of the answer length for cost estimates.

    Numbers must be numbers (``"0.1"`` and ``True`` are refused, see `StrictModel`). Model ids
    unknown to the engine's registry in ``deny_models`` or ``allow_models`` are reported with a
    `UnknownModelWarning` (a shared list may name models of other registries; a typo shows);
    an unknown ``force_model`` is an error (`UnknownModel`).
    """

    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    min_quality: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    capabilities: frozenset[str] = frozenset()
    allow_models: frozenset[str] | None = None
    deny_models: frozenset[str] = frozenset()
    allow_providers: frozenset[str] | None = None
    deny_providers: frozenset[str] = frozenset()
    include_deprecated: bool = False
    force_model: str | None = None
    expected_output_tokens: int | None = Field(default=None, ge=0, le=MAX_OUTPUT_TOKENS)

    @property
    def restricts_models(self) -> bool:
        """Whether a model list, a provider list or required capabilities may exclude a model."""
        return bool(
            self.force_model is not None
            or self.deny_models
            or self.allow_models is not None
            or self.deny_providers
            or self.allow_providers is not None
            or self.capabilities
        )

    @property
    def limits_estimates(self) -> bool:
        """Whether a model's estimates for the prompt (cost, latency, quality) can exclude it."""
        return not (
            self.max_cost_usd is None and self.max_latency_ms is None and self.min_quality is None
        )

    @field_validator(
        "capabilities",
        "allow_models",
        "deny_models",
        "allow_providers",
        "deny_providers",
        mode="before",
    )
    @classmethod
    def _reject_bare_string(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a set of names, not one string")
        return value


class UnknownModelWarning(UserWarning):
    """Constraints name model ids that the registry does not hold."""


def warn_unknown_models(constraints: Constraints, known: Collection[str]) -> None:
    """Warn (`UnknownModelWarning`) when ``deny_models`` or ``allow_models`` name ids that are
    not in ``known``; repeated warnings from one place are shown once (`warnings` filters).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unknown_models(Constraints(deny_models={"gpt-5", "a"}), ["a", "b"])
    >>> str(caught[0].message)
    "deny_models names model ids not in the registry: ['gpt-5'] (known: a, b)"
    """
    lists = (("deny_models", constraints.deny_models), ("allow_models", constraints.allow_models))
    for name, ids in lists:
        unknown = sorted(i for i in ids or () if i not in known)
        if unknown:
            message = (
                f"{name} names model ids not in the registry: {unknown[:10]}"
                f"{' ...' if len(unknown) > 10 else ''} (known: {', '.join(known)})"
            )
            warnings.warn(redact_secrets(message), UnknownModelWarning, stacklevel=4)


class ArmEstimate(NamedTuple):
    """Estimates for one model on one prompt, made before the call."""

    cost_usd: float
    latency_ms: float
    quality: float


def _listed_reason(model: ModelProfile, c: Constraints) -> str | None:
    """Why the constraints' lists (models, providers, capabilities) exclude this model."""
    if c.force_model is not None and model.id != c.force_model:
        return f"force_model is {c.force_model!r}"
    if model.id in c.deny_models:
        return "in deny_models"
    if c.allow_models is not None and model.id not in c.allow_models:
        return "not in allow_models"
    if model.provider in c.deny_providers:
        return f"provider {model.provider!r} in deny_providers"
    if c.allow_providers is not None and model.provider not in c.allow_providers:
        return f"provider {model.provider!r} not in allow_providers"
    if missing := c.capabilities - model.capabilities:
        return f"lacks capabilities {sorted(missing)}"
    return None


def _lifecycle_reason(
    model: ModelProfile, c: Constraints, prompt_tokens: int, now: float
) -> str | None:
    """Why this model may not serve now: deprecated, or the prompt exceeds its context window."""
    flagged = model.deprecated or model.deprecated_on is not None  # else never deprecated
    if flagged and not c.include_deprecated and model.is_deprecated(now):
        replacement = f" (replacement: {model.replacement})" if model.replacement else ""
        if model.deprecated or model.deprecated_on is None:
            return f"deprecated{replacement}"
        return f"deprecated since {day(model.deprecated_on)}{replacement}"
    if prompt_tokens > model.context_window:
        return f"prompt of ~{prompt_tokens} tokens exceeds context window {model.context_window}"
    return None


def _estimate_reason(estimate: ArmEstimate, c: Constraints) -> str | None:
    """Why this model may not serve, from its estimates (None when it may)."""
    if c.max_cost_usd is not None and estimate.cost_usd > c.max_cost_usd:
        return f"estimated cost {estimate.cost_usd:.3g} USD > max_cost_usd {c.max_cost_usd:.3g}"
    if c.max_latency_ms is not None and estimate.latency_ms > c.max_latency_ms:
        return (
            f"estimated latency {estimate.latency_ms:.0f} ms > "
            f"max_latency_ms {c.max_latency_ms:.0f}"
        )
    if c.min_quality is not None and estimate.quality < c.min_quality:
        return f"expected quality {estimate.quality:.3f} < min_quality {c.min_quality:.3f}"
    return None


def split_feasible(
    models: Sequence[ModelProfile],
    constraints: Constraints,
    prompt_tokens: int,
    estimates: Mapping[str, ArmEstimate],
    now: float | None = None,
) -> tuple[list[ModelProfile], dict[str, str]]:
    """Split models into those that may serve this prompt and a map of the others to why not.

    A model deprecated on a date (`ModelProfile.deprecated_on`) is excluded from that date on:
    when it is not after ``now`` (epoch seconds; default the current time). ``estimates`` are
    read only when the constraints limit cost, latency or quality (`Constraints.limits_estimates`).
    """
    now = time.time() if now is None else check_real("now", now)
    feasible: list[ModelProfile] = []
    reasons: dict[str, str] = {}
    listed = constraints.restricts_models  # without lists, only the lifecycle is checked
    limits = constraints.limits_estimates  # without limits, ``estimates`` are not read
    for model in models:
        reason = _listed_reason(model, constraints) if listed else None
        if reason is None:
            reason = _lifecycle_reason(model, constraints, prompt_tokens, now)
        if reason is None and limits:
            reason = _estimate_reason(estimates[model.id], constraints)
        if reason is None:
            feasible.append(model)
        else:
            reasons[model.id] = reason
    return feasible, reasons
