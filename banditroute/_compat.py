"""Work-arounds for other packages' behaviour, each with the reason it is needed.

>>> from banditroute._compat import drop_shadowing_datasets_module
>>> drop_shadowing_datasets_module()
"""

from __future__ import annotations

import sys

__all__ = ["drop_shadowing_datasets_module"]


def drop_shadowing_datasets_module() -> None:
    """Forget a ``datasets`` module that is an empty namespace package, not Hugging Face's.

    A folder named ``datasets/`` in the working directory (this repository has one) is imported
    as a namespace package when transformers probes for Hugging Face ``datasets``; lancedb then
    finds "datasets" in ``sys.modules`` and fails to import ``Dataset`` from it.
    """
    module = sys.modules.get("datasets")
    foreign = getattr(module, "__file__", None) is None and not hasattr(module, "Dataset")
    if module is not None and foreign:
        del sys.modules["datasets"]
