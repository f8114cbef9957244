"""`Gateway`: choose → call → fail over → measure → score → learn, in one step.

One `Gateway` serves one `Engine` over one shared ``httpx.Client`` and ``httpx.AsyncClient``
(pass ``transport=`` / ``async_transport=`` to test without a network). Before the decision it
tries the response caches; the decision step is told which models are cooled down, rate-limited
or over budget (shown in ``decision.explain()``); the ranked models are then tried in order with
retries (`AttemptPlan`); the served answer's cost comes from the registry's prices × the usage
the provider reported; its quality (the engine's evaluator, a scorer of yours, or none) is fed
back; a budget pacer, if any, sets the engine's cost weight before each decision. Every call
that ends (served, failed or a cache hit) is a row of the decision log's ``calls`` table.

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

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
import numpy as np

from ..constraints import Constraints
from ..errors import invalid
from ..reward import Tradeoff
from .arguments import check_call, check_presets, check_scorer, check_setup
from .async_pool import make_async_client
from .attempts import AttemptPlan
from .cache import ExactCache
from .completion import Completion
from .guards import Guards
from .messages import Message
from .outcomes import Outcomes, Scorer
from .request import ReadyRequest, prepare
from .response_caches import ResponseCaches
from .retry import RetryPolicy
from .semantic_cache import SemanticCache
from .serving import aserve, serve, served
from .streaming import AsyncCompletionStream, CompletionStream
from .transport import astream, stream

if TYPE_CHECKING:
    from ..decision import Decision
    from ..engine import Engine

__all__ = ["Gateway", "Pacer", "Scorer"]


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
        self.timeout_s = check_setup(
            engine,
            timeout_s,
            seed,
            client=client,
            async_client=async_client,
            transport=transport,
            async_transport=async_transport,
            guards=guards,
            retry=retry,
            cache=cache,
            semantic_cache=semantic_cache,
            cache_any=cache_any,
            pacer=pacer,
        )
        self.presets = check_presets(presets)
        check_scorer(scorer)
        self.engine = engine
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
        self.client = client or httpx.Client(transport=transport, limits=limits)
        self._async_client = async_client
        self._async_transport = async_transport
        self.guards = guards if guards is not None else Guards()
        self.retry = retry if retry is not None else RetryPolicy()
        self.caches = ResponseCaches(cache, semantic_cache, bool(cache_any), engine.embedder)
        self._outcomes = Outcomes(engine)
        self.pacer = pacer
        self.scorer = scorer
        self._rng = np.random.default_rng(seed)

    @property
    def async_client(self) -> httpx.AsyncClient:
        """The shared async client, made on first use inside the running event loop (under
        asyncio: httpx over aiohttp's connector, see `gateway.async_pool`)."""
        if self._async_client is None:
            self._async_client = make_async_client(self._async_transport)
        return self._async_client

    @property
    def cache(self) -> ExactCache | None:
        """The exact response cache, if any."""
        return self.caches.cache

    @property
    def semantic_cache(self) -> SemanticCache | None:
        """The semantic response cache, if any."""
        return self.caches.semantic_cache

    @property
    def cache_any(self) -> bool:
        """True when sampled requests use the caches too."""
        return self.caches.cache_any

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

    def _cached(self, ready: ReadyRequest, tags: frozenset[str]) -> Completion | None:
        """A cached answer (logged as a hit; it teaches nothing), or None."""
        hit = self.caches.lookup(ready)
        if hit is not None:
            self._outcomes.log_call(None, (), tags, model=hit.model, cache=hit.cache or "")
        return hit

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

    def _fail(self, decision: Decision, plan: AttemptPlan) -> None:
        """The call failed: the decision's own model's failure is fed back, the call logged."""
        self._outcomes.fail(decision, plan)
        latency = sum(a.latency_ms for a in plan.attempts)
        self._outcomes.log_call(decision, plan.attempts, plan.tags, ok=False, latency_ms=latency)

    def _start(
        self,
        prompt: str | Sequence[Message | Mapping[str, Any]],
        constraints: Constraints | None,
        preset: str | None,
        tags: Sequence[str],
        timeout_s: float | None,
        scorer: object,
        stream: bool,
        params: Mapping[str, Any],
    ) -> Completion | tuple[ReadyRequest, Any, Any, Any]:
        """What sync and async calls share before the first attempt: the checked arguments, the
        ready request, a cache hit (returned as is) or the decision and its attempt plan."""
        tag_set, timeout = check_call(
            preset=preset,
            presets=self.presets,
            tags=tags,
            timeout_s=timeout_s,
            scorer=scorer,
            stream=stream,
        )
        ready = self._ready(prompt, constraints, preset, params)
        if not stream and (hit := self._cached(ready, tag_set)) is not None:
            return hit
        decision, plan = self._plan(ready, tag_set, timeout)
        return ready, decision, plan, self.scorer if scorer is ... else scorer

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
        started = self._start(prompt, constraints, preset, tags, timeout_s, scorer, stream, params)
        if isinstance(started, Completion):
            return started
        ready, decision, plan, how = started
        if stream:
            return CompletionStream(self, ready, decision, plan, how)
        return serve(self, ready, decision, plan, how)

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
        started = self._start(prompt, constraints, preset, tags, timeout_s, scorer, stream, params)
        if isinstance(started, Completion):
            return started
        ready, decision, plan, how = started
        if stream:
            return AsyncCompletionStream(self, ready, decision, plan, how)
        return await aserve(self, ready, decision, plan, how)

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
    _served = served  # the answer of an attempt → its Completion (also used by the streams)
