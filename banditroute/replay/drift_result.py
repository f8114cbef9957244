"""What an injected drift did to each drift strategy: the typed result of `drift_report`.

`DriftReport.to_json` is the ``drift`` part of ``banditroute replay --json``;
`DriftReport.to_markdown` is the section the command prints under its table.

>>> from banditroute.replay.drift_injection import DriftSpec
>>> report = DriftReport(
...     injected=DriftSpec.parse("m@10:quality*0.5"), cost_weight=0.0, detected=(),
...     delay_decisions=(None,), false_resets=(0,), false_resets_stationary=(0,),
...     post_change_regret={"no_handling": 3.0}, stationary_regret={"no_handling": 1.0},
...     recovered_share=(), restoration_detected_after=(), decisions_per_seed=40)
>>> report.to_json()["injected"]
{'model': 'm', 'start': 10, 'end': None, 'signal': 'quality', 'change': '*0.5'}
>>> print(report.to_markdown().splitlines()[-1])
| no_handling | 3.0 | 1.0 |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .drift_injection import DriftSpec

__all__ = ["DriftDetection", "DriftReport", "TrafficShare"]


@dataclass(frozen=True)
class DriftDetection:
    """One drift event the detect-and-reset strategy raised on the drifted stream.

    Parameters
    ----------
    seed : int
        The replay seed (stream order) it was raised in.
    model, signal : str
        Which model and which signal changed.
    step : int
        Position in the routed stream at detection.
    """

    seed: int
    model: str
    signal: str
    step: int

    def to_json(self) -> dict[str, Any]:
        """``{"seed", "model", "signal", "step"}``."""
        return {"seed": self.seed, "model": self.model, "signal": self.signal, "step": self.step}


@dataclass(frozen=True)
class TrafficShare:
    """Share of decisions routed to the drifted model before the change and at the end.

    Parameters
    ----------
    seed : int
        The replay seed.
    share_before_change, share_at_end : float
        Over the 300 decisions before the change, and the last 300 (from the restoration on).
    """

    seed: int
    share_before_change: float
    share_at_end: float

    def to_json(self) -> dict[str, Any]:
        """``{"seed", "share_before_change", "share_at_end"}``."""
        return {
            "seed": self.seed,
            "share_before_change": self.share_before_change,
            "share_at_end": self.share_at_end,
        }


@dataclass(frozen=True)
class DriftReport:
    """Every drift strategy on the drifted and on the unchanged stream (lists: one per seed).

    Parameters
    ----------
    injected : DriftSpec
        The degradation injected.
    cost_weight : float
        λ / cost_scale the strategies were run with.
    detected : tuple of DriftDetection
        Every event detect-and-reset raised on the drifted stream.
    delay_decisions : tuple of int or None
        Decisions routed to the model after the change until its detection (None: never seen).
    false_resets, false_resets_stationary : tuple of int
        Events that were not the injected change, on the drifted and the unchanged stream.
    post_change_regret, stationary_regret : mapping of str to float
        Mean regret per strategy over the changed window, drifted and unchanged stream.
    recovered_share : tuple of TrafficShare
        Only when the drift ends (a restoration).
    restoration_detected_after : tuple of int or None
        Decisions after the restoration until the probes saw it (only when the drift ends).
    decisions_per_seed : int
        Length of the routed stream.
    """

    injected: DriftSpec
    cost_weight: float
    detected: tuple[DriftDetection, ...]
    delay_decisions: tuple[int | None, ...]
    false_resets: tuple[int, ...]
    false_resets_stationary: tuple[int, ...]
    post_change_regret: Mapping[str, float]
    stationary_regret: Mapping[str, float]
    recovered_share: tuple[TrafficShare, ...]
    restoration_detected_after: tuple[int | None, ...]
    decisions_per_seed: int

    def to_json(self) -> dict[str, Any]:
        """The ``drift`` part of the replay JSON (keys in this order)."""
        spec = self.injected
        return {
            "injected": {
                "model": spec.model,
                "start": spec.start,
                "end": spec.end,
                "signal": spec.signal,
                "change": f"{spec.op}{spec.value}",
            },
            "cost_weight": self.cost_weight,
            "detected": [d.to_json() for d in self.detected],
            "delay_decisions": list(self.delay_decisions),
            "false_resets": list(self.false_resets),
            "false_resets_stationary": list(self.false_resets_stationary),
            "post_change_regret": dict(self.post_change_regret),
            "stationary_regret": dict(self.stationary_regret),
            "recovered_share": [s.to_json() for s in self.recovered_share],
            "restoration_detected_after": list(self.restoration_detected_after),
            "decisions_per_seed": self.decisions_per_seed,
        }

    def to_markdown(self) -> str:
        """The section printed under the replay table (starts with a blank line)."""
        d = self.to_json()
        lines = [
            "",
            f"Drift injected: {d['injected']}",
            f"decisions routed to it after the change until detection, per seed: "
            f"{d['delay_decisions']}",
            f"false resets per seed: drifted stream {d['false_resets']}, unchanged stream "
            f"{d['false_resets_stationary']} (of {d['decisions_per_seed']} decisions each)",
            "",
            "| strategy | regret after the change | same window, unchanged stream |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {k} | {v:.1f} | {self.stationary_regret[k]:.1f} |"
            for k, v in self.post_change_regret.items()
        ]
        if self.recovered_share:
            lines.append(
                "traffic share of the model, before the change / at the end: "
                f"{d['recovered_share']}"
            )
            lines.append(
                "restoration seen by the probes, decisions after it, per seed: "
                f"{d['restoration_detected_after']}"
            )
        return "\n".join(lines)
