"""Arbitrary numbers and types wherever a caller passes a number: accepted, or `InvalidInput`.

Constraints, feedback and observe, model profiles and the learners' settings: strings and
booleans are never coerced into numbers, huge integers never overflow, infinite and NaN values
are refused, and what is accepted keeps every decision's utilities and propensity finite.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute import Constraints, Engine, HashingEmbedder, ModelProfile
from banditroute.constraints import UnknownModelWarning
from banditroute.drift import DriftMonitor
from banditroute.errors import (
    BanditRouteError,
    InvalidInput,
    NoFeasibleModel,
    RegistryError,
    UnknownModel,
)
from banditroute.estimates import CallEstimator
from banditroute.policies import POLICIES
from banditroute.reward import Tradeoff

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64, -1, 0, 1, 10**9 + 1]),
    st.floats(),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, 5e-324, -0.0]),
    st.text(max_size=6),
    st.sampled_from(["0.1", "1e400", "nan", "inf", "True", " 3 "]),
    st.binary(max_size=4),
    st.decimals(),
    st.fractions(),
    st.sampled_from([Decimal("1e400"), Fraction(10**400, 3), Decimal("sNaN")]),
    st.lists(st.text(max_size=3) | st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(np.float64, st.floats()),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.sampled_from([np.bool_(True), np.array([0.5]), np.array(0.5), object(), float, ...]),
)
CONSTRAINT_FIELDS = list(Constraints.model_fields)
NUMERIC_CAPS = ("max_cost_usd", "max_latency_ms", "min_quality", "expected_output_tokens")
MEASUREMENTS = ("quality", "cost_usd", "latency_ms", "output_tokens")


def _models() -> list[ModelProfile]:
    return [
        ModelProfile(
            id=f"m{i}",
            provider=f"p{i % 2}",
            input_usd_per_mtok=0.5 + i,
            output_usd_per_mtok=1.0 + 2 * i,
            capabilities=["code"] if i else [],
        )
        for i in range(3)
    ]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(_models(), embedder=HashingEmbedder(16), seed=0)


def _finite_decision(engine: Engine) -> None:
    d = engine.choose("is everything still finite?")
    assert 0.0 <= d.propensity <= 1.0
    assert all(all(map(math.isfinite, c[1:])) for c in d.candidates)


# -- constraints -----------------------------------------------------------------------------
@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(CONSTRAINT_FIELDS), HOSTILE, max_size=4))
def test_any_constraint_values_are_accepted_or_invalid(
    engine: Engine, fields: dict[str, Any]
) -> None:
    try:
        constraints = Constraints(**fields)
    except InvalidInput:
        return
    for name in NUMERIC_CAPS:  # what was accepted is a real number, never a bool or a str
        value = getattr(constraints, name)
        assert value is None or (type(value) in (int, float) and math.isfinite(value))
    assert isinstance(constraints.include_deprecated, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        with contextlib.suppress(NoFeasibleModel, UnknownModel):  # typed refusals
            engine.choose("Write a function that adds two numbers", constraints)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expected_output_tokens", 10**400),
        ("expected_output_tokens", 2**63),
        ("expected_output_tokens", "100"),
        ("max_cost_usd", "0.1"),
        ("max_cost_usd", True),
        ("max_cost_usd", b"0.1"),
        ("max_cost_usd", math.inf),
        ("max_latency_ms", 10**400),
        ("min_quality", math.nan),
        ("min_quality", np.bool_(False)),
        ("include_deprecated", "yes"),
        ("include_deprecated", 1),
    ],
)
def test_no_coercion_into_numbers_or_flags(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=field):
        Constraints(**{field: value})


def test_numbers_that_are_numbers_are_accepted() -> None:
    c = Constraints(max_cost_usd=np.float32(0.5), min_quality=Fraction(1, 2), max_latency_ms=10)
    assert (c.max_cost_usd, c.min_quality, c.max_latency_ms) == (0.5, 0.5, 10.0)
    assert Constraints(expected_output_tokens=np.int64(300)).expected_output_tokens == 300


def test_unknown_model_ids_warn_or_raise(engine: Engine) -> None:
    with pytest.warns(UnknownModelWarning, match=r"deny_models .*\['gpt-9'\]"):
        engine.choose("hello there", Constraints(deny_models={"gpt-9", "m0"}))
    with pytest.warns(UnknownModelWarning, match=r"allow_models .*\['typo'\]"):
        assert engine.choose("hello", Constraints(allow_models={"typo", "m1"})).model == "m1"
    with pytest.raises(UnknownModel, match="nope"):
        engine.choose("hello", Constraints(force_model="nope"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known ids: silent
        engine.choose("hello", Constraints(deny_models={"m0"}, allow_models={"m1", "m2"}))


def test_a_secret_in_an_unknown_id_is_not_repeated_in_the_warning(engine: Engine) -> None:
    key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    with pytest.warns(UnknownModelWarning) as caught:
        engine.choose("hello", Constraints(deny_models={key}))
    assert key not in str(caught[0].message)


# -- feedback and observe --------------------------------------------------------------------
@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(MEASUREMENTS), HOSTILE, min_size=1, max_size=4))
def test_any_feedback_numbers_are_accepted_or_invalid(
    engine: Engine, fields: dict[str, Any]
) -> None:
    d = engine.choose("Summarise the plot of a novel")
    try:
        outcome = engine.feedback(d, **fields)
    except InvalidInput:
        assert engine.feedback(d, quality=0.5).quality == 0.5  # still pending: answer it
        return
    assert 0.0 <= outcome.quality <= 1.0
    _finite_decision(engine)


@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(MEASUREMENTS), HOSTILE, min_size=1, max_size=4))
def test_any_observed_numbers_are_accepted_or_invalid(
    engine: Engine, fields: dict[str, Any]
) -> None:
    try:
        engine.observe("Translate a sentence into French", "m1", **fields)
    except InvalidInput:
        return
    _finite_decision(engine)


def test_huge_integers_never_overflow(engine: Engine) -> None:
    d = engine.choose("a prompt")
    for name in MEASUREMENTS:
        with pytest.raises(InvalidInput, match=name):
            engine.feedback(d, **{"quality": 0.5, name: 10**400})
    with pytest.raises(InvalidInput, match="cost_usd"):
        engine.observe("a prompt", "m0", quality=0.5, cost_usd="0.01")


@SETTINGS
@given(model=HOSTILE | st.sampled_from(["m0", "m2"]), other=HOSTILE | st.just("m1"))
def test_any_model_ids_are_known_or_refused(model: Any, other: Any) -> None:
    engine = Engine(_models(), embedder=HashingEmbedder(16), seed=0)
    calls = (
        lambda: engine.observe("a logged prompt", model, quality=0.5),
        lambda: engine.deprecate_model(model, other),
        lambda: engine.remove_model(model),
        lambda: engine.choose("a prompt", Constraints(force_model=model)),
    )
    for call in calls:
        with contextlib.suppress(UnknownModel, InvalidInput, NoFeasibleModel):
            call()
    _finite_decision(engine)


# -- model profiles and settings -------------------------------------------------------------
@SETTINGS
@given(
    field=st.sampled_from(
        ["input_usd_per_mtok", "output_usd_per_mtok", "typical_latency_ms", "context_window"]
    ),
    value=HOSTILE,
)
def test_any_profile_numbers_are_accepted_or_invalid(field: str, value: Any) -> None:
    fields: dict[str, Any] = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0, field: value}
    try:
        model = ModelProfile(id="m", provider="p", **fields)
    except RegistryError:
        return
    number = getattr(model, field)
    assert type(number) in (int, float) and math.isfinite(number) and number >= 0
    engine = Engine([model], embedder=HashingEmbedder(16), seed=0)
    try:
        _finite_decision(engine)
    except NoFeasibleModel:  # a context window of 1 token
        assert field == "context_window"


@pytest.mark.parametrize("price", [math.inf, -math.inf, math.nan, -0.5, 1e300, "1", True])
def test_infinite_nan_negative_or_absurd_prices_are_refused(price: Any) -> None:
    with pytest.raises(RegistryError, match="input_usd_per_mtok"):
        ModelProfile(id="m", provider="p", input_usd_per_mtok=price, output_usd_per_mtok=1)
    with pytest.raises(RegistryError, match="typical_latency_ms"):
        ModelProfile(
            id="m",
            provider="p",
            input_usd_per_mtok=1,
            output_usd_per_mtok=1,
            typical_latency_ms=price if price != -0.5 else 0,
        )


SETTINGS_OF: dict[str, Any] = {
    **{f"policy {name}": cls for name, cls in POLICIES.items() if name != "fixed"},
    "drift": DriftMonitor,
    "estimator": CallEstimator,
    "tradeoff": Tradeoff,
}
NUMERIC_SETTINGS = {
    "policy": [
        "prior_quality",
        "prior_precision",
        "intercept_precision",
        "noise_variance",
        "noise_prior_weight",
        "discount",
        "seed",
        "pooled_prior",
    ],
    "drift": ["delta", "min_observations", "shrink_factor", "probe_every", "probation", "seed"],
    "estimator": ["default_output_tokens", "latency_halflife"],
    "tradeoff": ["cost_weight", "latency_weight"],
}


@SETTINGS
@given(data=st.data(), value=HOSTILE)
def test_any_settings_are_accepted_or_invalid(data: st.DataObject, value: Any) -> None:
    which = data.draw(st.sampled_from(sorted(SETTINGS_OF)))
    field = data.draw(st.sampled_from(NUMERIC_SETTINGS[which.split()[0]]))
    try:
        made = SETTINGS_OF[which](**{field: value})
    except InvalidInput:
        return
    stored = getattr(made, field)
    assert not isinstance(stored, str)
    if field not in ("seed", "pooled_prior"):
        assert not isinstance(stored, bool) and math.isfinite(stored)


def test_the_exception_tree_covers_every_refusal() -> None:
    for error in (InvalidInput, RegistryError, NoFeasibleModel, UnknownModel):
        assert issubclass(error, BanditRouteError)
