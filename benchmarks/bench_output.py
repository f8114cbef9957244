"""Shared output of the benchmark scripts: an aligned table on the terminal, JSON on request."""

from __future__ import annotations

import json
from pathlib import Path


def report(results: dict[str, float], json_path: Path | None) -> None:
    """Print ``name  value`` lines and, when asked, write the same figures as JSON."""
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.4f}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2))
