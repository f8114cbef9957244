"""Response evaluation: the heuristic evaluator, its calibration from gold labels, an LLM judge.

>>> from banditroute.evaluation import Evaluator, LLMJudge, RankCalibration, agreement
"""

from .agreement import AgreementReport, agreement
from .calibration import RankCalibration
from .evaluator import ComponentWeights, Evaluation, Evaluator
from .judge import LLMJudge, parse_scores

__all__ = [
    "AgreementReport",
    "ComponentWeights",
    "Evaluation",
    "Evaluator",
    "LLMJudge",
    "RankCalibration",
    "agreement",
    "parse_scores",
]
