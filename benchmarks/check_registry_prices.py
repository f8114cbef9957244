"""Cross-check the shipped registry's list prices against RouterBench's logged costs.

Fits, per model, logged ``total_cost`` ≈ (prompt_chars/4 · input price + response_chars/4 ·
output price) / 1e6 by least squares and prints the fitted prices beside the registry's.

Usage::

    python benchmarks/check_registry_prices.py [../shared/datasets/routerbench/*.csv]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from banditroute import Registry, example_registry_path

DEFAULT = sorted(
    (Path(__file__).resolve().parents[2] / "shared/datasets/routerbench").glob("*.csv")
)


def as_text(cell: object) -> str:
    """RouterBench stores prompts and responses as Python list literals; join their parts."""
    text = str(cell)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def main(paths: list[Path]) -> None:
    if not paths:
        sys.exit("no RouterBench csv files given or found beside the repository")
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    registry = Registry.load(example_registry_path())
    prompt_tokens = frame["prompt"].map(as_text).str.len() / 4
    print(f"| model | registry in / out $/M | fitted in / out $/M | {len(frame)} prompts |")
    print("|---|---|---|---|")
    for model in registry:
        answer_tokens = frame[f"{model.id}|model_response"].map(as_text).str.len() / 4
        design = np.c_[prompt_tokens, answer_tokens]
        fitted, *_ = np.linalg.lstsq(design, frame[f"{model.id}|total_cost"] * 1e6, rcond=None)
        print(
            f"| {model.id} | {model.input_usd_per_mtok:g} / {model.output_usd_per_mtok:g} | "
            f"{fitted[0]:.3f} / {fitted[1]:.3f} | |"
        )


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or DEFAULT)
