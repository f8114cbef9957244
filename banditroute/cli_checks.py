"""Helpers of the ``banditroute`` command: an argparse parser that raises instead of exiting,
argument types that check their range, the ``--embedder`` choice (static by default; MiniLM by
name) and the one-line error report.

>>> from banditroute.cli_checks import command_embedder, whole, real
>>> whole(1, 10)("3"), real(0, 1)("0.5")
(3, 0.5)
>>> command_embedder(None)[1], command_embedder("minilm")[1]
('minilm-static-64-flat', 'minilm-clip200-500')
>>> real(0, 1)("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: nan is not a finite number in [0, 1]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .errors import InvalidInput

if TYPE_CHECKING:
    from .embedders import Embedder

__all__ = [
    "EMBEDDERS",
    "Parser",
    "UsageError",
    "command_embedder",
    "fail",
    "output_path",
    "real",
    "whole",
]


class UsageError(Exception):
    """A command line argparse refuses (its message is already one line)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a refused command line raises `UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in [{low}, {high}]")
        return value

    return convert


def real(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high]."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"{text} is not a finite number in [{low:g}, {high:g}]"
            )
        return value

    return convert


def output_path(path: Path | None, flag: str) -> None:
    """Refuse an output path that is a folder before any work is done."""
    if path is not None and path.is_dir():
        raise InvalidInput(f"{flag} {str(path)!r} is a folder: give a file name")


EMBEDDERS = ("static", "minilm", "hashing")  #: --embedder choices; the first is the default


def command_embedder(flag: str | None, log: Path | None = None) -> tuple[Embedder, str]:
    """The encoder ``--embedder`` names and its name. None (the flag left out): the encoder
    the decision log ``log`` records if it is a built-in one, else the static default. A log
    written with another encoder is refused, naming both (and the flag that matches it)."""
    from .embedders import embedder_name, make_embedder, same_embedder
    from .static_embedder import EMBEDDER_CHOICES, default_embedder, logged_embedder

    recorded = None if log is None else logged_embedder(log)
    embedder = default_embedder(recorded) if flag is None else make_embedder(EMBEDDER_CHOICES[flag])
    name = embedder_name(embedder)
    if recorded is not None and not same_embedder(recorded, name):
        flags = [f for f, n in EMBEDDER_CHOICES.items() if same_embedder(recorded, n)]
        hint = f"--embedder {flags[0]}" if flags else "the matching --embedder"
        raise InvalidInput(
            f"the decision log at {log} was written with embedder {recorded!r}; this command "
            f"embeds with {name!r} ({embedder.dim}-dim): pass {hint}, or another --store"
        )
    return embedder, name


def fail(message: str, prefix: bool = True) -> int:
    """One line on stderr (a multi-line library message is joined), exit status 2."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()] or ["?"]
    text = lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "")
    print(f"banditroute: error: {text}" if prefix else text, file=sys.stderr)
    return 2
