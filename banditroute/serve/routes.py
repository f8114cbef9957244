"""The endpoints besides chat: feedback, models, decisions, ask, health and metrics.

- ``POST /v1/feedback``: ``{"decision_id", "quality" | "response", "cost_usd", "latency_ms",
  "output_tokens", "error", "prompt"}`` → the recorded outcome (404 for a decision unknown here
  or already answered).
- ``GET /v1/models``: the OpenAI model list: ``auto``, ``auto:<preset>`` for each preset, then
  every active model of the registry.
- ``GET /v1/decisions/{id}``: the decision as JSON with its ``explanation`` text
  (``?format=text``: the text alone), from this replica's recent decisions or the decision log.
- ``POST /v1/ask``: ``{"question", "evidence"}`` → the decision log's `Answer` as JSON.
- ``GET /healthz`` and ``GET /metrics``: see `serve.health` and `serve.metrics`.

Blocking work (scoring a response, reading the log) runs in a worker thread.

>>> from banditroute.serve.routes import ROUTES
>>> sorted(ROUTES)
['ask', 'decision', 'feedback', 'healthz', 'metrics', 'models']
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..errors import InvalidInput, UnknownDecision, invalid
from . import health
from .metrics import CONTENT_TYPE
from .recent import logged_decision
from .replies import json_reply, read_json
from .wire_in import AUTO

if TYPE_CHECKING:
    from ..decision import Outcome
    from ..store.ask import Answer
    from .service import Service

__all__ = ["ROUTES", "Handler"]

Handler = Callable[["Service", Request], Awaitable[Response]]
_FEEDBACK_FIELDS = frozenset(
    {"quality", "response", "cost_usd", "latency_ms", "output_tokens", "error", "prompt"}
)


async def _object(service: Service, request: Request) -> dict[str, Any]:
    body = await read_json(request, service.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "decision_id": o.decision_id,
        "model": o.model,
        "quality": o.quality,
        "reward": o.reward,
        "cost_usd": o.cost_usd,
        "latency_ms": o.latency_ms,
        "error": o.error,
    }


async def feedback(service: Service, request: Request) -> Response:
    body = await _object(service, request)
    decision_id = body.pop("decision_id", None)
    if not isinstance(decision_id, str) or not decision_id:
        raise invalid("decision_id", decision_id, "the id of a decision (a str)")
    unknown = set(body) - _FEEDBACK_FIELDS
    if unknown:
        raise InvalidInput(f"unknown feedback field(s) {sorted(unknown)[:10]}")
    outcome = await run_in_threadpool(service.engine.feedback, decision_id, **body)
    return json_reply(_outcome_json(outcome))


def _model(model_id: str, owner: str, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner, **extra}


async def models(service: Service, request: Request) -> Response:
    data = [_model(AUTO, "banditroute", banditroute={"routed": True})]
    for name, preset in sorted(service.gateway.presets.items()):
        spec = preset.model_dump(mode="json", exclude_defaults=True)
        data.append(_model(f"{AUTO}:{name}", "banditroute", banditroute={"preset": spec}))
    for m in service.engine.registry.active():
        data.append(_model(m.id, m.provider, banditroute={"capabilities": sorted(m.capabilities)}))
    return json_reply({"object": "list", "data": data})


async def decision(service: Service, request: Request) -> Response:
    decision_id = request.path_params["decision_id"]
    record = service.recent.get(decision_id)
    found = record.to_json() if record is not None else None
    store = service.engine.store
    if found is None and store is not None:
        found = await run_in_threadpool(logged_decision, store, decision_id)
    if found is None:
        raise UnknownDecision(f"decision {decision_id!r:.80} is not known to this replica")
    if request.query_params.get("format") == "text":
        return PlainTextResponse(found["explanation"])
    return json_reply(found)


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question._asdict(),
        "summary": answer.summary,
        "table": json.loads(answer.table.to_json(orient="records")),
        "evidence_ids": list(answer.evidence_ids),
        "text": str(answer),
    }


async def ask(service: Service, request: Request) -> Response:
    body = await _object(service, request)
    question, evidence = body.get("question"), body.get("evidence", 300)
    if not isinstance(question, str) or not question.strip():
        raise invalid("question", question, "a question (a non-empty str)")
    if isinstance(evidence, bool) or not isinstance(evidence, int) or not 1 <= evidence <= 10_000:
        raise invalid("evidence", evidence, "an int from 1 to 10000")
    answer = await run_in_threadpool(service.engine.ask, question, evidence=evidence)
    return json_reply(_answer_json(answer))


async def healthz(service: Service, request: Request) -> Response:
    return json_reply(health.check(service).to_json())


async def metrics(service: Service, request: Request) -> Response:
    body = await run_in_threadpool(service.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)


ROUTES: dict[str, Handler] = {
    "feedback": feedback,
    "models": models,
    "decision": decision,
    "ask": ask,
    "healthz": healthz,
    "metrics": metrics,
}
