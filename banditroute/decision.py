"""What `Engine.choose` returns and what `Engine.feedback` records.

>>> from banditroute.decision import Candidate, Decision
>>> d = Decision(id="d1", model="a", fallbacks=("b",), propensity=0.9, policy="thompson",
...              prompt_tokens=12, candidates=(
...                  Candidate("a", 0.8, 0.75, 0.1, 0.001, 900.0),
...                  Candidate("b", 0.5, 0.60, 0.2, 0.0001, 400.0)),
...              excluded={"c": "in deny_models"})
>>> print(d.explain().splitlines()[0])
chose a (propensity 0.90, policy thompson) for a prompt of ~12 tokens
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, overload

if TYPE_CHECKING:
    from .evaluation.evaluator import Evaluation

__all__ = ["Candidate", "Decision", "Outcome"]


class Candidate(NamedTuple):
    """One feasible model as the policy saw it for this prompt."""

    model: str
    utility: float  # the sampled (TS) / optimistic (UCB) quality minus the cost-latency penalty
    expected_quality: float  # posterior mean for this prompt
    quality_sd: float  # posterior standard deviation for this prompt
    est_cost_usd: float
    est_latency_ms: float


class _Deferred:
    """A float field that may be given as a zero-argument function, called on the first read
    (the float is then kept). `Engine.choose` defers the exact propensity this way: most callers
    never read it, and the decision log reads it off the request's path."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Deferred: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> float: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> float | _Deferred:
        if obj is None:  # read on the class: no default (dataclasses then require the field)
            raise AttributeError(self.name)
        value = obj.__dict__[self.name]
        if callable(value):
            value = obj.__dict__[self.name] = float(value())
        return float(value)

    def __set__(self, obj: object, value: float | Callable[[], float]) -> None:
        obj.__dict__[self.name] = value


@dataclass(frozen=True)
class Decision:
    """The model to call, the ranked fallbacks, and the evidence behind the choice.

    ``propensity`` (the probability that the policy picks this model, for off-policy
    evaluation) may be given as a function of no arguments: it is then computed when first read.
    """

    id: str
    model: str
    fallbacks: tuple[str, ...]
    policy: str
    prompt_tokens: int
    candidates: tuple[Candidate, ...]  # ranked, best first
    propensity: _Deferred = _Deferred()
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def chosen(self) -> Candidate:
        """The chosen model's candidate row."""
        return self.candidates[0]

    @property
    def expected_quality(self) -> float:
        return self.chosen.expected_quality

    @property
    def expected_cost_usd(self) -> float:
        return self.chosen.est_cost_usd

    @property
    def expected_latency_ms(self) -> float:
        return self.chosen.est_latency_ms

    def scores(self) -> dict[str, float]:
        """Utility per feasible model, as used for this decision."""
        return {c.model: c.utility for c in self.candidates}

    def explain(self) -> str:
        """A readable account: the choice, every candidate's figures, every exclusion."""
        lines = [
            f"chose {self.model} (propensity {self.propensity:.2f}, policy {self.policy}) "
            f"for a prompt of ~{self.prompt_tokens} tokens",
            f"  {'model':<36} {'utility':>8} {'E[quality]':>10} {'± sd':>6} "
            f"{'est. cost $':>11} {'est. ms':>8}",
        ]
        for c in self.candidates:
            lines.append(
                f"  {c.model:<36} {c.utility:>8.3f} {c.expected_quality:>10.3f} "
                f"{c.quality_sd:>6.3f} {c.est_cost_usd:>11.2e} {c.est_latency_ms:>8.0f}"
            )
        for model, why in sorted(self.excluded.items()):
            lines.append(f"  excluded {model}: {why}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    """One piece of feedback as the engine recorded it."""

    decision_id: str
    model: str
    quality: float
    reward: float
    cost_usd: float | None
    latency_ms: float | None
    error: str | None
    evaluation: Evaluation | None = None  #: the evaluator's scores when quality came from them
