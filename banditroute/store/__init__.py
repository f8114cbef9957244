"""The decision log (LanceDB) and the questions it answers.

>>> from banditroute.store import DecisionStore, ask, parse_question
"""

from .ask import Answer, Question, ask, parse_question
from .decision_store import DecisionStore, quote
from .redact import drop_prompts, redact_secrets

__all__ = [
    "Answer",
    "DecisionStore",
    "Question",
    "ask",
    "drop_prompts",
    "parse_question",
    "quote",
    "redact_secrets",
]
