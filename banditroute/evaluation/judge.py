"""An LLM judge over httpx: any OpenAI-compatible chat endpoint scores a response.

The API key is read from an environment variable at each request; it is never stored on the
object, written to disk, put in an error message or logged by banditroute.

>>> from banditroute.evaluation.judge import LLMJudge, parse_scores
>>> parse_scores('Sure! ```json\\n{"completeness": 8, "relevance": 9, "coherence": "7"}\\n```')
(0.8, 0.9, 0.7)
>>> judge = LLMJudge("http://127.0.0.1:8000/v1", model="judge-small")   # nothing is sent yet
>>> judge
LLMJudge(base_url='http://127.0.0.1:8000/v1', model='judge-small', api_key_env='OPENAI_API_KEY')
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import JudgeError, invalid
from .evaluator import ComponentWeights, Evaluation

__all__ = ["LLMJudge", "parse_scores"]

log = logging.getLogger(__name__)

PARTS = ("completeness", "relevance", "coherence")

INSTRUCTIONS = (
    "You grade an AI assistant's response to a user's prompt. Reply with one JSON object and "
    'nothing else: {"completeness": x, "relevance": y, "coherence": z}, each a number from 0 '
    "(worst) to 1 (best). completeness: does it fully answer every part of the prompt? "
    "relevance: is it about what was asked, in the prompt's language? coherence: is it clear, "
    "consistent, well-formed text?"
)

_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def parse_scores(text: str) -> tuple[float, float, float]:
    """Read the three scores from a judge's reply (JSON, possibly fenced or among other words).

    Scores on a 0–10 or 0–100 scale are rescaled to [0, 1]; anything unreadable raises
    `JudgeError`.
    """
    for candidate in reversed(_JSON_OBJECT.findall(text)):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        lowered = {str(k).strip().lower(): v for k, v in data.items()}
        try:
            values = [float(lowered[p]) for p in PARTS]
        except (KeyError, TypeError, ValueError):
            continue
        if not all(v == v and 0 <= v <= 100 for v in values):  # v == v rules out NaN
            continue
        top = max(values)
        scale = 1.0 if top <= 1 else 10.0 if top <= 10 else 100.0
        return tuple(round(v / scale, 6) for v in values)  # type: ignore[return-value]
    raise JudgeError(f"the judge's reply holds no scores object: {text[:200]!r}")


class LLMJudge:
    """Scores responses with a chat model behind an OpenAI-compatible ``/chat/completions``.

    Parameters
    ----------
    base_url : str
        Endpoint root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
    model : str
        The judge model's name at that endpoint.
    api_key_env : str
        Environment variable holding the key (read per request; may be unset for local servers).
    timeout_s, max_retries, backoff_s : float, int, float
        Per-request timeout; retries after timeouts, connection errors and 408/429/5xx
        answers, with exponential back-off.
    weights : ComponentWeights, optional
        How the three scores add up to the total.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 30.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        weights: ComponentWeights | None = None,
    ) -> None:
        import httpx

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise invalid("base_url", base_url, "an http:// or https:// URL")
        if not isinstance(model, str) or not model:
            raise invalid("model", model, "a model name")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise invalid("max_retries", max_retries, "an int >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.weights = weights or ComponentWeights()
        self._client = httpx.Client(timeout=timeout_s)

    def __repr__(self) -> str:
        return (
            f"LLMJudge(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = self._client.post(url, json=body, headers=self._headers())
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    try:
                        data = answer.json()
                    except ValueError:
                        raise JudgeError(
                            "the judge answered with a body that is not JSON"
                        ) from None
                    if isinstance(data, dict):
                        return data
                    raise JudgeError("the judge answered with JSON that is not an object")
                problem = f"HTTP {answer.status_code}"
                if answer.status_code not in _RETRY_STATUS:
                    break
            log.warning("judge request to %s: %s (attempt %d)", url, problem, attempt + 1)
        raise JudgeError(f"judge request to {url} failed: {problem}")

    def evaluate(self, prompt: str, response: str) -> Evaluation:
        """Ask the judge for the three scores of one response."""
        for name, value in (("prompt", prompt), ("response", response)):
            if not isinstance(value, str):
                raise invalid(name, value, "a str")
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {
                    "role": "user",
                    "content": f"PROMPT:\n{prompt[:8000]}\n\nRESPONSE:\n{response[:16000]}",
                },
            ],
        }
        data = self._post(body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise JudgeError("the judge's answer has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise JudgeError("the judge's message content is not text")
        c, r, h = parse_scores(content)
        total = float(self.weights.combine(np.array([[c, r, h]]))[0])
        return Evaluation(c, r, h, total, calibrated=False)

    def evaluate_many(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Evaluation]:
        """Evaluate pairs one request at a time."""
        if len(prompts) != len(responses):
            raise invalid("responses", len(responses), f"one per prompt ({len(prompts)})")
        return [self.evaluate(p, r) for p, r in zip(prompts, responses, strict=True)]
