"""Figures per model from decision rows with outcomes, ranked by a lower confidence bound.

>>> import pandas as pd
>>> rows = pd.DataFrame({"id": ["a", "b", "c"], "model": ["m1", "m1", "m2"],
...                      "quality": [0.9, 0.7, 1.0], "cost_usd": [0.1, 0.1, 0.2],
...                      "latency_ms": [100.0, 200.0, 300.0]})
>>> table = per_model(rows)
>>> list(table["model"]), list(table["n"])
(['m2', 'm1'], [1, 2])
"""

from __future__ import annotations

import pandas as pd

__all__ = ["per_model"]


def per_model(rows: pd.DataFrame, z: float = 1.645) -> pd.DataFrame:
    """n, mean quality, cost and latency per model, ranked by the lower 90% bound of the mean.

    The bound (mean − z·sd/√n, the sd shrunk toward the pooled one) keeps a model seen on a
    handful of lucky prompts from outranking one measured on hundreds: the log holds only the
    chosen model's outcome, so rarely chosen models have little evidence.
    """
    if rows.empty:
        return pd.DataFrame(columns=["model", "n", "quality", "quality_lower_90", "cost_usd"])
    pooled_var = float(rows["quality"].var(ddof=0)) if len(rows) > 1 else 0.25
    deviation = rows["quality"] - rows.groupby("model")["quality"].transform("mean")
    table = (
        rows.assign(squares=deviation**2)
        .groupby("model")
        .agg(
            n=("id", "size"),
            quality=("quality", "mean"),
            squares=("squares", "sum"),
            cost_usd=("cost_usd", "mean"),
            latency_ms=("latency_ms", "mean"),
        )
        .reset_index()
    )
    variance = (table["squares"] + 2 * pooled_var) / (table["n"] - 1 + 2)
    table["quality_lower_90"] = table["quality"] - z * (variance / table["n"]) ** 0.5
    table = table.drop(columns="squares")[
        ["model", "n", "quality", "quality_lower_90", "cost_usd", "latency_ms"]
    ]
    return table.sort_values("quality_lower_90", ascending=False).reset_index(drop=True)
