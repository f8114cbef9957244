"""Per-model cost and latency estimates made before a call, refined from feedback.

Cost is not learned by the bandit: it follows from list prices, the prompt's token count and the
model's expected answer length for this kind of prompt (a ridge regression of observed output
tokens on the context, per model). Latency is an exponentially weighted mean of observed
latencies, starting from the profile's typical figure.

>>> import numpy as np
>>> from banditroute.estimates import CallEstimator
>>> from banditroute.registry import ModelProfile
>>> m = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=2)
>>> est, x = CallEstimator(default_output_tokens=100), np.array([1.0, 0.5])
>>> float(est.costs_usd([m], 1000, x)[0])
0.0012
>>> for _ in range(20):
...     est.observe(m, x, prompt_tokens=1000, cost_usd=0.002, latency_ms=500.0)
>>> round(float(est.costs_usd([m], 1000, x)[0]), 4), round(float(est.latencies_ms([m])[0]))
(0.002, 500)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import StateFileError, check_number, invalid
from .linear import RidgeArms
from .params import Configurable
from .registry import ModelProfile
from .untrusted import as_float, as_int, as_list, as_table

__all__ = ["MAX_ANSWER_TOKENS", "CallEstimator", "ModelCallStats"]

MAX_ANSWER_TOKENS = 1_000_000.0
_MAX = int(MAX_ANSWER_TOKENS)


@dataclass
class ModelCallStats:
    """What feedback taught about one model's calls, beyond answer length."""

    calls: int = 0
    errors: int = 0
    latency_ewma_ms: float | None = None


class CallEstimator(Configurable):
    """Estimates of a call's cost and latency per model.

    Parameters
    ----------
    default_output_tokens : int
        Assumed answer length before a model's own answers have been seen.
    latency_halflife : float
        Number of observations after which an old latency counts half.
    """

    def __init__(self, default_output_tokens: int = 256, latency_halflife: float = 50.0) -> None:
        tokens = default_output_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= _MAX:
            raise invalid("default_output_tokens", tokens, f"an int in [0, {_MAX}]")
        self.default_output_tokens = default_output_tokens
        self.latency_halflife = check_number("latency_halflife", latency_halflife, 0, above=True)
        self._stats: dict[str, ModelCallStats] = {}
        self._price_key: tuple[ModelProfile, ...] = ()
        self._price_arrays = (np.zeros(0), np.zeros(0))
        self.answer_tokens = RidgeArms(
            prior_intercept=float(default_output_tokens), intercept_precision=2.0
        )

    def output_tokens(self, models: Sequence[ModelProfile], x: np.ndarray) -> np.ndarray:
        """Expected answer length of each model for this context."""
        idx = self.answer_tokens.ensure([m.id for m in models], x.size)
        return np.maximum(self.answer_tokens.predict(idx, x), 0.0)

    def costs_usd(
        self,
        models: Sequence[ModelProfile],
        prompt_tokens: int,
        x: np.ndarray,
        output_tokens: float | None = None,
    ) -> np.ndarray:
        """Estimated price of sending this prompt to each model."""
        answer = self.output_tokens(models, x) if output_tokens is None else float(output_tokens)
        prices_in, prices_out = self._prices(models)
        return (prompt_tokens * prices_in + answer * prices_out) / 1e6

    def _prices(self, models: Sequence[ModelProfile]) -> tuple[np.ndarray, np.ndarray]:
        """Input and output prices (USD per million tokens) of ``models``, kept for the last
        list of profiles seen (profiles are immutable: a price change makes a new profile)."""
        key = tuple(models)
        if self._price_key != key:  # element identity first, so a hit costs one pass
            self._price_key = key
            self._price_arrays = (
                np.array([m.input_usd_per_mtok for m in key], dtype=float),
                np.array([m.output_usd_per_mtok for m in key], dtype=float),
            )
        return self._price_arrays

    def latencies_ms(self, models: Sequence[ModelProfile]) -> np.ndarray:
        """Estimated latency of one call to each model."""
        stats = self._stats
        return np.fromiter(
            (
                m.typical_latency_ms
                if (s := stats.get(m.id)) is None or s.latency_ewma_ms is None
                else s.latency_ewma_ms
                for m in models
            ),
            float,
            len(models),
        )

    def error_rate(self, model_id: str) -> float:
        """Share of calls that failed (0 before any call)."""
        s = self._stats.get(model_id)
        return 0.0 if s is None or s.calls == 0 else s.errors / s.calls

    def observe(
        self,
        model: ModelProfile,
        x: np.ndarray,
        prompt_tokens: int,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        output_tokens: float | None = None,
        error: bool = False,
    ) -> None:
        """Learn from one call's outcome; any of the measurements may be missing."""
        s = self._stats.setdefault(model.id, ModelCallStats())
        s.calls += 1
        s.errors += int(error)
        if output_tokens is None and cost_usd is not None and model.output_usd_per_mtok > 0:
            input_cost = model.cost_usd(prompt_tokens, 0)
            output_tokens = (cost_usd - input_cost) * 1e6 / model.output_usd_per_mtok
        if output_tokens is not None and math.isfinite(output_tokens):
            # A price near zero can turn a tiny cost into an absurd length: keep it plausible.
            output_tokens = min(max(output_tokens, 0.0), MAX_ANSWER_TOKENS)
            i = int(self.answer_tokens.ensure([model.id], x.size)[0])
            self.answer_tokens.update(i, x, float(output_tokens))
        if latency_ms is not None:
            if s.latency_ewma_ms is None:
                s.latency_ewma_ms = float(latency_ms)
            else:
                keep = 0.5 ** (1.0 / self.latency_halflife)
                s.latency_ewma_ms = keep * s.latency_ewma_ms + (1 - keep) * float(latency_ms)

    def set_latency(self, model_id: str, latency_ms: float) -> None:
        """Replace a model's latency estimate (after a detected change)."""
        self._stats.setdefault(model_id, ModelCallStats()).latency_ewma_ms = float(latency_ms)

    def forget(self, model_id: str) -> None:
        """Drop a model's statistics."""
        self._stats.pop(model_id, None)
        if model_id in self.answer_tokens.index:
            self.answer_tokens.remove(model_id)

    def to_records(self) -> dict[str, object]:
        """JSON-able part of the state (the answer-length regressions go in `arrays`)."""
        return {
            **self.get_params(),
            "stats": {k: asdict(v) for k, v in self._stats.items()},
            "answer_token_models": list(self.answer_tokens.index),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return self.answer_tokens.arrays("answer_tokens_")

    @classmethod
    def from_records(cls, records: object, arrays: dict[str, np.ndarray]) -> CallEstimator:
        """Rebuild what `to_records` and `arrays` saved; `StateFileError` names the first field
        of the wrong type or out of range."""
        fields = ("default_output_tokens", "latency_halflife", "stats", "answer_token_models")
        saved = as_table("estimator", records, fields)
        tokens = as_int("estimator.default_output_tokens", saved["default_output_tokens"], 0, _MAX)
        halflife = as_float("estimator.latency_halflife", saved["latency_halflife"], 0, above=True)
        est = cls(tokens, halflife)
        for model_id, row in as_table("estimator.stats", saved["stats"]).items():
            where = f"estimator.stats[{model_id!r}]"
            stats = as_table(where, row, ("calls", "errors", "latency_ewma_ms"))
            if len(stats) != 3:
                raise StateFileError(f"saved {where} has unknown fields {sorted(stats)}")
            calls = as_int(f"{where}.calls", stats["calls"])
            errors = as_int(f"{where}.errors", stats["errors"], 0, calls)
            latency = stats["latency_ewma_ms"]
            if latency is not None:
                latency = as_float(f"{where}.latency_ewma_ms", latency, 0.0)
            est._stats[model_id] = ModelCallStats(calls, errors, latency)
        keys = as_list("estimator.answer_token_models", saved["answer_token_models"])
        if not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            raise StateFileError("saved estimator.answer_token_models must be distinct model ids")
        est.answer_tokens.load_arrays(keys, arrays, "answer_tokens_")
        return est
