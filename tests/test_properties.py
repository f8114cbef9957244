"""Hypothesis properties: decisions are feasible, seeded runs repeat, state round-trips."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute import Constraints, Engine, HashingEmbedder, ModelProfile, NoFeasibleModel
from banditroute.features import estimate_tokens

CAPS = ["code", "math", "json", "vision"]
PROVIDERS = ["p1", "p2", "p3"]

model_st = st.builds(
    lambda i, provider, caps, window, pin, pout, latency, deprecated: ModelProfile(
        id=f"m{i}",
        provider=provider,
        capabilities=caps,
        context_window=window,
        input_usd_per_mtok=pin,
        output_usd_per_mtok=pout,
        typical_latency_ms=latency,
        deprecated=deprecated,
    ),
    st.integers(0, 0),
    st.sampled_from(PROVIDERS),
    st.frozensets(st.sampled_from(CAPS)),
    st.sampled_from([8, 50, 4096]),
    st.floats(0, 50),
    st.floats(0, 100),
    st.floats(10, 10_000),
    st.booleans(),
)


@st.composite
def registries(draw: st.DrawFn) -> list[ModelProfile]:
    models = draw(st.lists(model_st, min_size=1, max_size=6))
    return [m.model_copy(update={"id": f"m{i}"}) for i, m in enumerate(models)]


@st.composite
def constraints_for(draw: st.DrawFn, ids: list[str]) -> Constraints:
    maybe = st.none() | st.just(None)
    return Constraints(
        max_cost_usd=draw(st.none() | st.floats(0, 0.01)),
        max_latency_ms=draw(st.none() | st.floats(0, 5000)),
        min_quality=draw(st.none() | st.floats(0, 0.7)),
        capabilities=draw(st.frozensets(st.sampled_from(CAPS), max_size=2)),
        allow_models=draw(maybe | st.frozensets(st.sampled_from(ids))),
        deny_models=draw(st.frozensets(st.sampled_from(ids), max_size=2)),
        allow_providers=draw(maybe | st.frozensets(st.sampled_from(PROVIDERS))),
        deny_providers=draw(st.frozensets(st.sampled_from(PROVIDERS), max_size=1)),
        include_deprecated=draw(st.booleans()),
        force_model=draw(st.none() | st.sampled_from(ids)),
        expected_output_tokens=draw(st.none() | st.integers(0, 2000)),
    )


def satisfies(model: ModelProfile, c: Constraints, engine: Engine, prompt: str, decision) -> bool:
    cand = next(x for x in decision.candidates if x.model == model.id)
    return (
        (c.force_model is None or model.id == c.force_model)
        and model.id not in c.deny_models
        and (c.allow_models is None or model.id in c.allow_models)
        and model.provider not in c.deny_providers
        and (c.allow_providers is None or model.provider in c.allow_providers)
        and (c.include_deprecated or not model.deprecated)
        and c.capabilities <= model.capabilities
        and estimate_tokens(prompt) <= model.context_window
        and (c.max_cost_usd is None or cand.est_cost_usd <= c.max_cost_usd)
        and (c.max_latency_ms is None or cand.est_latency_ms <= c.max_latency_ms)
        and (c.min_quality is None or cand.expected_quality >= c.min_quality)
    )


PROMPTS = st.sampled_from(
    [
        "Write a Python function that merges two sorted lists",
        "What is 17 times 23?",
        "Summarize this meeting " * 20,
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), models=registries(), prompt=PROMPTS, seed=st.integers(0, 1000))
def test_every_decision_is_feasible_or_no_feasible_model(data, models, prompt, seed) -> None:
    engine = Engine(models, embedder=HashingEmbedder(dim=16), seed=seed)
    for _ in range(3):  # learn a little so quality estimates differ between models
        try:
            d = engine.choose(prompt, Constraints(include_deprecated=True))
        except NoFeasibleModel:
            break
        engine.feedback(
            d, quality=data.draw(st.floats(0, 1)), latency_ms=data.draw(st.floats(0, 9000))
        )
    c = data.draw(constraints_for([m.id for m in models]))
    try:
        d = engine.choose(prompt, c)
    except NoFeasibleModel as exc:
        assert set(exc.reasons) == {m.id for m in models}
        return
    for name in (d.model, *d.fallbacks):
        assert satisfies(engine.registry[name], c, engine, prompt, d), name
    assert set(d.excluded) | {d.model, *d.fallbacks} == {m.id for m in models}


@settings(max_examples=25, deadline=None)
@given(
    models=registries(),
    seed=st.integers(0, 10_000),
    qualities=st.lists(st.floats(0, 1), min_size=1, max_size=15),
)
def test_same_seed_same_decisions(models, seed, qualities) -> None:
    def run() -> list[tuple[str, float]]:
        engine = Engine(models, embedder=HashingEmbedder(dim=16), seed=seed)
        out = []
        for i, q in enumerate(qualities):
            try:
                d = engine.choose(f"prompt {i % 4}", Constraints(include_deprecated=True))
            except NoFeasibleModel:
                continue
            engine.feedback(d, quality=q)
            out.append((d.model, d.propensity))
        return out

    assert run() == run()


@settings(max_examples=20, deadline=None)
@given(
    models=registries(),
    seed=st.integers(0, 10_000),
    qualities=st.lists(st.floats(0, 1), max_size=10),
)
def test_save_then_load_gives_identical_next_decisions(models, seed, qualities) -> None:
    everything = Constraints(include_deprecated=True)
    if all(m.context_window < 8 for m in models):
        return
    models = [m for m in models if m.context_window >= 8]
    engine = Engine(models, embedder=HashingEmbedder(dim=16), seed=seed)
    for i, q in enumerate(qualities):
        engine.feedback(engine.choose(f"p{i}", everything), quality=q, cost_usd=1e-4 * i)
    with tempfile.TemporaryDirectory() as folder:
        engine.save(folder)
        loaded = Engine.load(folder)
    for i in range(5):
        a, b = engine.choose(f"next {i}", everything), loaded.choose(f"next {i}", everything)
        assert (a.model, a.fallbacks, a.propensity, a.scores()) == (
            b.model,
            b.fallbacks,
            b.propensity,
            b.scores(),
        )
