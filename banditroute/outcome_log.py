"""`OutcomeLog`: a full-information log, every prompt with every model's quality, cost and latency.

Replays and the demo read from it; the learner is shown only the chosen model's outcome.

>>> import numpy as np
>>> from banditroute.outcome_log import OutcomeLog
>>> log = OutcomeLog(prompts=["p1", "p2"], tasks=["a", "b"], models=["m1", "m2"],
...                  quality=np.array([[1.0, 0.0], [np.nan, 1.0]]), cost=np.full((2, 2), 1e-4))
>>> log.n_prompts, log.missing_quality
(2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import invalid

__all__ = ["OutcomeLog"]


@dataclass
class OutcomeLog:
    """Per-prompt × per-model outcomes. ``quality`` may hold NaN where a pair was not evaluated."""

    prompts: list[str]
    tasks: list[str]
    models: list[str]
    quality: np.ndarray  # (n, M), in [0, 1] or NaN
    cost: np.ndarray  # (n, M), USD
    latency: np.ndarray | None = None  # (n, M), ms
    prompt_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        if not self.prompt_ids:
            self.prompt_ids = [str(i) for i in range(n)]
        if len(self.tasks) != n or len(self.prompt_ids) != n:
            raise invalid(
                "tasks / prompt_ids", (len(self.tasks), len(self.prompt_ids)), f"{n} each"
            )
        for name, array in (
            ("quality", self.quality),
            ("cost", self.cost),
            ("latency", self.latency),
        ):
            if array is not None and array.shape != (n, m):
                raise invalid(f"{name}.shape", array.shape, f"({n}, {m})")
        finite_q = self.quality[np.isfinite(self.quality)]
        if finite_q.size and (finite_q.min() < 0 or finite_q.max() > 1):
            raise invalid("quality", "values outside [0, 1]", "in [0, 1] or NaN")
        if not np.all(np.isfinite(self.cost)) or (self.cost < 0).any():
            raise invalid("cost", "negative or non-finite values", "finite and >= 0")

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    @property
    def missing_quality(self) -> int:
        """Number of (prompt, model) pairs without a quality."""
        return int(np.isnan(self.quality).sum())

    def subset(self, rows: np.ndarray) -> OutcomeLog:
        """The log restricted to these rows, in this order."""
        rows = np.asarray(rows)
        return OutcomeLog(
            prompts=[self.prompts[i] for i in rows],
            tasks=[self.tasks[i] for i in rows],
            models=list(self.models),
            quality=self.quality[rows],
            cost=self.cost[rows],
            latency=None if self.latency is None else self.latency[rows],
            prompt_ids=[self.prompt_ids[i] for i in rows],
        )
