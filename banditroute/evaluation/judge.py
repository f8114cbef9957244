"""An LLM judge over httpx: any OpenAI-compatible chat endpoint scores a response.

The API key is read from an environment variable at each request; it is never stored on the
object, written to disk, put in an error message or logged by banditroute.

Time limits are totals, not per read: each attempt ends within ``timeout_s`` and a whole call
(retries and back-off included) within ``deadline_s``, also against a server that trickles its
answer a byte at a time (the gateway's deadline transport, `banditroute.gateway.transport`).

>>> from banditroute.evaluation.judge import LLMJudge, parse_scores
>>> parse_scores('Sure! ```json\\n{"completeness": 8, "relevance": 9, "coherence": "7"}\\n```')
(0.8, 0.9, 0.7)
>>> judge = LLMJudge("http://127.0.0.1:8000/v1", model="judge-small")   # nothing is sent yet
>>> judge
LLMJudge(base_url='http://127.0.0.1:8000/v1', model='judge-small', api_key_env='OPENAI_API_KEY')
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInput, JudgeError, check_number, invalid
from ..text import clean_text, library_logger
from .evaluator import ComponentWeights, Evaluation

if TYPE_CHECKING:
    from ..gateway.messages import ChatRequest

__all__ = ["LLMJudge", "parse_scores"]

log = library_logger(__name__)

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
        Longest time one attempt may take, first byte sent to last byte read; retries after
        timeouts, connection errors and 408/429/5xx answers, with exponential back-off.
    weights : ComponentWeights, optional
        How the three scores add up to the total.
    deadline_s : float, optional
        Longest time one `evaluate` may take, all attempts and waits included (default: twice
        ``timeout_s``, room for one full attempt and quick retries); a retry whose back-off
        would end after it is not made.
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
        deadline_s: float | None = None,
    ) -> None:
        import httpx

        from ..gateway.connection import Connection

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise invalid("base_url", base_url, "an http:// or https:// URL")
        if not isinstance(model, str) or not model:
            raise invalid("model", model, "a model name")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise invalid("max_retries", max_retries, "an int in [0, 100]")
        if not 0 <= max_retries <= 100:
            raise invalid("max_retries", max_retries, "an int in [0, 100]")
        self.timeout_s = check_number("timeout_s", timeout_s, 0, 86400, above=True)
        self.backoff_s = check_number("backoff_s", backoff_s, 0, 3600)
        default = 2.0 * self.timeout_s
        self.deadline_s = (
            default
            if deadline_s is None
            else check_number("deadline_s", deadline_s, 0, 1e6, above=True)
        )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.weights = weights or ComponentWeights()
        try:  # the key's variable name only; the key itself is read at each request
            self._keyed = Connection(
                base_url=self.base_url, api_key_env=api_key_env, timeout_s=self.timeout_s
            )
            self._keyless = self._keyed.model_copy(update={"api_key_env": None})
        except InvalidInput as exc:
            raise InvalidInput(f"LLMJudge: {exc}") from None
        # A fresh connection per attempt lets the deadline watchdog always see the socket, so
        # a server that trickles even its headers is cut at the deadline.
        self._client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))

    def _pause(self, attempt: int) -> float:
        """The back-off before retry number ``attempt`` (1, 2, ...)."""
        return self.backoff_s * 2.0 ** min(attempt - 1, 30)

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

    def _post(self, request: ChatRequest) -> str:
        """The judge's reply text, within ``timeout_s`` per attempt and ``deadline_s`` in all."""
        from ..gateway.errors import (
            DeadlineExceeded,
            MalformedResponse,
            ProviderError,
            ProviderTimeout,
        )
        from ..gateway.transport import send

        url = f"{self.base_url}/chat/completions"
        deadline = time.monotonic() + self.deadline_s
        problem = "no attempt was made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                pause = self._pause(attempt)
                if time.monotonic() + pause >= deadline:
                    break
                time.sleep(pause)
            has_key = bool(os.environ.get(self.api_key_env, "").strip())
            connection = self._keyed if has_key else self._keyless
            try:
                reply = send(
                    self._client, connection, request, model_id=self.model, deadline=deadline
                )
            except (ProviderTimeout, DeadlineExceeded):
                problem = "timed out"
            except MalformedResponse as exc:
                raise JudgeError(f"the judge's answer could not be read: {exc.message}") from None
            except ProviderError as exc:
                if exc.status is None:
                    problem = f"connection failed ({exc.message.split(':')[0]})"
                else:
                    problem = f"HTTP {exc.status}"
                    if not (exc.retryable or exc.status in _RETRY_STATUS):
                        break
            else:
                return reply.text
            log.warning("judge request to %s: %s (attempt %d)", url, problem, attempt + 1)
            if time.monotonic() >= deadline:
                break
        raise JudgeError(f"judge request to {url} failed: {problem}")

    def evaluate(self, prompt: str, response: str) -> Evaluation:
        """Ask the judge for the three scores of one response."""
        prompt, response = clean_text(prompt, "prompt"), clean_text(response, "response")
        from ..gateway.messages import ChatRequest

        request = ChatRequest.from_prompt(
            f"PROMPT:\n{prompt[:8000]}\n\nRESPONSE:\n{response[:16000]}",
            system=INSTRUCTIONS,
            temperature=0,
        )
        c, r, h = parse_scores(self._post(request))
        total = float(self.weights.combine(np.array([[c, r, h]]))[0])
        return Evaluation(c, r, h, total, calibrated=False)

    def evaluate_many(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Evaluation]:
        """Evaluate pairs one request at a time."""
        if len(prompts) != len(responses):
            raise invalid("responses", len(responses), f"one per prompt ({len(prompts)})")
        return [self.evaluate(p, r) for p, r in zip(prompts, responses, strict=True)]
