"""Checks of what a caller passes to `Gateway` and to each `complete` call: `InvalidInput` naming
the argument, before anything is decided or sent.

>>> from banditroute.gateway.arguments import check_call
>>> check_call(preset=None, presets={}, tags=["team-a"], timeout_s=2, scorer=None, stream=False)
(frozenset({'team-a'}), 2.0)
>>> check_call(preset=None, presets={}, tags="team-a", timeout_s=None, scorer=None, stream=False)
Traceback (most recent call last):
...
banditroute.errors.InvalidInput: tags == 'team-a', must be a list of str (not one str)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import numpy as np

from ..constraints import Constraints
from ..errors import check_number, check_seed, invalid

__all__ = ["check_call", "check_presets", "check_scorer", "check_setup"]

_SCORERS = "'evaluator', None or a callable (prompt, text) -> quality in [0, 1]"


def check_scorer(scorer: object) -> None:
    """``scorer`` is "evaluator", None or a callable."""
    if not (
        scorer is None or callable(scorer) or (isinstance(scorer, str) and scorer == "evaluator")
    ):
        raise invalid("scorer", scorer, _SCORERS)


def check_presets(presets: object) -> dict[str, Constraints]:
    """Named constraint sets: a mapping of str to `Constraints` (None: none)."""
    if presets is None:
        return {}
    if not isinstance(presets, Mapping):
        raise invalid("presets", presets, "a mapping of names to banditroute Constraints")
    checked = {}
    for name, preset in presets.items():
        if not isinstance(name, str):
            raise invalid("presets key", name, "a str")
        if not isinstance(preset, Constraints):
            raise invalid(f"presets[{name!r}]", preset, "a banditroute Constraints")
        checked[name] = preset
    return checked


def check_setup(engine: object, timeout_s: object, seed: object, **parts: Any) -> float:
    """The `Gateway` constructor's arguments; returns ``timeout_s`` as a float.

    ``parts`` are the optional collaborators by name (None: the default one is made).
    """
    from ..engine import Engine  # lazy: the engine imports the gateway lazily too
    from .cache import ExactCache
    from .guards import Guards
    from .retry import RetryPolicy
    from .semantic_cache import SemanticCache

    if not isinstance(engine, Engine):
        raise invalid("engine", engine, "a banditroute Engine")
    kinds: dict[str, type | tuple[type, ...]] = {
        "client": httpx.Client,
        "async_client": httpx.AsyncClient,
        "transport": httpx.BaseTransport,
        "async_transport": httpx.AsyncBaseTransport,
        "guards": Guards,
        "retry": RetryPolicy,
        "cache": ExactCache,
        "semantic_cache": SemanticCache,
        "cache_any": (bool, np.bool_),
    }
    for name, value in parts.items():
        kind = kinds.get(name)
        if value is not None and kind is not None and not isinstance(value, kind):
            raise invalid(name, value, f"None or a {_kind_name(kind)}")
    pacer = parts.get("pacer")
    if pacer is not None and not (hasattr(pacer, "cost_weight") and callable(pacer.observe)):
        raise invalid("pacer", pacer, "None or a pacer (cost_weight and observe(cost_usd))")
    check_seed(seed)
    return check_number("timeout_s", timeout_s, 0, above=True)


def check_call(
    *,
    preset: object,
    presets: Mapping[str, Constraints],
    tags: object,
    timeout_s: object,
    scorer: object,
    stream: object,
) -> tuple[frozenset[str], float | None]:
    """One call's arguments; returns its tags as a set and its ``timeout_s`` as a float."""
    if preset is not None and (not isinstance(preset, str) or preset not in presets):
        raise invalid("preset", preset, f"None or one of {sorted(presets)}")
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable) or isinstance(tags, Mapping):
        raise invalid("tags", tags, "a list of str (not one str)")
    try:
        listed = list(tags)
    except TypeError:  # iterable in name only (a 0-d array, ...)
        raise invalid("tags", tags, "a list of str") from None
    if not all(isinstance(t, str) for t in listed):
        raise invalid("tags", tags, "a list of str")
    if scorer is not ...:
        check_scorer(scorer)
    if not isinstance(stream, bool | np.bool_):
        raise invalid("stream", stream, "True or False")
    timeout = None if timeout_s is None else check_number("timeout_s", timeout_s, 0, above=True)
    return frozenset(listed), timeout


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return kind.__name__ if isinstance(kind, type) else kind[0].__name__
