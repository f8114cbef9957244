"""One call after its decision: the planned attempts tried in order (sync or async), then the
answer turned into a `Completion` (its cost from the registry's prices × the usage reported,
the pacer told the spend, the call logged, the outcome fed back, the answer cached).

>>> from banditroute.gateway.serving import aserve, serve, served
>>> serve.__name__, aserve.__name__, served.__name__
('serve', 'aserve', 'served')
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..features import estimate_tokens
from .completion import Completion
from .errors import ProviderError
from .messages import Usage
from .transport import asend, send

if TYPE_CHECKING:
    from ..decision import Decision
    from .attempts import AttemptPlan, Step
    from .client import Gateway
    from .messages import ChatResponse
    from .request import ReadyRequest

__all__ = ["aserve", "serve", "served"]


def served(
    gateway: Gateway,
    ready: ReadyRequest,
    decision: Decision,
    plan: AttemptPlan,
    step: Step,
    response: ChatResponse,
    latency_ms: float,
    scorer: Any,
) -> Completion:
    """The `Completion` of the attempt that answered, with everything it teaches recorded."""
    usage, estimated = response.usage, response.usage is None
    if usage is None:
        usage = Usage(
            input_tokens=decision.prompt_tokens, output_tokens=estimate_tokens(response.text)
        )
    cost = step.profile.cost_usd(usage.input_tokens, usage.output_tokens)
    plan.succeeded(step, cost, latency_ms)
    if gateway.pacer is not None:
        gateway.pacer.observe(cost)
    outcomes = gateway._outcomes
    model = step.profile.id
    outcomes.log_call(
        decision, plan.attempts, plan.tags, model=model, cost_usd=cost, latency_ms=latency_ms
    )
    outcome = outcomes.learn(ready, decision, plan, step, response.text, cost, latency_ms, scorer)
    completion = Completion(
        text=response.text,
        model=model,
        cost_usd=cost,
        latency_ms=latency_ms,
        attempts=tuple(plan.attempts),
        decision=decision,
        usage=usage,
        usage_estimated=estimated,
        tool_calls=response.tool_calls,
        finish_reason=response.finish_reason,
        outcome=outcome,
        response=response,
    )
    gateway.caches.remember(ready, completion)
    return completion


def serve(
    gateway: Gateway, ready: ReadyRequest, decision: Decision, plan: AttemptPlan, scorer: Any
) -> Completion:
    """Try ``plan``'s attempts in order; the first answer served, or `CompletionFailed`."""
    while (step := plan.next_step()) is not None:
        if step.wait_s:
            time.sleep(step.wait_s)
        if (step := plan.admit(step)) is None:
            continue
        started = time.perf_counter()
        try:
            response = send(
                gateway.client,
                step.connection,
                ready.request,
                model_id=step.profile.id,
                deadline=step.deadline,
            )
        except ProviderError as exc:
            plan.failed(step, exc, _ms(started))
            continue
        return served(gateway, ready, decision, plan, step, response, _ms(started), scorer)
    gateway._fail(decision, plan)
    raise plan.exhausted()


async def aserve(
    gateway: Gateway, ready: ReadyRequest, decision: Decision, plan: AttemptPlan, scorer: Any
) -> Completion:
    """Async `serve` over the gateway's shared ``httpx.AsyncClient``."""
    while (step := plan.next_step()) is not None:
        if step.wait_s:
            await asyncio.sleep(step.wait_s)
        if (step := plan.admit(step)) is None:
            continue
        started = time.perf_counter()
        try:
            response = await asend(
                gateway.async_client,
                step.connection,
                ready.request,
                model_id=step.profile.id,
                deadline=step.deadline,
            )
        except ProviderError as exc:
            plan.failed(step, exc, _ms(started))
            continue
        return served(gateway, ready, decision, plan, step, response, _ms(started), scorer)
    gateway._fail(decision, plan)
    raise plan.exhausted()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
