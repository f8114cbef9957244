"""Per-model cost and latency estimates made before a call, refined from feedback.

Cost is not learned by the bandit: it follows from list prices, the prompt's token count and the
model's typical answer length (a running mean of observed output tokens). Latency is an
exponentially weighted mean of observed latencies, starting from the profile's typical figure.

>>> from banditroute.estimates import CallEstimator
>>> from banditroute.registry import ModelProfile
>>> m = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=2)
>>> est = CallEstimator(default_output_tokens=100)
>>> est.cost_usd(m, prompt_tokens=1000)
0.0012
>>> est.observe(m, prompt_tokens=1000, cost_usd=0.002, latency_ms=500.0)
>>> est.cost_usd(m, prompt_tokens=1000) > 0.0012
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import invalid
from .registry import ModelProfile

__all__ = ["CallEstimator", "ModelCallStats"]


@dataclass
class ModelCallStats:
    """What feedback taught about one model's calls."""

    calls: int = 0
    errors: int = 0
    output_tokens_sum: float = 0.0
    output_tokens_seen: int = 0
    latency_ewma_ms: float | None = None


class CallEstimator:
    """Estimates of a call's cost and latency per model.

    Parameters
    ----------
    default_output_tokens : int
        Assumed answer length before a model's own answers have been seen.
    latency_halflife : float
        Number of observations after which an old latency counts half.
    """

    def __init__(self, default_output_tokens: int = 256, latency_halflife: float = 50.0) -> None:
        if default_output_tokens < 0:
            raise invalid("default_output_tokens", default_output_tokens, ">= 0")
        if latency_halflife <= 0:
            raise invalid("latency_halflife", latency_halflife, "> 0")
        self.default_output_tokens = default_output_tokens
        self.latency_halflife = latency_halflife
        self.stats: dict[str, ModelCallStats] = {}

    def _stats(self, model_id: str) -> ModelCallStats:
        return self.stats.setdefault(model_id, ModelCallStats())

    def output_tokens(self, model: ModelProfile) -> float:
        """Expected answer length of this model."""
        s = self.stats.get(model.id)
        if s is None or s.output_tokens_seen == 0:
            return float(self.default_output_tokens)
        # Shrink towards the default with the weight of 2 pseudo-observations.
        prior = 2.0
        return (s.output_tokens_sum + prior * self.default_output_tokens) / (
            s.output_tokens_seen + prior
        )

    def cost_usd(
        self, model: ModelProfile, prompt_tokens: int, output_tokens: float | None = None
    ) -> float:
        """Estimated price of sending this prompt to this model."""
        answer = self.output_tokens(model) if output_tokens is None else output_tokens
        return model.cost_usd(prompt_tokens, answer)

    def latency_ms(self, model: ModelProfile) -> float:
        """Estimated latency of one call."""
        s = self.stats.get(model.id)
        if s is None or s.latency_ewma_ms is None:
            return model.typical_latency_ms
        return s.latency_ewma_ms

    def error_rate(self, model_id: str) -> float:
        """Share of calls that failed (0 before any call)."""
        s = self.stats.get(model_id)
        return 0.0 if s is None or s.calls == 0 else s.errors / s.calls

    def observe(
        self,
        model: ModelProfile,
        prompt_tokens: int,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        output_tokens: float | None = None,
        error: bool = False,
    ) -> None:
        """Learn from one call's outcome; any of the measurements may be missing."""
        s = self._stats(model.id)
        s.calls += 1
        s.errors += int(error)
        if output_tokens is None and cost_usd is not None and model.output_usd_per_mtok > 0:
            input_cost = model.cost_usd(prompt_tokens, 0)
            output_tokens = max(0.0, (cost_usd - input_cost) * 1e6 / model.output_usd_per_mtok)
        if output_tokens is not None:
            s.output_tokens_sum += output_tokens
            s.output_tokens_seen += 1
        if latency_ms is not None:
            if s.latency_ewma_ms is None:
                s.latency_ewma_ms = float(latency_ms)
            else:
                keep = 0.5 ** (1.0 / self.latency_halflife)
                s.latency_ewma_ms = keep * s.latency_ewma_ms + (1 - keep) * float(latency_ms)

    def forget(self, model_id: str) -> None:
        """Drop a model's statistics."""
        self.stats.pop(model_id, None)

    def to_records(self) -> dict[str, dict[str, float | int | None]]:
        """JSON-able form for saving."""
        return {k: asdict(v) for k, v in self.stats.items()}

    def load_records(self, records: dict[str, dict[str, float | int | None]]) -> None:
        """Restore what `to_records` returned."""
        self.stats = {k: ModelCallStats(**v) for k, v in records.items()}  # type: ignore[arg-type]
