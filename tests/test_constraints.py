from __future__ import annotations

import pytest

from banditroute import ArmEstimate, Constraints, InvalidInput
from banditroute.constraints import split_feasible
from banditroute.features import estimate_tokens
from tests.conftest import make_model

MODELS = [
    make_model("a", provider="p1", capabilities=["code"], context_window=100),
    make_model("b", provider="p2", capabilities=["code", "json"]),
    make_model("c", provider="p2", deprecated=True, replacement=None),
]
EST = {
    "a": ArmEstimate(cost_usd=0.001, latency_ms=500, quality=0.6),
    "b": ArmEstimate(cost_usd=0.010, latency_ms=3000, quality=0.9),
    "c": ArmEstimate(cost_usd=0.0001, latency_ms=100, quality=0.5),
}


def ids(constraints: Constraints, tokens: int = 10) -> list[str]:
    return [m.id for m in split_feasible(MODELS, constraints, tokens, EST)[0]]


def test_default_allows_active_models_only() -> None:
    ok, why = split_feasible(MODELS, Constraints(), 10, EST)
    assert [m.id for m in ok] == ["a", "b"] and why == {"c": "deprecated"}
    assert ids(Constraints(include_deprecated=True)) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        (Constraints(max_cost_usd=0.005), ["a"]),
        (Constraints(max_latency_ms=1000), ["a"]),
        (Constraints(min_quality=0.8), ["b"]),
        (Constraints(capabilities={"json"}), ["b"]),
        (Constraints(allow_models={"b", "c"}), ["b"]),
        (Constraints(deny_models={"a"}), ["b"]),
        (Constraints(allow_providers={"p1"}), ["a"]),
        (Constraints(deny_providers={"p1"}), ["b"]),
        (Constraints(force_model="b"), ["b"]),
    ],
)
def test_each_constraint_excludes_what_it_should(
    constraints: Constraints, expected: list[str]
) -> None:
    assert ids(constraints) == expected


def test_context_window_is_checked_against_prompt_tokens() -> None:
    ok, why = split_feasible(MODELS, Constraints(), 500, EST)
    assert [m.id for m in ok] == ["b"]
    assert "exceeds context window 100" in why["a"]


def test_reasons_name_the_figures() -> None:
    _, why = split_feasible(MODELS, Constraints(max_cost_usd=0.005, min_quality=0.7), 10, EST)
    assert why["b"] == "estimated cost 0.01 USD > max_cost_usd 0.005"
    assert why["a"] == "expected quality 0.600 < min_quality 0.700"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("max_cost_usd", -1.0, "max_cost_usd == -1.0"),
        ("max_latency_ms", -5, "max_latency_ms == -5"),
        ("min_quality", 1.5, "min_quality == 1.5"),
        ("max_cost_usd", float("nan"), "max_cost_usd"),
        ("capabilities", "code", "capabilities == 'code'"),
        ("colour", "red", "colour"),
    ],
)
def test_bad_constraints_raise_invalid_input(field: str, value: object, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment.replace("(", r"\(")):
        Constraints(**{field: value})


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("x" * 400) == 100
