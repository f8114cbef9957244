"""Errors → OpenAI-style error replies: ``{"error": {"message", "type", "code", "param"}}``.

=============================================  ======  ===================================
what went wrong                                status  ``type`` / ``code``
=============================================  ======  ===================================
bad JSON, a bad field, a bad header            400     invalid_request_error / invalid_request
no or wrong service key                        401     authentication_error / invalid_api_key
unknown model, preset or decision id           404     invalid_request_error / model_not_found,
                                                       decision_not_found
body larger than ``max_body_bytes``            413     invalid_request_error / body_too_large
the caller's constraints exclude every model   422     invalid_request_error / no_feasible_model
every allowed model is rate-limited            429     rate_limit_error / rate_limited
a hard budget is used up                       429     insufficient_quota / budget_exhausted
every allowed model is cooled down             503     service_unavailable / models_cooled_down
every provider call timed out                  504     upstream_error / upstream_timeout
every provider refused the request as bad      400     upstream_error / upstream_rejected
every attempt failed otherwise                 502     upstream_error / upstream_failed
the decision log cannot be read                503     service_unavailable / store_unavailable
anything unexpected                            500     internal_error / internal_error
=============================================  ======  ===================================

"Every allowed model" means: at least one model was excluded (or skipped) only by a guard;
a 429 / 503 carries ``Retry-After`` when the guards say how long. Replies to a request that
reached the models carry the ``banditroute`` object (decision id and every attempt).

>>> from banditroute.errors import NoFeasibleModel
>>> f = failure_for(NoFeasibleModel({"a": "rate-limited for 2.5 s (requests_per_minute 10)",
...                                  "b": "estimated cost 0.01 USD > max_cost_usd 0.002"}))
>>> f.status, f.code, f.headers
(429, 'rate_limited', {'retry-after': '3'})
>>> failure_for(NoFeasibleModel({"b": "in deny_models"})).status
422
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import (
    BanditRouteError,
    InvalidInput,
    NoFeasibleModel,
    StoreError,
    UnknownDecision,
    UnknownModel,
)
from ..gateway.attempts import CompletionFailed
from ..gateway.errors import DeadlineExceeded, ProviderBadRequest, ProviderError, ProviderTimeout
from ..text import library_logger
from .wire_out import attempts_json

__all__ = ["BodyTooLarge", "Failure", "failure_for", "guard_kind"]

LOGGER = library_logger("banditroute.serve")
GuardKind = Literal["cooldown", "rate_limit", "budget"]
_FOR_SECONDS = re.compile(r"for (\d+(?:\.\d+)?) s")


class BodyTooLarge(InvalidInput):
    """The request body is larger than the server accepts (413)."""


@dataclass(frozen=True)
class Failure:
    """An error reply: HTTP status, OpenAI error type and code, message, extra headers."""

    status: int
    type: str
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    banditroute: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        out: dict[str, Any] = {
            "error": {"message": self.message, "type": self.type, "code": self.code, "param": None}
        }
        if self.banditroute is not None:
            out["banditroute"] = self.banditroute
        return out


def guard_kind(reason: str) -> GuardKind | None:
    """Which guard an exclusion or skip reason comes from (None: not a guard's).

    >>> guard_kind("cooled down for 3.0 s more after 5 failures in 60 s"), guard_kind("x")
    ('cooldown', None)
    """
    if reason.startswith(("cooled down", "half-open")):
        return "cooldown"
    if reason.startswith("rate-limited"):
        return "rate_limit"
    if reason == "over budget" or (reason.startswith("budget ") and "used up" in reason):
        return "budget"
    return None


def _retry_after(reasons: Iterable[str]) -> dict[str, str]:
    waits = [float(m.group(1)) for r in reasons if (m := _FOR_SECONDS.search(r))]
    return {"retry-after": str(max(1, math.ceil(min(waits))))} if waits else {}


def _guarded(reasons: list[str], message: str, extra: dict[str, Any] | None) -> Failure | None:
    """The 429 / 503 reply when guards alone kept the allowed models from serving."""
    kinds = {k for r in reasons if (k := guard_kind(r)) is not None}
    headers = _retry_after(r for r in reasons if guard_kind(r) in ("cooldown", "rate_limit"))
    if "rate_limit" in kinds:
        return Failure(429, "rate_limit_error", "rate_limited", message, headers, extra)
    if "budget" in kinds:
        return Failure(429, "insufficient_quota", "budget_exhausted", message, {}, extra)
    if "cooldown" in kinds:
        return Failure(503, "service_unavailable", "models_cooled_down", message, headers, extra)
    return None


def _failed(exc: CompletionFailed, extra: dict[str, Any] | None) -> Failure:
    message = str(exc)
    if not exc.attempts:  # nothing was called: every model was skipped
        skipped = [a.error or "" for a in exc.tried if a.skipped]
        guarded = _guarded(skipped, message, extra)
        if guarded is not None:
            return guarded
    if exc.attempts and all(
        isinstance(e, ProviderTimeout | DeadlineExceeded) for e in exc.attempts
    ):
        return Failure(504, "upstream_error", "upstream_timeout", message, {}, extra)
    if exc.attempts and all(isinstance(e, ProviderBadRequest) for e in exc.attempts):
        return Failure(400, "upstream_error", "upstream_rejected", message, {}, extra)
    return Failure(502, "upstream_error", "upstream_failed", message, {}, extra)


def failure_for(exc: BaseException, decision_id: str | None = None) -> Failure:
    """The reply for an exception raised while serving a request."""
    extra = None
    if isinstance(exc, CompletionFailed):
        extra = {"decision_id": decision_id, "attempts": attempts_json(exc.tried)}
        return _failed(exc, extra)
    if isinstance(exc, NoFeasibleModel):
        guarded = _guarded(list(exc.reasons.values()), str(exc), None)
        if guarded is not None:
            return guarded
        return Failure(422, "invalid_request_error", "no_feasible_model", str(exc))
    if isinstance(exc, UnknownModel):
        return Failure(404, "invalid_request_error", "model_not_found", str(exc))
    if isinstance(exc, UnknownDecision):
        return Failure(404, "invalid_request_error", "decision_not_found", str(exc))
    if isinstance(exc, StoreError):
        return Failure(503, "service_unavailable", "store_unavailable", str(exc))
    if isinstance(exc, BodyTooLarge):
        return Failure(413, "invalid_request_error", "body_too_large", str(exc))
    if isinstance(exc, InvalidInput):
        return Failure(400, "invalid_request_error", "invalid_request", str(exc))
    if isinstance(exc, ProviderError):  # raised by a stream before its first chunk
        timeout = isinstance(exc, ProviderTimeout | DeadlineExceeded)
        status, code = (504, "upstream_timeout") if timeout else (502, "upstream_failed")
        return Failure(status, "upstream_error", code, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BanditRouteError):
        LOGGER.warning("request failed: %s: %s", type(exc).__name__, exc)
    else:
        LOGGER.log(logging.ERROR, "request failed unexpectedly", exc_info=exc)
    return Failure(500, "internal_error", "internal_error", "internal error (see the server log)")
