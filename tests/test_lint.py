"""ruff and mypy run as part of the suite, so style and types are checked in CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "banditroute", "tests", "benchmarks"],
        ["ruff", "format", "--check", "banditroute", "tests", "benchmarks"],
        ["mypy", "banditroute"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_checks_pass(command: list[str]) -> None:
    tool = shutil.which(command[0], path=str(Path(sys.executable).parent)) or shutil.which(
        command[0]
    )
    if tool is None:
        pytest.skip(f"{command[0]} not installed (pip install banditroute[dev])")
    result = subprocess.run([tool, *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
