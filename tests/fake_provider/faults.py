"""Fault injection: one scripted `Fault`, and `FaultRates`, a seeded random mix of faults.

>>> Fault("status", status=429).label, Fault("reset").label
('status:429', 'reset')
>>> import random
>>> FaultRates(reset=1.0).draw(random.Random(0))
Fault(kind='reset', status=503, retry_after=None, seconds=5.0, seconds_per_byte=0.25, mb=20.0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["Fault", "FaultKind", "FaultRates"]

FaultKind = Literal[
    "status", "timeout", "trickle", "malformed_json", "reset", "huge_body", "no_usage"
]


@dataclass(frozen=True)
class Fault:
    """One injected failure, consumed by the next request to its model.

    Parameters
    ----------
    kind : str
        ``"status"`` (an error reply with ``status`` in the API's error format, with a
        ``Retry-After`` header when ``retry_after`` is set), ``"timeout"`` (hang ``seconds``, then
        answer), ``"trickle"`` (send the reply one byte per ``seconds_per_byte``),
        ``"malformed_json"`` (200 with a cut-off JSON body or SSE event), ``"reset"`` (close the
        socket with a TCP reset, no reply), ``"huge_body"`` (a valid reply whose text is ``mb``
        MiB) or ``"no_usage"`` (a valid reply without token usage).
    """

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    seconds: float = 5.0
    seconds_per_byte: float = 0.25
    mb: float = 20.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"kind == {self.kind!r}, must be one of {get_args(FaultKind)}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status == {self.status}, must be in [400, 599]")
        for name in ("seconds", "seconds_per_byte", "mb"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} == {getattr(self, name)}, must be >= 0")
        if self.retry_after is not None and not self.retry_after >= 0:
            raise ValueError(f"retry_after == {self.retry_after}, must be >= 0 or None")

    @property
    def label(self) -> str:
        """Short name recorded with the request, e.g. ``"status:503"`` or ``"reset"``."""
        return f"status:{self.status}" if self.kind == "status" else self.kind


@dataclass(frozen=True)
class FaultRates:
    """A random mix of faults for requests that find no scripted fault left.

    Each request draws one uniform number from ``random.Random(seed)``: below ``status_5xx`` it
    gets ``status``; in the next ``timeout`` it hangs ``timeout_s``; in the next
    ``rate_limited`` it gets 429 with ``Retry-After: retry_after_s``; in the next ``reset`` its
    connection is reset; otherwise it is answered. Sequential requests are reproducible.
    """

    status_5xx: float = 0.0
    timeout: float = 0.0
    rate_limited: float = 0.0
    reset: float = 0.0
    retry_after_s: float | None = 1.0
    timeout_s: float = 30.0
    status: int = 503
    seed: int = 0

    def __post_init__(self) -> None:
        rates = (self.status_5xx, self.timeout, self.rate_limited, self.reset)
        if not all(0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"rates == {rates}, must each be in [0, 1] and sum to <= 1")
        if not 500 <= self.status <= 599:
            raise ValueError(f"status == {self.status}, must be in [500, 599]")

    def draw(self, rng: random.Random) -> Fault | None:
        """The fault (or None) for one request, using one number from ``rng``."""
        u = rng.random()
        for rate, fault in (
            (self.status_5xx, Fault("status", status=self.status)),
            (self.timeout, Fault("timeout", seconds=self.timeout_s)),
            (
                self.rate_limited,
                Fault("status", status=429, retry_after=self.retry_after_s),
            ),
            (self.reset, Fault("reset")),
        ):
            if u < rate:
                return fault
            u -= rate
        return None
