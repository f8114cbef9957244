"""One finished gateway call as the decision log's ``calls`` table stores it.

A call ends served, failed, or as a cache hit; its row lists every attempt (made or skipped)
so the log shows failovers, cooldowns, rate limits and budgets as they happened.

>>> from banditroute.store.call_record import CallAttempt, CallRecord
>>> record = CallRecord(
...     call_id="c1", ts=0.0, decision_id="d1", model="m2", cache="", ok=True,
...     cost_usd=0.001, latency_ms=40.0, tags=("team-a",),
...     attempts=(CallAttempt("m1", "failed", 12.0, "ProviderUnavailable: 503"),
...               CallAttempt("m2", "ok", 28.0)))
>>> record.n_attempts, record.attempts[0].status
(2, 'failed')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .redact import Redactor

__all__ = ["CallAttempt", "CallRecord", "call_row"]

AttemptStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class CallAttempt:
    """One call to one model within a gateway call, or a model skipped before calling it."""

    model: str
    status: AttemptStatus
    latency_ms: float = 0.0
    error: str | None = None  #: "ErrorType: message" when it failed or was skipped


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A gateway call that ended.

    Parameters
    ----------
    call_id : str
        A fresh id of the call.
    ts : float
        When it ended, seconds since the epoch (UTC).
    decision_id : str
        The engine's decision ("" for a cache hit: no decision was made).
    model : str
        The model whose answer was served ("" when none answered).
    cache : {"", "exact", "semantic"}
        Which response cache served it ("" when a model was called).
    ok : bool
        False when no model answered (`CompletionFailed`) or a stream broke.
    cost_usd, latency_ms : float
        The served answer's cost and latency (a failed call: no cost, its attempts' latencies
        summed; a cache hit: 0).
    attempts : tuple of CallAttempt
        Every attempt, in order.
    tags : tuple of str
        The call's tags (budgets).
    """

    call_id: str
    ts: float
    decision_id: str
    model: str
    cache: str  #: "", "exact" or "semantic"
    ok: bool
    cost_usd: float
    latency_ms: float
    attempts: tuple[CallAttempt, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def n_attempts(self) -> int:
        """Attempts made or skipped."""
        return len(self.attempts)


def _redacted(error: str | None, redact: Redactor) -> str | None:
    """An error string as the store may keep it: through ``redact``; when that keeps no text
    (e.g. `drop_prompts`), only the error type before the first colon."""
    if error is None:
        return None
    kept = redact(error)
    return kept if kept is not None else error.split(":", 1)[0]


def call_row(record: CallRecord, redact: Redactor) -> dict[str, Any]:
    """The ``calls`` table row of ``record``, its error strings passed through ``redact``.

    >>> row = call_row(CallRecord("c", 0.0, "", "m", "", False, 0.0, 1.0,
    ...                (CallAttempt("m", "failed", 1.0, "E: key sk-abcdefghijklmnopqrstu"),)),
    ...                redact=lambda text: text.replace("sk-abcdefghijklmnopqrstu", "[X]"))
    >>> row["n_attempts"], row["attempts"]
    (1, '[{"model": "m", "error": "E: key [X]", "latency_ms": 1.0, "status": "failed"}]')
    """
    attempts = [
        {
            "model": a.model,
            "error": _redacted(a.error, redact),
            "latency_ms": a.latency_ms,
            "status": a.status,
        }
        for a in record.attempts
    ]
    return {
        "call_id": record.call_id,
        "ts": record.ts,
        "decision_id": record.decision_id,
        "model": record.model,
        "cache": record.cache,
        "ok": record.ok,
        "cost_usd": record.cost_usd,
        "latency_ms": record.latency_ms,
        "n_attempts": record.n_attempts,
        "attempts": json.dumps(attempts),
        "tags": json.dumps(list(record.tags)),
    }
