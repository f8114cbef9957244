"""The exception tree: every error banditroute raises on purpose derives from `BanditRouteError`.

>>> from banditroute.errors import InvalidInput, BanditRouteError
>>> issubclass(InvalidInput, ValueError) and issubclass(InvalidInput, BanditRouteError)
True
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

__all__ = [
    "BanditRouteError",
    "InvalidInput",
    "JudgeError",
    "NoFeasibleModel",
    "RegistryError",
    "StateFileError",
    "StoreError",
    "UnknownDecision",
    "UnknownModel",
    "check_callable",
    "check_number",
    "check_path",
    "check_real",
    "check_seed",
    "invalid",
    "shown",
]

_T = TypeVar("_T")


class BanditRouteError(Exception):
    """Base class of every error banditroute raises deliberately; secrets in its message are
    redacted (`banditroute.text.scrub`)."""

    def __init__(self, *args: object) -> None:
        from .text import scrub  # lazy: text imports this module

        super().__init__(*(scrub(a) if isinstance(a, str) else a for a in args))


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
    """A saved engine state is missing, corrupt, invalid (the message names the field), of
    another format or of an unsupported version, or could not be written."""


class StoreError(BanditRouteError, OSError):
    """The decision log cannot be read or written (folder missing, read-only, disk full, ...).

    Rows that could not be written stay queued in memory (up to the store's bound) and are
    written by a later flush once the folder is writable again.
    """


class JudgeError(BanditRouteError):
    """An LLM judge could not be reached or its answer could not be read (after retries)."""


class NoFeasibleModel(BanditRouteError):
    """No model satisfies the constraints; `reasons` maps every model id to why it was excluded."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        lines = [f"  {model}: {why}" for model, why in sorted(self.reasons.items())]
        super().__init__("no model satisfies the constraints:\n" + "\n".join(lines))


def check_callable(name: str, value: _T, allowed: str = "a callable") -> _T:
    """``value`` if it can be called, else `InvalidInput` naming it.

    >>> check_callable("clock", 5)
    Traceback (most recent call last):
    ...
    banditroute.errors.InvalidInput: clock == 5, must be a callable
    """
    if not callable(value):
        raise invalid(name, value, allowed)
    return value


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
    number = math.nan  # not a real number (a str, a bool, an array, ...) or beyond a float
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real and type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        real = getattr(getattr(value, "dtype", None), "kind", "") in "iuf"  # a 0-d array
    if real:
        with contextlib.suppress(OverflowError, TypeError, ValueError):
            number = float(value)  # type: ignore[arg-type]
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


def check_real(name: str, value: object) -> float:
    """``value`` as a float if it is a real number (not a bool, not a str) that a float can hold;
    NaN and infinities pass (arithmetic helpers propagate them), else `InvalidInput`.

    >>> check_real("output_tokens", 12)
    12.0
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if real:
        with contextlib.suppress(OverflowError, TypeError, ValueError):
            return float(value)  # type: ignore[arg-type]
    raise invalid(name, value, "a real number")


def check_seed(seed: object, name: str = "seed") -> int | None:
    """``seed`` if it is None or an int >= 0 (what numpy's generators accept), else `InvalidInput`.

    >>> check_seed(7), check_seed(None)
    (7, None)
    """
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and int(seed) >= 0:
        return int(seed)
    raise invalid(name, seed, "None or an int >= 0")


def check_path(name: str, value: object, allowed: str = "a path (str or os.PathLike)") -> Path:
    """``value`` as a `Path` if it is a non-empty str or os.PathLike naming a path this system
    can encode (no NUL, no lone surrogate), else `InvalidInput` naming it.

    >>> check_path("path", "models/engine").name
    'engine'
    >>> check_path("path", "a\\x00b")
    Traceback (most recent call last):
    ...
    banditroute.errors.InvalidInput: path == 'a\\x00b', must be a path (str or os.PathLike)
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else value  # may raise: caller's
    if isinstance(text, str) and text and "\x00" not in text:
        try:
            os.fsencode(text)
        except UnicodeError:
            pass
        else:
            return value if isinstance(value, Path) else Path(text)
    raise invalid(name, value, allowed)


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for an error message: secrets redacted, cut to ``limit`` characters, and
    never an exception (a hostile ``__repr__``, a structure nested too deep).

    >>> shown("x" * 100, 10)
    "'xxxxxx..."
    """
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not replace the error being raised
        text = f"<{type(value).__name__}>"
    from .text import redact_secrets  # lazy: text imports this module

    text = redact_secrets(text[:4000])  # before cutting: no secret is shown in part
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid(name: str, value: object, allowed: str) -> InvalidInput:
    """Build the standard message: ``name == value, must be allowed``.

    >>> str(invalid("max_cost_usd", -1.0, ">= 0"))
    'max_cost_usd == -1.0, must be >= 0'
    """
    return InvalidInput(f"{name} == {shown(value)}, must be {allowed}")
