"""The typed result of `run_study` (``banditroute evaluate``): agreement figures and the fit.

`EvaluationStudy.to_json` is what ``banditroute evaluate --json`` writes;
`EvaluationStudy.summary` is the line it prints.

>>> from banditroute.evaluation.agreement import AgreementReport
>>> r = AgreementReport(0.75, 8, 0.5, 2)
>>> study = EvaluationStudy(rows=6, prompts=2, embedder="h", ms_per_pair_batched=0.1,
...                         default=r, components={"coherence": r}, length_baseline=r)
>>> study.agreement, study.pairs, study.to_json()["default"]
(0.75, 8, {'agreement': 0.75, 'agreement_length_matched': 0.5})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .agreement import AgreementReport

__all__ = ["EvaluationStudy", "FitFigures"]


def _figures(r: AgreementReport) -> dict[str, Any]:
    return {"agreement": r.agreement, "agreement_length_matched": r.agreement_length_matched}


@dataclass(frozen=True)
class FitFigures:
    """What the evaluator was fitted on.

    Parameters
    ----------
    rows, prompts : int
        Rows and distinct prompts of FIT used.
    rows_dropped_as_evaluated_prompts : int
        FIT rows left out because DATA holds their prompt.
    penalty : float
        Ridge penalty of the fit.
    text_terms : int
        Vocabulary of the learned text signal stacked into the calibration (0: none).
    file : str or None
        The FIT file, when recorded.
    """

    rows: int
    prompts: int
    rows_dropped_as_evaluated_prompts: int
    penalty: float
    text_terms: int = 0
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``fit`` part of the JSON."""
        out: dict[str, Any] = {
            "rows": self.rows,
            "prompts": self.prompts,
            "rows_dropped_as_evaluated_prompts": self.rows_dropped_as_evaluated_prompts,
            "penalty": self.penalty,
            "text_terms": self.text_terms,
        }
        if self.file is not None:
            out["file"] = self.file
        return out


@dataclass(frozen=True)
class EvaluationStudy:
    """Agreement of the evaluator's scores with judge labels.

    Parameters
    ----------
    rows, prompts : int
        Labelled responses and distinct prompts of DATA.
    embedder : str
        Name of the embedder used.
    ms_per_pair_batched : float
        Wall-clock milliseconds per (prompt, response) pair, scored in batches.
    default : AgreementReport
        The un-fitted evaluator's total score.
    components : mapping of str to AgreementReport
        Each component score (completeness, relevance, coherence) on its own.
    length_baseline : AgreementReport
        Response length as the score ("longer is better").
    fit : FitFigures or None
        What the evaluator was fitted on (None: no FIT given).
    fitted : AgreementReport or None
        The fitted evaluator's total score (None: no FIT given).
    data : str or None
        The DATA file, when recorded.
    """

    rows: int
    prompts: int
    embedder: str
    ms_per_pair_batched: float
    default: AgreementReport
    components: Mapping[str, AgreementReport]
    length_baseline: AgreementReport
    fit: FitFigures | None = None
    fitted: AgreementReport | None = None
    data: str | None = None

    @property
    def chosen(self) -> AgreementReport:
        """The evaluator the study reports: the fitted one if there is one, else the default."""
        return self.default if self.fitted is None else self.fitted

    @property
    def agreement(self) -> float:
        """Agreement of the reported evaluator over all qualifying pairs."""
        return self.chosen.agreement

    @property
    def agreement_length_matched(self) -> float:
        """Agreement of the reported evaluator over length-matched pairs."""
        return self.chosen.agreement_length_matched

    @property
    def pairs(self) -> int:
        """Qualifying pairs (labels more than 0.1 apart, same prompt)."""
        return self.default.pairs

    @property
    def pairs_length_matched(self) -> int:
        """Qualifying pairs whose response lengths are close."""
        return self.default.pairs_length_matched

    def summary(self) -> str:
        """The one line ``banditroute evaluate`` prints."""
        base = self.length_baseline
        return (
            f"agreement {self.agreement:.3f} over {self.pairs} pairs; "
            f"length-matched {self.agreement_length_matched:.3f} over "
            f"{self.pairs_length_matched} (length alone: "
            f"{base.agreement:.3f} / {base.agreement_length_matched:.3f})"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON report (``banditroute evaluate --json``), keys in this order."""
        out: dict[str, Any] = {
            "rows": self.rows,
            "prompts": self.prompts,
            "embedder": self.embedder,
            "ms_per_pair_batched": self.ms_per_pair_batched,
            "pairs": self.pairs,
            "pairs_length_matched": self.pairs_length_matched,
            "default": _figures(self.default),
            "components": {k: _figures(r) for k, r in self.components.items()},
            "length_baseline": _figures(self.length_baseline),
        }
        if self.fit is not None:
            out["fit"] = self.fit.to_json()
        if self.fitted is not None:
            out["fitted"] = _figures(self.fitted)
        out["agreement"] = self.agreement
        out["agreement_length_matched"] = self.agreement_length_matched
        if self.data is not None:
            out["data"] = self.data
        return out
