"""Model prices inferred from a log's costs, for replaying a log of models no registry lists.

Rule, per model (non-negative least squares on that model's logged calls):

- the log gives output tokens (a long table's ``output_tokens``, or responses in a wide or long
  table, counted with `estimate_tokens`): ``cost ≈ p_in·prompt_tokens + p_out·output_tokens``,
  both prices recovered (``"tokens"``);
- no output tokens: ``cost ≈ p_in·prompt_tokens + k``, where ``k`` is the per-call cost of the
  answer; it is priced as if every answer were `ASSUMED_ANSWER_TOKENS` long,
  ``p_out = k / ASSUMED_ANSWER_TOKENS`` (``"prompt+flat"``);
- fewer than three calls, or prompt lengths that do not vary: the mean cost per call is a flat
  price, ``p_in = 0`` (``"flat"``).

How the engine uses them: its `CallEstimator` estimates a call's cost as
``p_in·prompt_tokens + p_out·answer_tokens`` with ``answer_tokens`` starting at its
``default_output_tokens`` (256, `ASSUMED_ANSWER_TOKENS`) and learned per model and context from
observed costs as ``(cost − p_in·prompt_tokens) / p_out``. With ``"prompt+flat"`` or ``"flat"``
prices, the first estimate is the fitted per-call cost and the learned "answer tokens" are the
answer's cost in units of the flat part, so estimates still follow the logged costs.

>>> import numpy as np
>>> from banditroute.outcome_log import OutcomeLog
>>> prompts = ["x" * 400, "x" * 800, "x" * 2000, "x" * 4000]  # 100 .. 1000 tokens
>>> tokens = np.array([100.0, 200.0, 500.0, 1000.0])
>>> cost = np.stack([tokens * 2e-6 + 1e-3, np.full(4, 5e-4)], axis=1)
>>> log = OutcomeLog(prompts, ["t"] * 4, ["a", "b"], np.ones((4, 2)), cost)
>>> [(p.model, round(p.input_usd_per_mtok, 3), round(p.answer_usd, 6), p.rule)
...  for p in infer_prices(log)]
[('a', 2.0, 0.001, 'prompt+flat'), ('b', 0.0, 0.0005, 'prompt+flat')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..features import estimate_tokens
from ..outcome_log import OutcomeLog
from ..registry import MAX_USD_PER_MTOK, ModelProfile, Registry
from .loaders import LoadedLog

__all__ = [
    "ASSUMED_ANSWER_TOKENS",
    "InferredPrice",
    "infer_prices",
    "inferred_profiles",
    "replay_models",
]

ASSUMED_ANSWER_TOKENS = 256  #: the engine's `CallEstimator` default answer length


@dataclass(frozen=True)
class InferredPrice:
    """One model's prices as read off its logged costs.

    Parameters
    ----------
    model : str
        The model's id in the log.
    input_usd_per_mtok, output_usd_per_mtok : float
        USD per million prompt / answer tokens.
    answer_usd : float
        Fitted cost of one answer (mean answer tokens × output price, or the flat part).
    rule : str
        ``"tokens"``, ``"prompt+flat"`` or ``"flat"`` (see the module docstring).
    calls : int
        Logged calls the fit used.
    """

    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    answer_usd: float
    rule: str
    calls: int

    def profile(self) -> ModelProfile:
        """A `ModelProfile` with these prices (provider ``"inferred"``)."""
        cap = MAX_USD_PER_MTOK
        return ModelProfile(
            id=self.model,
            provider="inferred",
            input_usd_per_mtok=min(self.input_usd_per_mtok, cap),
            output_usd_per_mtok=min(self.output_usd_per_mtok, cap),
            source=f"inferred from {self.calls} logged costs ({self.rule})",
        )


def _varies(values: np.ndarray) -> bool:
    return values.size >= 3 and float(np.ptp(values)) > 0


def _fit(columns: Sequence[np.ndarray], cost: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    design = np.stack(columns, axis=1)
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(design / scale, cost)
    return np.asarray(coef / scale, dtype=float)


def _one(model: str, cost: np.ndarray, t_in: np.ndarray, t_out: np.ndarray | None) -> InferredPrice:
    n = int(cost.size)
    if t_out is not None and _varies(t_out):
        columns = [t_in, t_out] if _varies(t_in) else [t_out]
        coef = _fit(columns, cost)
        p_in, p_out = (coef[0], coef[1]) if len(coef) == 2 else (0.0, coef[0])
        answer = float(p_out * t_out.mean())
        return InferredPrice(model, float(p_in * 1e6), float(p_out * 1e6), answer, "tokens", n)
    if _varies(t_in):
        p_in, flat = _fit([t_in, np.ones_like(t_in)], cost)
        rule = "prompt+flat"
    else:
        p_in, flat, rule = 0.0, float(cost.mean()) if n else 0.0, "flat"
    out = float(flat) * 1e6 / ASSUMED_ANSWER_TOKENS
    return InferredPrice(model, float(p_in * 1e6), out, float(flat), rule, n)


def infer_prices(log: OutcomeLog, output_tokens: np.ndarray | None = None) -> list[InferredPrice]:
    """Each model's prices from the log's costs (in the log's model order).

    ``output_tokens`` (prompts × models, NaN where unknown) enables the ``"tokens"`` rule for
    a model with at least three known answer lengths (fitted on those calls).
    """
    t_in = np.array([estimate_tokens(p) for p in log.prompts], dtype=float)
    out = []
    for j, model in enumerate(log.models):
        cost, rows, t_out = np.asarray(log.cost[:, j], dtype=float), t_in, None
        if output_tokens is not None:
            known = np.isfinite(output_tokens[:, j])
            if known.sum() >= 3:  # fit on the calls whose answer length the log gives
                cost, rows = cost[known], t_in[known]
                t_out = np.asarray(output_tokens[known, j], dtype=float)
        out.append(_one(model, cost, rows, t_out))
    return out


def inferred_profiles(
    log: OutcomeLog, output_tokens: np.ndarray | None = None
) -> list[ModelProfile]:
    """`ModelProfile` s priced by `infer_prices` (in the log's model order)."""
    return [p.profile() for p in infer_prices(log, output_tokens)]


def replay_models(
    loaded: LoadedLog, registry: Registry, explicit: bool
) -> tuple[list[ModelProfile], str | None]:
    """The profiles a replay of ``loaded`` prices its models with, and a note when inferred.

    An ``explicit`` registry (``--registry``) always wins (the replay refuses a model it does
    not list); otherwise the default ``registry`` is used when it lists every model of the log,
    and prices are inferred from the logged costs when it does not.
    """
    log = loaded.log
    if explicit or all(m in registry for m in log.models):
        return list(registry), None
    prices = infer_prices(log, loaded.output_tokens)
    rules = sorted({p.rule for p in prices})
    note = (
        f"no registry lists {len(log.models)} models of the log: prices inferred from the "
        f"logged costs ({', '.join(rules)}; pass --registry to set them)"
    )
    return [p.profile() for p in prices], note
