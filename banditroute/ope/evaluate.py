"""`evaluate`: every requested estimate of one target policy's value on a log, as one result.

>>> import numpy as np
>>> from banditroute.ope import FixedModel, LoggedBandit
>>> rng = np.random.default_rng(0)
>>> actions = rng.integers(0, 2, 400)
>>> rewards = np.where(actions == 0, 0.8, 0.3) + rng.normal(0, 0.1, 400)
>>> logged = LoggedBandit.from_arrays(np.ones((400, 1)), actions, [0.5] * 400, rewards,
...                                   ["a", "b"])
>>> result = evaluate(logged, FixedModel("a"))
>>> [(e.method, round(e.value, 2)) for e in result.estimates]  # truth 0.8; IPS is noisier
[('ips', 0.71), ('snips', 0.79), ('dr', 0.79), ('switch_dr', 0.79), ('clipped_dr', 0.79)]
>>> result.get("dr").covers(0.8)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput, invalid
from .capped import clipped_dr, switch_dr
from .estimators import METHODS, Estimate, dr, ips, snips
from .logged import LeftOut, LoggedBandit
from .reward_model import CrossFitRidge
from .targets import TargetPolicy, check_probabilities

__all__ = ["FEW_ROWS", "Evaluation", "evaluate"]

FEW_ROWS = 30  #: below this effective sample size, an evaluation carries a warning note


@dataclass(frozen=True)
class Evaluation:
    """The estimates of one target's mean reward per decision, and how well the log supports it.

    ``effective_sample_size`` is (Σw)² / Σw² over the importance weights w (n when the target
    is the logging policy; small when the target mostly picks what the log rarely did);
    ``match_rate`` is the share of rows where the target could have picked the logged model.
    """

    target: str
    estimates: tuple[Estimate, ...]
    n_used: int
    left_out: LeftOut
    logged_mean: float
    effective_sample_size: float
    match_rate: float
    notes: tuple[str, ...] = ()  #: methods left out and why

    def get(self, method: str) -> Estimate:
        """The estimate by ``method`` (one of `METHODS`)."""
        for e in self.estimates:
            if e.method == method:
                return e
        raise invalid("method", method, f"one of {[e.method for e in self.estimates]}")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able figures."""
        return {
            "target": self.target,
            "n_used": self.n_used,
            "left_out": asdict(self.left_out),
            "logged_mean": self.logged_mean,
            "effective_sample_size": self.effective_sample_size,
            "match_rate": self.match_rate,
            "notes": list(self.notes),
            "estimates": [asdict(e) for e in self.estimates],
        }

    def to_markdown(self) -> str:
        """A table: one line per method."""
        e0 = self.estimates[0]
        level = f"{100 * (1 - e0.alpha):g}%"
        lines = [
            f"### {self.target}",
            f"{self.n_used} rows used; {self.left_out.describe()}; logged mean reward "
            f"{self.logged_mean:.4f}; effective sample size {self.effective_sample_size:.1f}; "
            f"target agrees with the log on {100 * self.match_rate:.1f}% of rows",
            "",
            f"| method | value | {level} interval | std error | weight cap | share uncovered |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for e in self.estimates:
            cap = "" if e.cap is None else f"{e.cap:.4g}"
            uncovered = "" if e.uncovered is None else f"{e.uncovered:.3f}"
            lines.append(
                f"| {e.method} | {e.value:.4f} | [{e.low:.4f}, {e.high:.4f}] | {e.std_error:.4f} "
                f"| {cap} | {uncovered} |"
            )
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def evaluate(
    logged: LoggedBandit,
    target: TargetPolicy,
    methods: Sequence[str] = METHODS,
    alpha: float = 0.1,
    clip: float | None = None,
    reward_model: CrossFitRidge | None = None,
    reward_range: tuple[float, float] | None = None,
    predictions: np.ndarray | None = None,
) -> Evaluation:
    """Estimate ``target``'s mean reward per decision on ``logged`` by each of ``methods``.

    The target's probabilities are checked (rows sum to 1, zero outside the candidates);
    ``clip`` caps the importance weights of IPS, SNIPS and DR (switch_dr and clipped_dr choose
    their own cap); ``reward_model`` is the DR family's (default `CrossFitRidge`), fitted once,
    or give its ``predictions`` (n, K); ``reward_range`` bounds the rewards for the capped
    estimators' intervals (default: the logged range).
    """
    if not isinstance(target, TargetPolicy):
        raise invalid("target", target, "a TargetPolicy (name, probabilities(logged))")
    wanted = list(methods)
    unknown = [m for m in wanted if m not in METHODS]
    if not wanted or unknown:
        raise invalid("methods", wanted, f"a non-empty subset of {list(METHODS)}")
    p = check_probabilities(target.probabilities(logged), logged)
    found, notes = [], []
    if predictions is None and {"dr", "switch_dr", "clipped_dr"} & set(wanted):
        model = reward_model if reward_model is not None else CrossFitRidge()
        predictions = model.predict(
            logged.contexts, logged.actions, logged.rewards, len(logged.models)
        )
    for method in wanted:
        if method == "dr":
            found.append(dr(logged, p, alpha, clip, predictions))
        elif method == "switch_dr":
            found.append(switch_dr(logged, p, alpha, None, predictions, None, reward_range))
        elif method == "clipped_dr":
            found.append(clipped_dr(logged, p, alpha, None, predictions, None, reward_range))
        elif method == "ips":
            found.append(ips(logged, p, alpha, clip))
        else:
            try:
                found.append(snips(logged, p, alpha, clip))
            except InvalidInput as exc:
                notes.append(f"snips left out: {exc}")
    if not found:
        raise InvalidInput("; ".join(notes))
    chosen = p[np.arange(logged.n), logged.actions]
    w = chosen / logged.propensities
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0
    if ess < FEW_ROWS:
        notes.append(
            f"effective sample size {ess:.1f} < {FEW_ROWS}: the log rarely did what this target "
            "does; estimates lean on few rows (or, for DR, on the reward model) and the normal "
            "intervals are not reliable"
        )
    return Evaluation(
        target.name,
        tuple(found),
        logged.n,
        logged.left_out,
        float(logged.rewards.mean()),
        ess,
        float((chosen > 0).mean()),
        tuple(notes),
    )
