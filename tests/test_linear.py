from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.linear import RidgeArms


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 30),
    dim=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    intercept_precision=st.floats(0.1, 10),
    prior_precision=st.floats(0.1, 10),
)
def test_incremental_updates_equal_the_closed_form(
    n: int, dim: int, seed: int, intercept_precision: float, prior_precision: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    y = rng.normal(size=n)
    ridge = RidgeArms(0.3, intercept_precision, prior_precision)
    ridge.ensure(["k"], dim)
    for xi, yi in zip(x, y, strict=True):
        ridge.update(0, xi, float(yi))
    precision = np.full(dim, prior_precision)
    precision[0] = intercept_precision
    prior_mean = np.zeros(dim)
    prior_mean[0] = 0.3
    gram = np.diag(precision) + x.T @ x
    expected = np.linalg.solve(gram, precision * prior_mean + x.T @ y)
    assert np.allclose(ridge.weights[0], expected, atol=1e-6)
    assert np.allclose(ridge.inv_gram[0], np.linalg.inv(gram), atol=1e-6)


def test_reset_and_remove() -> None:
    ridge = RidgeArms()
    ridge.ensure(["a", "b"], 2)
    ridge.update(1, np.array([1.0, 1.0]), 3.0)
    ridge.reset("b")
    assert ridge.counts[1] == 0 and np.allclose(ridge.weights[1], 0)
    ridge.remove("a")
    assert ridge.index == {"b": 0} and ridge.inv_gram.shape == (1, 2, 2)


def test_shifting_the_intercept_prior_equals_refitting_with_it() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    shifted, direct = RidgeArms(0.5, 2.0, 1.0), RidgeArms(0.8, 2.0, 1.0)
    for ridge in (shifted, direct):
        ridge.ensure(["a", "b"], 3)
        for xi, yi in zip(x, y, strict=True):
            ridge.update(0, xi, float(yi))
    shifted.shift_prior_intercept(0.3)
    assert np.allclose(shifted.weights, direct.weights)
    assert np.allclose(shifted.targets, direct.targets)
