"""The exception tree: every error banditroute raises on purpose derives from `BanditRouteError`.

>>> from banditroute.errors import InvalidInput, BanditRouteError
>>> issubclass(InvalidInput, ValueError) and issubclass(InvalidInput, BanditRouteError)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "BanditRouteError",
    "InvalidInput",
    "JudgeError",
    "NoFeasibleModel",
    "RegistryError",
    "StateFileError",
    "UnknownDecision",
    "UnknownModel",
    "check_number",
    "invalid",
]


class BanditRouteError(Exception):
    """Base class of every error banditroute raises deliberately."""


class InvalidInput(BanditRouteError, ValueError):
    """A parameter has a value that is not allowed; the message names both."""


class RegistryError(InvalidInput):
    """A model registry (file or run-time edit) is malformed."""


class UnknownModel(BanditRouteError, KeyError):
    """A model id that the registry does not hold."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else "unknown model"


class UnknownDecision(BanditRouteError, KeyError):
    """Feedback names a decision this engine never made, or one already answered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown decision"


class StateFileError(BanditRouteError):
    """A saved engine state is missing, corrupt, of another format or of an unsupported version."""


class JudgeError(BanditRouteError):
    """An LLM judge could not be reached or its answer could not be read (after retries)."""


class NoFeasibleModel(BanditRouteError):
    """No model satisfies the constraints; `reasons` maps every model id to why it was excluded."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        lines = [f"  {model}: {why}" for model, why in sorted(self.reasons.items())]
        super().__init__("no model satisfies the constraints:\n" + "\n".join(lines))


def check_number(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    above: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number in [low, high] (or (low, high] when
    ``above``), else `InvalidInput` naming it.

    >>> check_number("alpha", 2, 0)
    2.0
    >>> check_number("epsilon", 2, 0, 1)
    Traceback (most recent call last):
    ...
    banditroute.errors.InvalidInput: epsilon == 2, must be a finite number in [0, 1]
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        ok = type(value).__module__ == "numpy" and hasattr(value, "__float__")
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    inside = (number > low if above else number >= low) and number <= high
    if not (math.isfinite(number) and inside):
        left = "(" if above else "["
        bounds = (
            f"in {left}{low:g}, {high:g}]"
            if math.isfinite(high)
            else f"{'>' if above else '>='} {low:g}"
            if math.isfinite(low)
            else ""
        )
        raise invalid(name, value, f"a finite number {bounds}".rstrip())
    return number


def invalid(name: str, value: object, allowed: str) -> InvalidInput:
    """Build the standard message: ``name == value, must be allowed``.

    >>> str(invalid("max_cost_usd", -1.0, ">= 0"))
    'max_cost_usd == -1.0, must be >= 0'
    """
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidInput(f"{name} == {shown}, must be {allowed}")
