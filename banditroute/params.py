"""One convention for parameters: read them off the constructor's signature (sklearn style).

A class that derives from `Configurable` stores each ``__init__`` argument under the same
attribute name; `get_params` returns them (JSON-ready when they are), `clone` makes a fresh,
untrained copy. Learned state stays private and is saved separately, as arrays under a prefix.

>>> from banditroute.params import Configurable
>>> class Scaler(Configurable):
...     def __init__(self, factor: float = 2.0, *, name: str = "x") -> None:
...         self.factor, self.name, self._seen = factor, name, 0
>>> Scaler(3.0).get_params(), Scaler(3.0).clone().factor
({'factor': 3.0, 'name': 'x'}, 3.0)
"""

from __future__ import annotations

import inspect
from typing import Any, Self

__all__ = ["Configurable"]


class Configurable:
    """Mixin: `get_params` from the ``__init__`` signatures along the class hierarchy; `clone`."""

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this object, by name."""
        params: dict[str, Any] = {}
        for cls in type(self).__mro__:
            if cls is object or "__init__" not in vars(cls):
                continue
            init = vars(cls)["__init__"]
            for name, p in inspect.signature(init).parameters.items():
                named = p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                if named and name != "self" and name not in params and hasattr(self, name):
                    params[name] = getattr(self, name)
        return params

    def clone(self) -> Self:
        """A fresh, untrained object with the same parameters."""
        return type(self)(**self.get_params())
