"""One request's attempts: which model to call next, when, and the bookkeeping of each outcome.

The decision's ranked models are tried in order; a retryable failure is retried on the same
model after a back-off (honouring ``Retry-After``) while attempts and the deadline allow, then
the next model is tried. A model that the guards refuse right now is skipped. The sync and async
call loops in `banditroute.gateway.serving` share this plan, so they behave the same.

>>> from banditroute.gateway.attempts import AttemptPlan
>>> AttemptPlan.__name__
'AttemptPlan'
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..decision import Decision
from ..registry import ModelProfile, Registry
from .completion import Attempt
from .connection import Connection
from .errors import AllAttemptsFailed, DeadlineExceeded, ProviderError, ProviderModelNotFound
from .guards import Admission, Guards
from .retry import RetryPolicy

__all__ = ["AttemptPlan", "CompletionFailed", "Step"]

#: Output tokens a budget reserves for a request that sets no max_tokens.
DEFAULT_RESERVED_OUTPUT_TOKENS = 4096


@dataclass(frozen=True)
class Step:
    """The next call to make."""

    profile: ModelProfile
    connection: Connection
    wait_s: float  #: back-off to sleep before calling
    deadline: float  #: absolute monotonic time this attempt must end by
    admission: Admission | None = None  #: set by `AttemptPlan.admit` after the back-off


class AttemptPlan:
    """The attempts of one request over ``decision``'s ranked models."""

    def __init__(
        self,
        decision: Decision,
        registry: Registry,
        guards: Guards,
        retry: RetryPolicy,
        rng: np.random.Generator,
        *,
        deadline: float,
        prompt_tokens: int,
        max_output_tokens: int | None,
        tags: frozenset[str],
    ) -> None:
        self.queue = [decision.model, *decision.fallbacks]
        self.registry, self.guards, self.retry, self.rng = registry, guards, retry, rng
        self.deadline = deadline
        self.prompt_tokens = prompt_tokens
        self.output_tokens = max_output_tokens or DEFAULT_RESERVED_OUTPUT_TOKENS
        self.tags = tags
        self.attempts: list[Attempt] = []
        self.errors: list[ProviderError] = []
        self._tries = 0  # calls made to the model at the head of the queue
        self._wait = 0.0

    def next_step(self) -> Step | None:
        """The next call, or None when every model was tried or the deadline has passed."""
        while self.queue:
            now = time.monotonic()
            if now + self._wait >= self.deadline:
                return None
            profile = self.registry[self.queue[0]]
            if profile.connection is None:
                self._skip(profile.id, "no connection settings in the registry")
                continue
            wait, self._wait = self._wait, 0.0
            attempt_deadline = min(self.deadline, now + wait + profile.connection.timeout_s)
            return Step(profile, profile.connection, wait, attempt_deadline)
        return None

    def admit(self, step: Step) -> Step | None:
        """Take what the call needs right before it goes (after the back-off); None when the
        guards refuse it now (the model is then skipped)."""
        profile = step.profile
        max_cost = profile.cost_usd(self.prompt_tokens, self.output_tokens)
        tokens = self.prompt_tokens + self.output_tokens
        admission = self.guards.admit(profile, tokens, max_cost, self.tags)
        if isinstance(admission, str):
            self._skip(profile.id, admission)
            return None
        return Step(profile, step.connection, step.wait_s, step.deadline, admission)

    def _skip(self, model: str, why: str) -> None:
        self.attempts.append(Attempt(model, error=why, skipped=True))
        self._next_model()

    def _next_model(self) -> None:
        self.queue.pop(0)
        self._tries, self._wait = 0, 0.0

    def failed(self, step: Step, error: ProviderError, latency_ms: float) -> None:
        """Book a failed call; retry the same model after a back-off, or move on."""
        if step.admission is not None:
            self.guards.record(step.admission, cost_usd=0.0, error=error)
        self.attempts.append(
            Attempt(
                step.profile.id, latency_ms, f"{type(error).__name__}: {error}", error.retryable
            )
        )
        self.errors.append(error)
        self._tries += 1
        if isinstance(error, DeadlineExceeded | ProviderModelNotFound):
            self._next_model()
            return
        if self.retry.should_retry(self._tries, error):
            delay = self.retry.delay(self._tries, error, self.rng)
            if self.retry.fits(delay, self.deadline, time.monotonic()):
                self._wait = delay
                return
        self._next_model()

    def succeeded(self, step: Step, cost_usd: float, latency_ms: float) -> None:
        """Book the call that answered."""
        if step.admission is not None:
            self.guards.record(step.admission, cost_usd=cost_usd, error=None)
        self.attempts.append(Attempt(step.profile.id, latency_ms))

    def exhausted(self) -> CompletionFailed:
        """The error to raise when no attempt answered (it lists every attempt)."""
        return CompletionFailed(self.errors, tuple(self.attempts))


class CompletionFailed(AllAttemptsFailed):
    """No model answered: ``attempts`` holds the provider errors, ``tried`` every attempt made or
    skipped (cooled down, rate-limited, over budget, no connection), in order."""

    def __init__(self, errors: list[ProviderError], tried: tuple[Attempt, ...]) -> None:
        super().__init__(errors)
        self.tried = tried

    def __str__(self) -> str:
        lines = [f"  {a.model}: {'skipped: ' if a.skipped else ''}{a.error}" for a in self.tried]
        return f"no model answered ({len(self.tried)} attempt(s)):\n" + "\n".join(lines)
