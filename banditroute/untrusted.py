"""Reading untrusted data (state files, registry files): nesting bounds and typed field checks.

A value read from a file is checked before it is used: its type (no string where a number
belongs, no bool where an int belongs), finiteness, range and, for arrays, shape. Each failure
raises `StateFileError` naming the field, so a hand-edited or damaged file fails on load, not
later inside `choose`.

>>> from banditroute.untrusted import as_int, check_depth
>>> as_int("max_pending", 10, 1)
10
>>> as_int("max_pending", "10", 1)
Traceback (most recent call last):
...
banditroute.errors.StateFileError: saved max_pending == '10', must be an int >= 1
>>> check_depth([[[1]]], limit=2)
Traceback (most recent call last):
...
ValueError: nested deeper than 2 levels
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .errors import StateFileError

__all__ = [
    "MAX_DEPTH",
    "MAX_MAGNITUDE",
    "as_float",
    "as_int",
    "as_list",
    "as_str",
    "as_table",
    "check_depth",
    "exact_table",
    "float_array",
    "state_field",
]

MAX_DEPTH = 32  #: nesting of lists and tables accepted in a file (a state needs 6)
MAX_MAGNITUDE = 1e100  #: largest absolute value accepted in a saved array
_INT64 = 2**63


def check_depth(value: object, limit: int = MAX_DEPTH) -> None:
    """Raise ValueError when lists / tables nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            raise ValueError(f"nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def _refuse(name: str, value: object, allowed: str) -> StateFileError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return StateFileError(f"saved {name} == {shown}, must be {allowed}")


def as_int(name: str, value: object, low: int = 0, high: int | None = None) -> int:
    """``value`` if it is an int (not a bool) in [low, high] (high: 2**63 - 1 unless given)."""
    top = _INT64 - 1 if high is None else high
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
        upper = "" if high is None else f" and <= {high}"
        raise _refuse(name, value, f"an int >= {low}{upper}")
    return value


def as_float(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    nan: bool = False,
    above: bool = False,
) -> float:
    """``value`` as a float if it is a finite number (not a bool) in [low, high] (or
    (low, high] when ``above``); NaN as well when ``nan`` (a saved "unknown")."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if ok and abs(value) < 1e308 else math.nan  # type: ignore[arg-type]
    if ok and nan and isinstance(value, float) and math.isnan(value):
        return value
    inside = (number > low if above else number >= low) and number <= high
    if not (math.isfinite(number) and inside):
        bounds = (
            f" in {'(' if above else '['}{low:g}, {high:g}]"
            if math.isfinite(low) and math.isfinite(high)
            else f" {'>' if above else '>='} {low:g}"
            if math.isfinite(low)
            else f" <= {high:g}"
            if math.isfinite(high)
            else ""
        )
        raise _refuse(name, value, f"a finite number{bounds}")
    return number


def as_str(name: str, value: object, *, empty: bool = False) -> str:
    """``value`` if it is a str (non-empty unless ``empty``)."""
    if not isinstance(value, str) or not (value or empty):
        raise _refuse(name, value, "a str" if empty else "a non-empty str")
    return value


def as_list(name: str, value: object) -> list[Any]:
    """``value`` if it is a list."""
    if not isinstance(value, list):
        raise _refuse(name, value, "a list")
    return value


def as_table(name: str, value: object, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` if it is a table (a dict with str keys) holding every ``required`` key."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _refuse(name, value, "a table")
    missing = [k for k in required if k not in value]
    if missing:
        raise StateFileError(f"saved {name} lacks the field(s) {missing}")
    return value


def exact_table(name: str, value: object, fields: tuple[str, ...]) -> dict[str, Any]:
    """``value`` if it is a table holding exactly ``fields`` (`StateFileError` otherwise)."""
    table = as_table(name, value, fields)
    extra = sorted(set(table) - set(fields))
    if extra:
        raise StateFileError(f"saved {name} has unknown field(s) {extra}")
    return table


def float_array(
    name: str,
    arrays: dict[str, np.ndarray],
    shape: tuple[int, ...] | None = None,
    *,
    low: float = -math.inf,
    nan: bool = False,
) -> np.ndarray:
    """The saved array ``name`` as float64, of this ``shape`` (None: any), finite (NaN allowed
    when ``nan``), >= ``low`` and within ±`MAX_MAGNITUDE` (no learned value comes near it;
    beyond it, products of a few such values overflow)."""
    if name not in arrays:
        raise StateFileError(f"saved state lacks the array {name!r}")
    values = np.asarray(arrays[name], dtype=np.float64)
    if shape is not None and values.shape != shape:
        raise StateFileError(f"saved array {name!r} has shape {values.shape}, must be {shape}")
    checked = values[~np.isnan(values)] if nan else values
    if not np.all(np.isfinite(checked)):
        raise StateFileError(f"saved array {name!r} holds infinite or NaN values")
    if np.any(checked < low):
        raise StateFileError(f"saved array {name!r} holds values below {low:g}")
    if np.any(np.abs(checked) > MAX_MAGNITUDE):
        raise StateFileError(f"saved array {name!r} holds values beyond ±{MAX_MAGNITUDE:g}")
    return values


@contextmanager
def state_field(name: str) -> Iterator[None]:
    """Turn the errors of rebuilding one part from saved values into `StateFileError` naming it.

    >>> with state_field("tradeoff"):
    ...     raise ValueError("cost_weight == -1, must be >= 0")
    Traceback (most recent call last):
    ...
    banditroute.errors.StateFileError: saved tradeoff is invalid: cost_weight == -1, must be >= 0
    """
    try:
        yield
    except StateFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        detail = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else exc
        raise StateFileError(f"saved {name} is invalid: {detail}") from None
