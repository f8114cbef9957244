"""What `Engine.complete` returns: the answer, what it cost, and every attempt behind it.

>>> from banditroute.gateway.completion import Attempt, Completion
>>> a = Attempt(model="m1", latency_ms=12.0, error="ProviderUnavailable: 503 from m1")
>>> c = Completion(text="hi", model="m2", cost_usd=0.0001, latency_ms=40.0,
...                attempts=(a, Attempt(model="m2", latency_ms=28.0)))
>>> print(c.explain())
served by m2 in 40 ms for 0.0001 USD
  attempt 1: m1 failed after 12 ms (ProviderUnavailable: 503 from m1)
  attempt 2: m2 answered in 28 ms
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..decision import Decision, Outcome
from .messages import ChatResponse, ToolCall, Usage

__all__ = ["Attempt", "Completion"]


@dataclass(frozen=True)
class Attempt:
    """One call to one model (or a model skipped before calling it)."""

    model: str
    latency_ms: float = 0.0
    error: str | None = None  #: "ErrorType: message" when it failed or was skipped
    retryable: bool = False
    skipped: bool = False  #: not called: cooled down, rate-limited or over budget

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Completion:
    """A served request.

    ``decision`` is None for a cache hit (no decision was made); ``outcome`` is what the engine
    learned (None when the caller scores it later, or for a cache hit).
    """

    text: str
    model: str
    cost_usd: float
    latency_ms: float
    attempts: tuple[Attempt, ...] = ()
    decision: Decision | None = None
    usage: Usage | None = None
    usage_estimated: bool = False  #: the provider reported no usage: tokens were estimated
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    cache: str | None = None  #: "exact" or "semantic" for a cache hit
    outcome: Outcome | None = None
    response: ChatResponse | None = field(default=None, repr=False)

    def explain(self) -> str:
        """The decision (if any), then every attempt, readable."""
        if self.cache is not None:
            head = f"served from the {self.cache} cache (answer of {self.model}); no call made"
        else:
            head = f"served by {self.model} in {self.latency_ms:.0f} ms for {self.cost_usd:.2g} USD"
        lines = [head]
        for n, a in enumerate(self.attempts, start=1):
            if a.skipped:
                lines.append(f"  attempt {n}: {a.model} skipped ({a.error})")
            elif a.ok:
                lines.append(f"  attempt {n}: {a.model} answered in {a.latency_ms:.0f} ms")
            else:
                lines.append(
                    f"  attempt {n}: {a.model} failed after {a.latency_ms:.0f} ms ({a.error})"
                )
        if self.decision is not None:
            lines.append(self.decision.explain())
        return "\n".join(lines)
