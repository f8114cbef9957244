"""One property over the whole public API: whatever a caller passes, the only exceptions that
escape are banditroute's own (`BanditRouteError` and its subclasses) and the caller's own.

Every argument slot of every public entry point gets every value of `EDGES` (None, bools, huge
and negative ints, NaN / inf / -0.0 / 1e308, empty / NUL / lone-surrogate / 100k-character
strings, bytes, nested and 5,000-deep containers, numpy scalars and arrays, objects whose
protocols raise) and then hypothesis' own draws from `HOSTILE`; the gateway also gets arbitrary
provider statuses, headers and bodies through an ``httpx.MockTransport``.

What counts as the caller's own, and may propagate unchanged (decided per case):

* `CallerError`, raised by a `Trap` object's ``__float__``, ``__index__``, ``__eq__``,
  ``__hash__``, ``__len__``, ``__iter__``, ``__bool__`` or ``__fspath__``: reading a value
  through its own protocol is the caller's code running;
* whatever a callback the caller passes raises when it is called (a gate, a scorer): `RAISER`.
  A callback answering nonsense (`JUNK`) is refused as `InvalidInput` where its answer is read.

Each returned decision is explained (`Decision.explain`), and `VALID` checks that the harness
reaches the library: a valid value in the same slots raises nothing at all.

Never allowed: an exception from a hostile ``__repr__`` / ``__str__`` (`ReprBomb`): error
messages must be built without trusting them. Out of scope: a call that does not match the
signature (Python's own TypeError before any library code runs), and constructing the returned
record types (`Decision`, `Outcome`, ...) by hand.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import banditroute as br
from banditroute import BanditRouteError, Constraints, Engine, HashingEmbedder, ModelProfile
from banditroute import gateway as gw
from banditroute.evaluation import Evaluator
from banditroute.gateway import Connection, Gateway, GatewayConfig, RetryPolicy
from banditroute.store import DecisionStore, ask, parse_question

# Absurd but finite settings that are accepted (a prior precision of 5e-324, an exploration of
# 1e308) overflow inside the posteriors: numerical warnings, not exceptions, so not this file's
# property.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class CallerError(Exception):
    """Raised by the caller's own objects and callbacks: allowed to propagate."""


class ReprBoom(Exception):
    """Raised by a hostile ``__repr__``: never allowed to escape."""


def _boom(*_: object, **__: object) -> Any:
    raise CallerError("the caller's own code raised")


class Trap:
    """Every protocol the library might read a value through raises `CallerError`."""

    __float__ = __int__ = __index__ = __eq__ = __hash__ = __len__ = __iter__ = _boom
    __bool__ = __fspath__ = __lt__ = __gt__ = __getitem__ = __contains__ = _boom


class ReprBomb:
    """An object whose ``repr`` and ``str`` raise."""

    def __repr__(self) -> str:
        raise ReprBoom("repr")

    __str__ = __repr__


def _nested(depth: int, make: Callable[[Any], Any]) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = make(value)
    return value


RAISER = _boom  # a callback that raises: the caller's exception
JUNK = lambda *_, **__: object()  # noqa: E731 - a callback that returns nonsense
EDGES: list[Any] = [
    None, True, False, 0, 1, -1, 2**63, 2**64, 10**400, -(10**400),
    math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 1j,
    "", " ", "\ud800", "a\x00b", "x" * 100_000, "hello world", "0.1", "sk-" + "a1" * 24,
    b"bytes", bytearray(b"x"), [], [1, "a"], ["\ud800"], {}, {"a": 1}, {1: 2}, (), (1,), {1, 2},
    frozenset({"code"}), [[[]]], {"a": {"b": [None]}},
    _nested(5000, lambda v: [v]), _nested(5000, lambda v: {"a": v}),
    Trap(), ReprBomb(), object(), Ellipsis, Decimal("NaN"), Fraction(1, 3), RAISER, JUNK,
    np.float64("nan"), np.float32(1e38), np.int64(-5), np.uint64(2**64 - 1), np.bool_(True),
    np.array(3.0), np.array([1.0, np.nan]), np.zeros((2, 2)), np.array(["a", "b"]),
    np.array([], dtype=float), np.ones(64), np.full(64, np.inf),
]  # fmt: skip


def _edge(index: int) -> Any:
    return EDGES[index]


_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.binary(max_size=8), st.integers(0, len(EDGES) - 1).map(_edge),
    st.builds(np.float64, st.floats()), st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.lists(st.floats(), max_size=70).map(np.array),
)  # fmt: skip
HOSTILE = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3)
    ),
    max_leaves=6,
)


STRICT: list[bool] = []  # non-empty: no error at all is expected (valid arguments)


def attempt(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call; let only banditroute's errors and the caller's own through (both swallowed)."""
    try:
        return call(*args, **kwargs)
    except (BanditRouteError, CallerError):
        if STRICT:
            raise
        return None


def under(folder: Path, value: Any) -> Any:
    """A str becomes a path inside ``folder`` (never ``..``, never absolute): no test writes
    outside its temporary folder; any other value is passed as it is."""
    return f"{folder}/{value.replace('..', '__')}" if isinstance(value, str) else value


# -- the world the calls run in -----------------------------------------------------------------
LOCAL = Connection(base_url="http://127.0.0.1:9/v1")
REPLY = b'{"choices": [{"message": {"content": "Hi!"}, "finish_reason": "stop"}], "usage": {}}'
RESPONSE: dict[str, Any] = {"status": 200, "body": REPLY, "headers": {}}


def _respond(request: httpx.Request) -> httpx.Response:
    return httpx.Response(RESPONSE["status"], content=RESPONSE["body"], headers=RESPONSE["headers"])


def small_engine(**kwargs: Any) -> Engine:
    registry = br.Registry.load(br.example_registry_path())
    return Engine(registry, **{"embedder": HashingEmbedder(64), "seed": 0, **kwargs})


def gateway(**kwargs: Any) -> Gateway:
    options: dict[str, Any] = {
        "transport": httpx.MockTransport(_respond),
        "async_transport": httpx.MockTransport(_respond),
        "retry": RetryPolicy(max_attempts=1, base_delay_s=0, max_delay_s=0),
        "scorer": None,
        "timeout_s": 5,
        "presets": {"ops": Constraints(max_cost_usd=1)},
    }
    return Gateway(WORLD["gateway_engine"], **{**options, **kwargs})


WORLD: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("public_api")
    logged = small_engine(store=tmp / "log")
    for prompt in ("write a sort in python", "prove that 2 is prime", "hello there"):
        logged.feedback(logged.choose(prompt), quality=0.5, cost_usd=0.001, latency_ms=10)
    logged.store.flush()
    engine = small_engine()
    engine.feedback(engine.choose("a prompt"), quality=0.7)
    engine.save(tmp / "saved")
    models = [
        ModelProfile(id=f"m{i}", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1,
                     connection=LOCAL)
        for i in range(2)
    ]  # fmt: skip
    WORLD.update(
        tmp=tmp,
        engine=engine,
        saved=tmp / "saved",
        logged=logged,
        store=DecisionStore(tmp / "log", embedding_dim=64, read_only=True),
        gateway_engine=Engine(models, embedder=HashingEmbedder(64), seed=0),
        registry_file=br.example_registry_path(),
    )
    yield WORLD
    WORLD["store"].close()
    logged.close()


# -- the argument slots ---------------------------------------------------------------------------
def _use_engine(made: Engine | None) -> None:
    """A constructed engine is used, so an accepted argument cannot fail later instead."""
    if made is not None:
        decision = attempt(made.choose, "write a function that adds two numbers")
        if decision is not None:
            decision.explain()
            attempt(made.feedback, decision, quality=0.5, cost_usd=0.001, latency_ms=5.0)
        made.close()


def _kw(call: Callable[..., Any], name: str, **base: Any) -> Callable[[Any], None]:
    """The slot ``name`` of ``call`` (the other arguments from ``base``)."""
    return lambda v: attempt(call, **{**base, name: v})


def _engine_with(name: str) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        if name == "embedder" and v is None:
            return  # the default MiniLM embedder: seconds to load, nothing hostile about it
        _use_engine(
            attempt(small_engine, **{name: under(WORLD["tmp"], v) if name == "store" else v})
        )

    return call


def _policy_with(cls: type, name: str, **base: Any) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        policy = attempt(cls, **{**base, name: v})
        if policy is not None:
            _use_engine(attempt(small_engine, policy=policy))

    return call


def _feedback(name: str, **base: Any) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        engine = WORLD["engine"]
        attempt(engine.feedback, engine.choose("summarise this text"), **{**base, name: v})

    return call


def _observe(name: str) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        fields: dict[str, Any] = {"quality": 0.5, name: v}
        attempt(WORLD["engine"].observe, "a prompt", "claude-v2", **fields)

    return call


def _choose(**slot: Any) -> None:
    decision = attempt(WORLD["engine"].choose, slot.pop("prompt", "a prompt"), **slot)
    if decision is not None:
        decision.explain()


def _set_tradeoff(v: Any) -> None:
    engine = WORLD["engine"]
    before = engine.tradeoff
    attempt(setattr, engine, "tradeoff", v)
    engine.tradeoff = before


def _attach(v: Any) -> None:
    engine = small_engine()
    attempt(engine.attach_store, under(WORLD["tmp"], v), "test")
    engine.close()


_FRESH = itertools.count()


def _store_with(name: str) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        folder = WORLD["tmp"] / "stores" / str(next(_FRESH))  # a fresh folder per call
        args: dict[str, Any] = {"path": folder, "background": False}
        args[name] = under(WORLD["tmp"], v) if name == "path" else v
        store = attempt(DecisionStore, **args)
        if store is not None:
            store.close()

    return call


def _complete(**slot: Any) -> None:
    prompt = slot.pop("prompt", "say hi")
    g = attempt(gateway, scorer=slot.pop("gateway_scorer", None))
    if g is None:
        return
    completion = attempt(g.complete, prompt, **slot)
    if completion is not None and hasattr(completion, "decision"):
        completion.decision.explain()
    g.close()


def _made_gateway(name: str) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        made = attempt(gateway, **{name: v})
        if made is not None:
            attempt(made.complete, "say hi")
            made.close()

    return call


def _evaluator(name: str) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        made = attempt(Evaluator, **{name: v})
        if made is not None:
            attempt(made.evaluate, "name a prime", "seven is prime")

    return call


def _part_slots() -> dict[str, Callable[[Any], None]]:
    """Every constructor argument of the gateway's public parts (`banditroute.gateway`)."""
    bases: dict[str, dict[str, Any]] = {
        "Budget": {"name": "b", "limit_usd": 1.0, "period": "day"},
        "BudgetBook": {"budgets": [gw.Budget(name="b", limit_usd=1.0, period="day")]},
        "ChatRequest": {"messages": [{"role": "user", "content": "hi"}]},
        "ChatResponse": {}, "CircuitBreaker": {}, "Connection": {"base_url": "http://127.0.0.1:9"},
        "CostPacer": {"target_usd_per_request": 0.01}, "ExactCache": {}, "Guards": {},
        "Message": {"role": "user"}, "RateLimiter": {}, "RetryPolicy": {},
        "SemanticCache": {"folder": None, "dim": 8}, "StreamChunk": {},
        "Usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip
    slots: dict[str, Callable[[Any], None]] = {}
    for name, base in bases.items():
        cls = getattr(gw, name)
        for p in inspect.signature(cls).parameters.values():
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                slots[f"{name}({p.name})"] = _part_with(cls, p.name, base)
    return slots


def _part_with(cls: type, name: str, base: dict[str, Any]) -> Callable[[Any], None]:
    def call(v: Any) -> None:
        made = attempt(cls, **{**base, name: under(WORLD["tmp"], v) if name == "folder" else v})
        if made is not None and hasattr(made, "close"):
            made.close()

    return call


EV = Evaluator(embedder=HashingEmbedder(16))
PROFILE = {"id": "m", "provider": "p", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
SLOTS: dict[str, Callable[[Any], None]] = {
    **{f"Constraints({f})": _kw(Constraints, f) for f in Constraints.model_fields},
    **{f"ModelProfile({f})": _kw(ModelProfile, f, **PROFILE) for f in ModelProfile.model_fields},
    **{f"Tradeoff({f})": _kw(br.Tradeoff, f) for f in br.Tradeoff.model_fields},
    "Registry(models)": lambda v: attempt(br.Registry, v),
    "Registry([model])": lambda v: attempt(br.Registry, [v]),
    "Registry.load(path)": lambda v: attempt(br.Registry.load, under(WORLD["tmp"], v)),
    "Registry.save(path)": lambda v: attempt(WORLD["engine"].registry.save, under(WORLD["tmp"], v)),
    "Registry.from_records": lambda v: attempt(br.Registry.from_records, {"model": [v]}),
    "Registry[id]": lambda v: attempt(WORLD["engine"].registry.__getitem__, v),
    "ModelProfile.cost_usd": lambda v: attempt(ModelProfile(**PROFILE).cost_usd, v, 10),
    "Tradeoff.reward": lambda v: attempt(br.Tradeoff().reward, 0.5, v, 1.0),
    "Engine(models)": lambda v: _use_engine(attempt(Engine, v, embedder=HashingEmbedder(16))),
    "Engine([model])": lambda v: _use_engine(attempt(Engine, [v], embedder=HashingEmbedder(16))),
    **{f"Engine({n})": _engine_with(n) for n in (
        "policy", "embedder", "context", "tradeoff", "estimator", "max_pending", "drift",
        "evaluator", "store", "seed")},
    "HashingEmbedder(dim)": lambda v: attempt(HashingEmbedder, v),
    "MiniLMEmbedder(batch_size)": lambda v: attempt(br.MiniLMEmbedder, v),
    "CachedEmbedder(inner)": lambda v: attempt(br.CachedEmbedder, v),
    "CachedEmbedder(max_entries)": lambda v: attempt(br.CachedEmbedder, HashingEmbedder(8), v),
    **{f"ContextBuilder({n})": _kw(br.ContextBuilder, n)
       for n in ("embedding_dim", "n_components", "seed")},
    **{f"CallEstimator({n})": _kw(br.CallEstimator, n)
       for n in ("default_output_tokens", "latency_halflife")},
    **{f"DriftMonitor({n})": _kw(br.DriftMonitor, n)
       for n in ("detector", "delta", "signals", "min_observations", "quality_drops_only",
                 "response", "shrink_factor", "probe_every", "probation", "seed")},
    **{f"{cls.__name__}({n})": _policy_with(cls, n)
       for cls, own in ((br.LinearThompsonSampling, "exploration"), (br.EpsilonGreedy, "epsilon"),
                        (br.LinUCB, "alpha"), (br.RandomPolicy, "discount"))
       for n in (own, "prior_quality", "prior_precision", "noise_variance", "pooled_prior",
                 "seed")},
    "FixedModel(model)": _policy_with(br.FixedModel, "model"),
    "choose(prompt)": lambda v: _choose(prompt=v),
    "choose(constraints)": lambda v: _choose(constraints=v),
    "choose(embedding)": lambda v: _choose(embedding=v),
    "choose(gate)": lambda v: _choose(gate=v),
    "feedback(decision)": lambda v: attempt(WORLD["engine"].feedback, v, quality=0.5),
    **{f"feedback({n})": _feedback(n) for n in (
        "quality", "cost_usd", "latency_ms", "error", "response", "prompt", "output_tokens")},
    **{f"feedback(quality=0.5, {n})": _feedback(n, quality=0.5) for n in (
        "cost_usd", "latency_ms", "error", "response", "output_tokens")},
    "observe(prompt)": lambda v: attempt(WORLD["engine"].observe, v, "claude-v2", quality=0.5),
    "observe(model)": lambda v: attempt(WORLD["engine"].observe, "a prompt", v, quality=0.5),
    "observe(embedding)": lambda v: attempt(
        WORLD["engine"].observe, "a prompt", "claude-v2", embedding=v, quality=0.5
    ),
    **{f"observe({n})": _observe(n) for n in ("quality", "cost_usd", "latency_ms",
                                             "output_tokens")},
    "save(path)": lambda v: attempt(WORLD["engine"].save, under(WORLD["tmp"], v)),
    "load(path)": lambda v: attempt(Engine.load, under(WORLD["tmp"], v)),
    "load(embedder)": lambda v: attempt(Engine.load, WORLD["saved"], embedder=v),
    "load(store)": lambda v: attempt(Engine.load, WORLD["saved"], store=under(WORLD["tmp"], v)),
    "from_registry(path)": lambda v: attempt(Engine.from_registry, under(WORLD["tmp"], v)),
    "ask(question)": lambda v: attempt(WORLD["logged"].ask, v),
    "ask(evidence)": lambda v: attempt(WORLD["logged"].ask, "best model for code?", evidence=v),
    "add_model": lambda v: attempt(WORLD["engine"].add_model, v),
    "remove_model": lambda v: attempt(WORLD["engine"].remove_model, v),
    "deprecate_model": lambda v: attempt(WORLD["engine"].deprecate_model, v),
    "deprecate_model(replacement)": lambda v: attempt(
        WORLD["engine"].deprecate_model, "claude-v1", v
    ),
    "tradeoff =": _set_tradeoff,
    "attach_store(store)": _attach,
    "DecisionStore(path)": _store_with("path"),
    **{f"DecisionStore({n})": _store_with(n) for n in (
        "embedding_dim", "embedder", "redact", "flush_rows", "flush_interval_s", "outcome_wait_s",
        "background", "max_queued", "retry_max_s", "close_timeout_s", "read_only")},
    "store.ask(store)": lambda v: attempt(ask, v, "which model is best?", HashingEmbedder(64)),
    "store.ask(question)": lambda v: attempt(ask, WORLD["store"], v, HashingEmbedder(64)),
    "store.ask(embedder)": lambda v: attempt(ask, WORLD["store"], "best model for code?", v),
    "store.ask(now)": lambda v: attempt(ask, WORLD["store"], "spend today", HashingEmbedder(64),
                                        now=v),
    "store.ask(evidence)": lambda v: attempt(
        ask, WORLD["store"], "best model for code?", HashingEmbedder(64), evidence=v
    ),
    **{f"Evaluator({n})": _evaluator(n) for n in ("weights", "embedder", "response_chars",
                                                  "penalty")},
    "evaluate(prompt)": lambda v: attempt(EV.evaluate, v, "an answer"),
    "evaluate(response)": lambda v: attempt(EV.evaluate, "a prompt", v),
    "evaluate_many(prompts)": lambda v: attempt(EV.evaluate_many, v, ["an answer"]),
    "partial_fit(labels)": lambda v: attempt(EV.partial_fit, ["p"], ["r"], v),
    "GatewayConfig.load(path)": lambda v: attempt(GatewayConfig.load, under(WORLD["tmp"], v)),
    "GatewayConfig.from_records": lambda v: attempt(GatewayConfig.from_records, v),
    **{f"GatewayConfig({n})": _kw(GatewayConfig, n) for n in GatewayConfig.model_fields},
    "GatewayConfig(preset={x: v})": lambda v: attempt(GatewayConfig, preset={"x": v}),
    "GatewayConfig.build(engine)": lambda v: attempt(GatewayConfig().build, v),
    "Gateway(engine)": lambda v: attempt(Gateway, v),
    **{f"Gateway({n})": _made_gateway(n) for n in (
        "client", "async_client", "transport", "async_transport", "guards", "retry", "cache",
        "semantic_cache", "cache_any", "pacer", "presets", "scorer", "timeout_s", "seed")},
    "complete(prompt)": lambda v: _complete(prompt=v),
    "complete([message])": lambda v: _complete(prompt=[v]),
    "complete([{content}])": lambda v: _complete(prompt=[{"role": "user", "content": v}]),
    "complete([{role}])": lambda v: _complete(prompt=[{"role": v, "content": "hi"}]),
    **{f"complete({n})": _kw(_complete, n) for n in (
        "constraints", "preset", "tags", "timeout_s", "scorer", "stream", "max_tokens",
        "temperature", "stop", "tools", "tool_choice", "response_format", "user", "model")},
    "Gateway(scorer).complete": lambda v: _complete(gateway_scorer=v),
    "DecisionStore.table(name)": lambda v: attempt(WORLD["store"].table, v),
    "DecisionStore.count(where)": lambda v: attempt(WORLD["store"].count, v),
    "parse_question(text)": lambda v: attempt(parse_question, v, ["claude-v2"]),
    "parse_question(known_models)": lambda v: attempt(parse_question, "best model?", v),
    "parse_question(now)": lambda v: attempt(parse_question, "spend last week", [], v),
    **_part_slots(),
}  # fmt: skip


REGISTRY_FILE = br.example_registry_path()
VALID: dict[str, Any] = {
    "Constraints(max_cost_usd)": 0.1,
    "Constraints(capabilities)": ["code"],
    "Constraints(deny_models)": {"claude-v1"},
    "Constraints(force_model)": "claude-v2",
    "Constraints(expected_output_tokens)": 100,
    "ModelProfile(capabilities)": ("code", "math"),
    "ModelProfile(connection)": {"base_url": "http://127.0.0.1:9/v1"},
    "Tradeoff(cost_weight)": 10.0,
    "Registry.load(path)": REGISTRY_FILE,
    "Registry[id]": "claude-v2",
    "ModelProfile.cost_usd": np.int64(100),
    "Tradeoff.reward": 0.001,
    "Engine(models)": [ModelProfile(**{**PROFILE, "id": "solo"})],
    "Engine(embedder)": HashingEmbedder(32),
    "Engine(context)": br.ContextBuilder(64, 16),
    "Engine(tradeoff)": br.Tradeoff(cost_weight=1.0),
    "Engine(estimator)": br.CallEstimator(),
    "Engine(drift)": br.DriftMonitor(),
    "Engine(max_pending)": 10,
    "Engine(seed)": np.int64(3),
    "CachedEmbedder(inner)": HashingEmbedder(8),
    "ContextBuilder(n_components)": None,
    "DriftMonitor(signals)": ["quality"],
    "LinearThompsonSampling(exploration)": 0.5,
    "EpsilonGreedy(epsilon)": 0.2,
    "LinUCB(alpha)": 2,
    "FixedModel(model)": "claude-v2",
    "choose(prompt)": "Write a haiku about routers",
    "choose(constraints)": Constraints(max_cost_usd=1.0),
    "choose(embedding)": np.ones(64) / 8,
    "choose(gate)": lambda model, estimate, tokens: None,
    "feedback(quality)": 0.9,
    "feedback(error)": "HTTP 500",
    "feedback(response)": "Here is a haiku.",
    "feedback(quality=0.5, cost_usd)": 0.002,
    "observe(model)": "claude-v2",
    "observe(embedding)": np.ones(64) / 8,
    "save(path)": None,  # filled in below: a folder under the test's tmp folder
    "load(embedder)": HashingEmbedder(64),
    "from_registry(path)": REGISTRY_FILE,
    "ask(question)": "Which model is best for code?",
    "ask(evidence)": 10,
    "tradeoff =": br.Tradeoff(latency_weight=0.001),
    "DecisionStore(embedder)": "hashing64",
    "DecisionStore(flush_rows)": 10,
    "store.ask(question)": "How much did we spend by model?",
    "store.ask(evidence)": 5,
    "Evaluator(response_chars)": 100,
    "evaluate(response)": "Seven is a prime number.",
    "evaluate_many(prompts)": ["Name a prime"],
    "partial_fit(labels)": [0.5],
    "GatewayConfig.load(path)": REGISTRY_FILE,
    "GatewayConfig.from_records": {"gateway": {"timeout_s": 5}},
    "GatewayConfig(preset={x: v})": {"max_cost_usd": 0.01},
    "Gateway(timeout_s)": 2.5,
    "Gateway(scorer)": "evaluator",
    "complete(prompt)": "Say hi",
    "complete([{content}])": "Say hi",
    "complete(preset)": "ops",
    "complete(tags)": ["team-a"],
    "complete(timeout_s)": 3,
    "complete(scorer)": lambda prompt, text: 0.75,
    "complete(stream)": True,
    "complete(max_tokens)": 50,
    "complete(temperature)": 0,
    "complete(stop)": ["\n\n"],
    "complete(response_format)": "json",
    "complete(user)": "\ud800 someone",
    "Gateway(scorer).complete": lambda prompt, text: 1.0,
}


@pytest.mark.parametrize("slot", sorted(VALID))
def test_valid_values_in_the_same_slots_succeed(slot: str) -> None:
    """The harness reaches the library: a valid value in a slot raises nothing at all."""
    value = VALID[slot] if slot != "save(path)" else WORLD["tmp"] / "saved-again"
    STRICT.append(True)
    try:
        SLOTS[slot](value)
    finally:
        STRICT.clear()


@pytest.mark.parametrize("slot", sorted(SLOTS))
def test_every_edge_value_in_every_slot_fails_typed(slot: str) -> None:
    for value in EDGES:
        SLOTS[slot](value)


@pytest.mark.parametrize("slot", sorted(SLOTS))
@SETTINGS
@given(value=HOSTILE)
def test_any_value_in_any_slot_fails_typed(slot: str, value: Any) -> None:
    SLOTS[slot](value)


def test_the_gateway_errors_are_in_the_tree() -> None:
    from banditroute.gateway import errors as gateway_errors
    from banditroute.gateway.attempts import CompletionFailed

    typed = [getattr(gateway_errors, n) for n in gateway_errors.__all__ if n[0].isupper()]
    assert all(issubclass(e, BanditRouteError) for e in [*typed, CompletionFailed])


# -- what providers send back ---------------------------------------------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["choices", "message", "content", "delta", "usage", "prompt_tokens",
                         "completion_tokens", "finish_reason", "tool_calls", "function", "name",
                         "arguments", "id", "error", "type", "model", "candidates", "parts",
                         "text"]) | st.text(max_size=4),
        inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=64),
    _JSON.map(lambda v: json.dumps(v).encode()),
    _JSON.map(lambda v: b"data: " + json.dumps(v).encode() + b"\n\ndata: [DONE]\n\n"),
    st.sampled_from([b"[" * 100_000, b"\xff\xfe", b'{"choices": [{"message": {"content": '
                     b'"\\ud800"}}], "usage": {"prompt_tokens": 1e400, "completion_tokens": -1}}',
                     REPLY]),
)  # fmt: skip
STATUSES = [200, 201, 204, 400, 401, 404, 429, 500, 503, 599]
HEADERS = st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms", "content-encoding", "content-type",
                     "content-length"]),
    st.sampled_from(["nan", "-1", "1e400", "99999999999999999999", "gzip", "br", "0",
                     "text/event-stream", "application/json", "Wed, 21 Oct 2015 07:28:00 GMT"]),
    max_size=2,
)  # fmt: skip


TRICKY_BODIES = [
    b"", b"null", b"{}", b"[]", b"NaN", b"\xff\xfe\x00", b"[" * 100_000, b'{"a": ' * 5_000,
    b'{"choices": []}', b'{"choices": [null]}', b'{"choices": [{"message": null}]}',
    b'{"choices": [{"message": {"content": 5}}]}',
    b'{"choices": [{"message": {"content": "\\ud800"}, "finish_reason": 7}]}',
    b'{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 1e400,'
    b' "completion_tokens": -1}}',
    b'{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "5",'
    b' "completion_tokens": true}}',
    b'{"choices": [{"message": {"content": "hi", "tool_calls": [{"id": 1, "function": null}]}}]}',
    b'{"choices": [{"message": {"content": "hi", "tool_calls": [{"function": {"name": "",'
    b' "arguments": "[[[[[["}}]}}]}',
    b'{"error": {"message": "bad key sk-abcdefghijklmnopqrstuvwxyz0123"}}', b'{"error": [1]}',
    b'data: {"choices": [{"delta": {"content": "x"}}]}\n\ndata: [DONE]\n\n',
    b"data: " + b"[" * 100_000 + b"\n\n", b"data: {}\n\ndata: {\n\n", REPLY,
]  # fmt: skip


def serve_everything(status: int, body: bytes, headers: dict[str, str]) -> None:
    """A provider answering ``status``, ``headers`` and ``body``: complete, stream, acomplete and
    an async stream each raise only typed errors."""
    RESPONSE.update(status=status, body=body, headers=headers)
    try:
        g = gateway()
        attempt(g.complete, "say hi")
        stream = attempt(g.complete, "say hi", stream=True)
        if stream is not None:
            attempt(lambda: list(stream))

        async def run() -> None:
            await _aattempt(g.acomplete("say hi"))
            streamed = await _aattempt(g.acomplete("say hi", stream=True))
            if streamed is not None:
                await _aattempt(_drain(streamed))
            await g.aclose()

        asyncio.run(run())
    finally:
        RESPONSE.update(status=200, body=REPLY, headers={})


@pytest.mark.parametrize("status", [200, 204, 301, 400, 429, 500])
@pytest.mark.parametrize("headers", [{}, {"content-type": "text/event-stream"}])
def test_tricky_provider_answers_fail_typed(status: int, headers: dict[str, str]) -> None:
    for body in TRICKY_BODIES:
        serve_everything(status, body, headers)


@settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(status=st.sampled_from(STATUSES) | st.integers(100, 599), body=BODIES, headers=HEADERS)
def test_any_provider_answer_fails_typed(status: int, body: bytes, headers: dict[str, str]) -> None:
    serve_everything(status, body, headers)


async def _aattempt(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (BanditRouteError, CallerError):
        return None


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


@SETTINGS
@given(document=st.dictionaries(st.sampled_from(["model", "gateway", "preset", "budget",
                                                 "pacing", "other"]), _JSON, max_size=4),
       suffix=st.sampled_from([".json", ".toml"]))  # fmt: skip
def test_any_configuration_file_fails_typed(document: dict[str, Any], suffix: str) -> None:
    path = WORLD["tmp"] / f"config{suffix}"
    try:
        text = json.dumps(document) if suffix == ".json" else tomli_w.dumps(document)
    except (TypeError, ValueError):  # not expressible in TOML: write JSON into the .toml file
        text = json.dumps(document)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    attempt(br.Registry.load, path)
    config = attempt(GatewayConfig.load, path)
    if config is not None:
        attempt(config.build, WORLD["gateway_engine"])
    _use_engine(attempt(Engine.from_registry, path, embedder=HashingEmbedder(16)))
