"""`Gateway`: choose → call → fail over → measure → score → learn, in one step.

One `Gateway` serves one `Engine` over one shared ``httpx.Client`` and ``httpx.AsyncClient``
(pass ``transport=`` / ``async_transport=`` to test without a network). Before the decision it
tries the response caches; the decision step is told which models are cooled down, rate-limited
or over budget (shown in ``decision.explain()``); the ranked models are then tried in order with
retries (`AttemptPlan`); the served answer's cost comes from the registry's prices × the usage
the provider reported; its quality (the engine's evaluator, a scorer of yours, or none) is fed
back; a budget pacer, if any, sets the engine's cost weight before each decision.

>>> import httpx
>>> from banditroute import Engine, HashingEmbedder, ModelProfile
>>> from banditroute.gateway import Connection, Gateway
>>> reply = {"choices": [{"message": {"content": "Hi!"}, "finish_reason": "stop"}],
...          "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
>>> local = Connection(base_url="http://127.0.0.1:11434/v1")     # e.g. Ollama
>>> engine = Engine([ModelProfile(id="llama3", provider="ollama", input_usd_per_mtok=0,
...                               output_usd_per_mtok=0, connection=local)],
...                 embedder=HashingEmbedder(64), seed=0)
>>> gateway = Gateway(engine, transport=httpx.MockTransport(
...     lambda request: httpx.Response(200, json=reply)))
>>> answer = gateway.complete("Say hi", scorer=lambda prompt, text: 1.0)
>>> answer.text, answer.model, answer.usage.output_tokens, answer.outcome.quality
('Hi!', 'llama3', 2, 1.0)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
import numpy as np

from ..constraints import Constraints
from ..errors import invalid
from ..features import estimate_tokens
from ..reward import Tradeoff
from .attempts import AttemptPlan, Step
from .cache import CachedResponse, ExactCache
from .completion import Completion
from .errors import ProviderError
from .guards import Guards
from .messages import ChatResponse, Message, Usage
from .request import ReadyRequest, prepare
from .retry import RetryPolicy
from .semantic_cache import SemanticCache
from .streaming import AsyncCompletionStream, CompletionStream
from .transport import asend, astream, send, stream

if TYPE_CHECKING:
    from ..decision import Decision
    from ..engine import Engine

__all__ = ["Gateway", "Pacer", "Scorer"]

#: quality in [0, 1] of an answer to a prompt
Scorer = Callable[[str, str], float]


class Pacer(Protocol):
    """Anything that sets the cost weight from the spend it observes (see `gateway.pacing`)."""

    @property
    def cost_weight(self) -> float: ...

    def observe(self, cost_usd: float) -> None: ...


class Gateway:
    """Calls the models an `Engine` chooses, with failover, guards, caches and learning.

    Parameters
    ----------
    engine : Engine
        Chooses and learns; its registry's models need ``connection`` settings.
    client, async_client : httpx.Client, httpx.AsyncClient, optional
        Shared connection pools (default: made here, with ``transport`` / ``async_transport``).
    guards : Guards, optional
        Circuit breaker, rate limits and budgets (default: a breaker and the registry's limits).
    retry : RetryPolicy, optional
        Retries per model before falling back (default: 2 attempts, back-off with jitter).
    cache, semantic_cache : ExactCache, SemanticCache, optional
        Response caches; only deterministic requests (temperature 0) use them unless
        ``cache_any=True``. A hit makes no call and teaches the engine nothing.
    pacer : Pacer, optional
        Sets the engine's cost weight λ before each decision and observes each cost.
    presets : mapping of str to Constraints
        Named constraint sets chosen per call with ``preset=``.
    scorer : "evaluator", callable or None
        How an answer's quality is found: the engine's evaluator, ``scorer(prompt, text)``, or
        None (the caller reports it later with ``engine.feedback(completion.decision, ...)``).
    timeout_s : float
        Default total deadline of one `complete` call, retries and fallbacks included.
    seed : int, optional
        Seed of the retry jitter.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        guards: Guards | None = None,
        retry: RetryPolicy | None = None,
        cache: ExactCache | None = None,
        semantic_cache: SemanticCache | None = None,
        cache_any: bool = False,
        pacer: Pacer | None = None,
        presets: Mapping[str, Constraints] | None = None,
        scorer: Scorer | Literal["evaluator"] | None = "evaluator",
        timeout_s: float = 60.0,
        seed: int | None = None,
    ) -> None:
        self.engine = engine
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
        self.client = client or httpx.Client(transport=transport, limits=limits)
        self._async_client = async_client
        self._async_transport = async_transport
        self.guards = guards if guards is not None else Guards()
        self.retry = retry if retry is not None else RetryPolicy()
        self.cache, self.semantic_cache, self.cache_any = cache, semantic_cache, cache_any
        self.pacer = pacer
        self.presets = dict(presets or {})
        for name, preset in self.presets.items():
            if not isinstance(preset, Constraints):
                raise invalid(f"presets[{name!r}]", preset, "a banditroute Constraints")
        self.scorer = scorer
        if not timeout_s > 0:
            raise invalid("timeout_s", timeout_s, "> 0")
        self.timeout_s = float(timeout_s)
        self._rng = np.random.default_rng(seed)

    @property
    def async_client(self) -> httpx.AsyncClient:
        """The shared async client (made on first use, inside the running event loop)."""
        if self._async_client is None:
            limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
            self._async_client = httpx.AsyncClient(transport=self._async_transport, limits=limits)
        return self._async_client

    # -- the steps shared by sync and async calls ----------------------------------------------
    def _ready(
        self,
        prompt: str | Sequence[Message | Mapping[str, Any]],
        constraints: Constraints | None,
        preset: str | None,
        params: Mapping[str, Any],
    ) -> ReadyRequest:
        if preset is not None and preset not in self.presets:
            raise invalid("preset", preset, f"one of {sorted(self.presets)}")
        return prepare(prompt, self.presets.get(preset) if preset else None, constraints, params)

    def _cached(self, ready: ReadyRequest) -> Completion | None:
        if not (ready.deterministic or self.cache_any):
            return None
        if self.cache is not None and (hit := self.cache.get(ready.cache_key)) is not None:
            return _from_cache(hit, "exact")
        if self.semantic_cache is not None:
            vector = self.engine.embedder.embed_one(ready.prompt)
            found = self.semantic_cache.get(vector, None, text=ready.prompt)
            if found is not None:
                return _from_cache(found.response, "semantic")
        return None

    def _plan(self, ready: ReadyRequest, tags: frozenset[str], timeout_s: float | None) -> Any:
        if self.pacer is not None:
            latency_weight = self.engine.tradeoff.latency_weight
            self.engine.tradeoff = Tradeoff(
                cost_weight=self.pacer.cost_weight, latency_weight=latency_weight
            )
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        decision = self.engine.choose(ready.prompt, ready.constraints, gate=self.guards.gate(tags))
        plan = AttemptPlan(
            decision,
            self.engine.registry,
            self.guards,
            self.retry,
            self._rng,
            deadline=deadline,
            prompt_tokens=decision.prompt_tokens,
            max_output_tokens=ready.request.max_tokens,
            tags=tags,
        )
        return decision, plan

    def _served(
        self,
        ready: ReadyRequest,
        decision: Decision,
        plan: AttemptPlan,
        step: Step,
        response: ChatResponse,
        latency_ms: float,
        scorer: Scorer | Literal["evaluator"] | None,
    ) -> Completion:
        usage, estimated = response.usage, response.usage is None
        if usage is None:
            usage = Usage(
                input_tokens=decision.prompt_tokens, output_tokens=estimate_tokens(response.text)
            )
        cost = step.profile.cost_usd(usage.input_tokens, usage.output_tokens)
        plan.succeeded(step, cost, latency_ms)
        if self.pacer is not None:
            self.pacer.observe(cost)
        outcome = self._learn(ready, decision, plan, step, response.text, cost, latency_ms, scorer)
        completion = Completion(
            text=response.text,
            model=step.profile.id,
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
        self._remember(ready, completion)
        return completion

    def _learn(
        self,
        ready: ReadyRequest,
        decision: Decision,
        plan: AttemptPlan,
        step: Step,
        text: str,
        cost: float,
        latency_ms: float,
        scorer: Scorer | Literal["evaluator"] | None,
    ) -> Any:
        """Feed the outcome back: the decision's own model, or its failure then the fallback."""
        served = step.profile.id
        out_tokens = float(estimate_tokens(text))
        if served != decision.model:
            self._fail(decision, plan)
            if scorer is not None:
                self.engine.observe(
                    ready.prompt,
                    served,
                    quality=self._score(scorer, ready.prompt, text),
                    cost_usd=cost,
                    latency_ms=latency_ms,
                    output_tokens=out_tokens,
                )
            return None
        if scorer is None:
            return None
        quality: float | None = None
        response: str | None = text  # the engine's evaluator scores it
        if scorer != "evaluator":
            quality, response = self._score(scorer, ready.prompt, text), None
        return self.engine.feedback(
            decision,
            quality=quality,
            response=response,
            cost_usd=cost,
            latency_ms=latency_ms,
            output_tokens=out_tokens,
        )

    def _score(self, scorer: Scorer | Literal["evaluator"], prompt: str, text: str) -> float:
        if scorer == "evaluator":
            return self.engine.evaluator.evaluate(prompt, text).total
        return float(scorer(prompt, text))

    def _fail(self, decision: Decision, plan: AttemptPlan) -> None:
        """The decision's own model failed (or was skipped): that is its outcome."""
        own = [a for a in plan.attempts if a.model == decision.model]
        error = own[-1].error if own else "not called"
        latency = sum(a.latency_ms for a in own) or None
        self.engine.feedback(decision, error=error or "failed", latency_ms=latency)

    def _remember(self, ready: ReadyRequest, completion: Completion) -> None:
        if not (ready.deterministic or self.cache_any) or completion.tool_calls:
            return
        usage = completion.usage
        entry = CachedResponse(
            completion.text,
            completion.model,
            time.time(),
            None if usage is None else usage.input_tokens,
            None if usage is None else usage.output_tokens,
        )
        if self.cache is not None:
            self.cache.put(ready.cache_key, entry)
        if self.semantic_cache is not None:
            vector = self.engine.embedder.embed_one(ready.prompt)
            self.semantic_cache.put(vector, completion.model, entry, text=ready.prompt)

    # -- sync ---------------------------------------------------------------------------------
    def complete(
        self,
        prompt: str | Sequence[Message | Mapping[str, Any]],
        constraints: Constraints | None = None,
        *,
        preset: str | None = None,
        tags: Sequence[str] = (),
        timeout_s: float | None = None,
        scorer: Scorer | Literal["evaluator"] | object | None = ...,
        stream: bool = False,
        **params: Any,
    ) -> Any:
        """Serve one request: a `Completion`, or with ``stream=True`` a `CompletionStream`.

        ``params`` are request fields (``max_tokens``, ``temperature``, ``stop``, ``tools``,
        ``tool_choice``, ``response_format``) or provider-specific body fields. Raises
        `NoFeasibleModel` when no model may serve, `CompletionFailed` (listing every attempt)
        when none answered within ``timeout_s``.
        """
        ready = self._ready(prompt, constraints, preset, params)
        how: Any = self.scorer if scorer is ... else scorer
        if not stream and (hit := self._cached(ready)) is not None:
            return hit
        decision, plan = self._plan(ready, frozenset(tags), timeout_s)
        if stream:
            return CompletionStream(self, ready, decision, plan, how)
        while (step := plan.next_step()) is not None:
            if step.wait_s:
                time.sleep(step.wait_s)
            if (step := plan.admit(step)) is None:
                continue
            started = time.perf_counter()
            try:
                response = send(
                    self.client,
                    step.connection,
                    ready.request,
                    model_id=step.profile.id,
                    deadline=step.deadline,
                )
            except ProviderError as exc:
                plan.failed(step, exc, _ms(started))
                continue
            return self._served(ready, decision, plan, step, response, _ms(started), how)
        self._fail(decision, plan)
        raise plan.exhausted()

    # -- async --------------------------------------------------------------------------------
    async def acomplete(
        self,
        prompt: str | Sequence[Message | Mapping[str, Any]],
        constraints: Constraints | None = None,
        *,
        preset: str | None = None,
        tags: Sequence[str] = (),
        timeout_s: float | None = None,
        scorer: Scorer | Literal["evaluator"] | object | None = ...,
        stream: bool = False,
        **params: Any,
    ) -> Any:
        """Async `complete` (one shared ``httpx.AsyncClient``); with ``stream=True`` an
        `AsyncCompletionStream`."""
        ready = self._ready(prompt, constraints, preset, params)
        how: Any = self.scorer if scorer is ... else scorer
        if not stream and (hit := self._cached(ready)) is not None:
            return hit
        decision, plan = self._plan(ready, frozenset(tags), timeout_s)
        if stream:
            return AsyncCompletionStream(self, ready, decision, plan, how)
        while (step := plan.next_step()) is not None:
            if step.wait_s:
                await asyncio.sleep(step.wait_s)
            if (step := plan.admit(step)) is None:
                continue
            started = time.perf_counter()
            try:
                response = await asend(
                    self.async_client,
                    step.connection,
                    ready.request,
                    model_id=step.profile.id,
                    deadline=step.deadline,
                )
            except ProviderError as exc:
                plan.failed(step, exc, _ms(started))
                continue
            return self._served(ready, decision, plan, step, response, _ms(started), how)
        self._fail(decision, plan)
        raise plan.exhausted()

    def check_health(self) -> dict[str, str | None]:
        """Probe the cooled-down models whose cooldown is over (see `gateway.health`)."""
        from .health import check_health

        return check_health(self.engine.registry, self.guards.breaker, self.client)

    def close(self) -> None:
        """Close the sync client (the async one: `aclose`)."""
        self.client.close()

    async def aclose(self) -> None:
        """Close both clients."""
        self.client.close()
        if self._async_client is not None:
            await self._async_client.aclose()

    # the stream classes call the transport through these, so tests can see one seam
    _stream = staticmethod(stream)
    _astream = staticmethod(astream)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _from_cache(hit: CachedResponse, kind: str) -> Completion:
    usage = None
    if hit.input_tokens is not None and hit.output_tokens is not None:
        usage = Usage(input_tokens=hit.input_tokens, output_tokens=hit.output_tokens)
    return Completion(hit.text, hit.model, 0.0, 0.0, usage=usage, cache=kind)
