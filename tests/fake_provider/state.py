"""The fake's shared state: how each model answers, its pending faults, the requests received.

>>> state = State()
>>> state.faults["m"] = deque([Fault("reset")])
>>> script, fault, rid = state.take("m")
>>> script == ModelScript(), fault.label, rid, state.take("m")[1]
(True, 'reset', '000000000001', None)
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import Api
from .faults import Fault, FaultRates

__all__ = ["ModelScript", "RecordedRequest", "State"]


@dataclass(frozen=True)
class ModelScript:
    """How the fake answers one model name.

    Parameters
    ----------
    latency_s : float
        Delay before every reply (an async sleep: other requests go on).
    text : str or None
        The answer; None echoes ``"echo: <last user message, first 200 chars>"`` (as
        ``{"echo": ...}`` JSON when the request asks for JSON output).
    usage : bool
        Whether replies carry token usage.
    tool_call : mapping or None
        When set and the request offers tools, answer with a call of the first tool with these
        arguments instead of text.
    chunk_chars, chunk_delay_s : int, float
        Streaming: characters per delta and the pause between events.
    """

    latency_s: float = 0.0
    text: str | None = None
    usage: bool = True
    tool_call: Mapping[str, Any] | None = None
    chunk_chars: int = 8
    chunk_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0 and self.chunk_delay_s >= 0 and self.chunk_chars >= 1):
            raise ValueError("latency_s, chunk_delay_s must be >= 0 and chunk_chars >= 1")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received; secret header values are never kept.

    ``headers`` maps lower-case names to values, with the values of auth headers replaced by
    ``"[redacted]"``; ``query`` has any ``key=`` value redacted; ``fault`` is the label of the
    fault applied (``"auth"`` for a rejected key, ``"bad_request"`` for an invalid body).
    """

    api: Api
    model: str
    path: str
    query: str
    stream: bool
    headers: Mapping[str, str]
    auth_present: bool
    body: Any
    fault: str | None

    @property
    def header_names(self) -> tuple[str, ...]:
        """The lower-case header names, in the order received."""
        return tuple(self.headers)


class State:
    """Scripts, pending faults and recorded requests per model; shared across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scripts: dict[str, ModelScript] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.rates: dict[str, tuple[FaultRates, random.Random]] = {}
        self.records: dict[str, list[RecordedRequest]] = {}
        self.ids = itertools.count(1)

    def take(self, model: str) -> tuple[ModelScript, Fault | None, str]:
        """The model's script, the next fault to apply (if any) and a fresh request id."""
        with self.lock:
            queue = self.faults.get(model)
            if queue:
                fault: Fault | None = queue.popleft()
            elif model in self.rates:
                rates, rng = self.rates[model]
                fault = rates.draw(rng)
            else:
                fault = None
            return (
                self.scripts.get(model, ModelScript()),
                fault,
                f"{next(self.ids):012x}",
            )

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.records.setdefault(request.model, []).append(request)
