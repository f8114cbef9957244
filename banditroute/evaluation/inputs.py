"""Checked inputs of the evaluator: sequences of texts and gold labels in [0, 1].

>>> from banditroute.evaluation.inputs import checked_labels, checked_texts
>>> checked_texts("prompts", ("a", "b")), checked_labels([0, 0.5], 2).tolist()
(['a', 'b'], [0.0, 0.5])
>>> checked_labels([1.5], 1)
Traceback (most recent call last):
...
banditroute.errors.InvalidInput: labels[i] == 1.5, must be a finite number in [0, 1]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import check_number, invalid
from ..text import clean_text

__all__ = ["checked_labels", "checked_texts"]


def _text(name: str, value: object) -> str:
    return clean_text(value, name)  # InvalidInput for a non-str; lone surrogates → U+FFFD


def checked_texts(name: str, values: object) -> list[str]:
    """A sequence of texts as a list of clean str, or `InvalidInput` naming ``name``."""
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise invalid(name, values, "a sequence of str")
    try:
        items = list(values)
    except TypeError:  # iterable in name only (a 0-d array, ...)
        raise invalid(name, values, "a sequence of str") from None
    return [_text(name[:-1], v) for v in items]


def checked_labels(labels: object, n: int) -> np.ndarray:
    """``n`` gold labels in [0, 1] as floats (no str, no bool), or `InvalidInput`."""
    allowed = f"{n} numbers in [0, 1]"
    items: list[object] | None = None
    if isinstance(labels, np.ndarray):
        items = list(labels) if labels.ndim == 1 else None
    elif isinstance(labels, Iterable) and not isinstance(labels, str | bytes | Mapping):
        with contextlib.suppress(TypeError):  # TypeError: iterable in name only
            items = list(labels)
    if items is None or len(items) != n:
        raise invalid("labels", labels, allowed)
    return np.array([check_number("labels[i]", v, 0, 1) for v in items], dtype=float)
