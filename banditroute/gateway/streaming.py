"""Streamed completions: chunks as they arrive, the outcome recorded when the stream ends.

Failover happens only before the first chunk: once text has reached the caller, a failure ends
the stream with the provider's error (and is fed back as the model's failure). A stream closed
early by the caller books the call's cost and leaves the decision for the caller to score.

>>> from banditroute.gateway.streaming import CompletionStream
>>> CompletionStream.__name__
'CompletionStream'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from .completion import Completion
from .errors import MalformedResponse, ProviderError
from .messages import StreamChunk, join_chunks

if TYPE_CHECKING:
    from ..decision import Decision
    from .attempts import AttemptPlan, Step
    from .client import Gateway
    from .request import ReadyRequest

__all__ = ["AsyncCompletionStream", "CompletionStream"]


class _StreamState:
    """What the sync and async streams share: the parts and how a stream ends."""

    def __init__(
        self,
        gateway: Gateway,
        ready: ReadyRequest,
        decision: Decision,
        plan: AttemptPlan,
        scorer: Any,
    ) -> None:
        self.gateway, self.ready, self.decision, self.plan = gateway, ready, decision, plan
        self.scorer = scorer
        self.completion: Completion | None = None  #: set when the stream has ended normally

    def _finish(self, step: Step, parts: list[StreamChunk], started: float) -> None:
        latency = (time.perf_counter() - started) * 1000.0
        response = join_chunks(parts)
        self.completion = self.gateway._served(
            self.ready, self.decision, self.plan, step, response, latency, self.scorer
        )

    def _broken(self, step: Step, error: ProviderError, started: float) -> ProviderError:
        self.plan.failed(step, error, (time.perf_counter() - started) * 1000.0)
        self.gateway._fail(self.decision, self.plan)
        return error

    def _abandoned(self, step: Step, parts: list[StreamChunk]) -> None:
        text = "".join(p.text for p in parts)
        tokens = self.decision.prompt_tokens + max(1, len(text) // 4)
        cost = step.profile.cost_usd(self.decision.prompt_tokens, tokens)
        self.plan.succeeded(step, cost, 0.0)
        plan, model = self.plan, step.profile.id
        self.gateway._outcomes.log_call(
            self.decision, plan.attempts, plan.tags, model=model, cost_usd=cost
        )

    def _exhausted(self) -> ProviderError | Exception:
        self.gateway._fail(self.decision, self.plan)
        return self.plan.exhausted()


class CompletionStream(_StreamState):
    """Iterate to get `StreamChunk`s; ``completion`` holds the full `Completion` at the end."""

    def __iter__(self) -> Iterator[StreamChunk]:
        gateway, request = self.gateway, self.ready.request
        while (step := self.plan.next_step()) is not None:
            if step.wait_s:
                time.sleep(step.wait_s)
            if (step := self.plan.admit(step)) is None:
                continue
            started = time.perf_counter()
            chunks = gateway._stream(
                gateway.client,
                step.connection,
                request,
                model_id=step.profile.id,
                deadline=step.deadline,
            )
            try:
                first = next(chunks)
            except StopIteration:
                self.plan.failed(step, MalformedResponse("empty stream", model=step.profile.id), 0)
                continue
            except ProviderError as exc:
                self.plan.failed(step, exc, (time.perf_counter() - started) * 1000.0)
                continue
            parts = [first]
            try:
                yield first
                for chunk in chunks:
                    parts.append(chunk)
                    yield chunk
            except ProviderError as exc:
                raise self._broken(step, exc, started) from None
            except GeneratorExit:  # the caller stopped reading
                chunks.close()
                self._abandoned(step, parts)
                raise
            self._finish(step, parts, started)
            return
        raise self._exhausted()


class AsyncCompletionStream(_StreamState):
    """``async for`` to get `StreamChunk`s; ``completion`` holds the `Completion` at the end."""

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        gateway, request = self.gateway, self.ready.request
        while (step := self.plan.next_step()) is not None:
            if step.wait_s:
                await asyncio.sleep(step.wait_s)
            if (step := self.plan.admit(step)) is None:
                continue
            started = time.perf_counter()
            chunks = gateway._astream(
                gateway.async_client,
                step.connection,
                request,
                model_id=step.profile.id,
                deadline=step.deadline,
            )
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                self.plan.failed(step, MalformedResponse("empty stream", model=step.profile.id), 0)
                continue
            except ProviderError as exc:
                self.plan.failed(step, exc, (time.perf_counter() - started) * 1000.0)
                continue
            parts = [first]
            try:
                yield first
                async for chunk in chunks:
                    parts.append(chunk)
                    yield chunk
            except ProviderError as exc:
                raise self._broken(step, exc, started) from None
            except GeneratorExit:  # the caller stopped reading
                await chunks.aclose()
                self._abandoned(step, parts)
                raise
            self._finish(step, parts, started)
            return
        raise self._exhausted()
