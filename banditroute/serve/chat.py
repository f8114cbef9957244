"""``POST /v1/chat/completions``: parse, `Gateway.acomplete`, answer in the OpenAI format.

A streamed answer (``"stream": true``) is sent as server-sent events: one
``chat.completion.chunk`` per piece, the last one (with ``finish_reason``) carrying the
``banditroute`` object, a usage chunk when ``stream_options.include_usage`` is set, then
``data: [DONE]``. The first chunk is awaited before the response starts, so failover and a
request no model can serve still get a proper HTTP status; a provider failing after text was
sent ends the stream with an ``error`` event. Headers: ``x-banditroute-decision-id`` and
``x-banditroute-model`` (the model serving).

>>> from banditroute.serve.chat import completions
>>> completions.__name__
'completions'
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..gateway.attempts import CompletionFailed
from ..gateway.messages import StreamChunk
from .failures import failure_for
from .replies import DONE, error_reply, json_reply, read_json, sse
from .wire_in import ChatCall, parse_chat
from .wire_out import banditroute_object, chat_completion, chunk, completion_id, usage_json

if TYPE_CHECKING:
    from ..gateway.streaming import AsyncCompletionStream
    from .recent import DecisionRecord
    from .service import Service

__all__ = ["completions"]

DECISION_HEADER = "x-banditroute-decision-id"
MODEL_HEADER = "x-banditroute-model"


async def completions(service: Service, request: Request) -> Response:
    """Serve one chat completion request (errors are raised for the app to map)."""
    body = await read_json(request, service.settings.max_body_bytes)
    call = parse_chat(
        body, request.headers, models=service.engine.registry, presets=service.gateway.presets
    )
    if call.stream:
        return await _stream(service, call)
    try:
        c = await service.gateway.acomplete(
            call.messages, call.constraints, preset=call.preset, tags=call.tags, **call.params
        )
    except CompletionFailed as exc:
        if exc.tried:
            service.metrics.decision(exc.tried[0].model)  # the decision's model comes first
            service.metrics.attempts(exc.tried)
        raise
    headers = {MODEL_HEADER: c.model}
    if c.decision is not None:
        service.recent.add(c.decision).finish(c)
        service.metrics.decision(c.decision.model)
        headers[DECISION_HEADER] = c.decision.id
    service.metrics.completion(c)
    return json_reply(chat_completion(c, int(time.time())), headers=headers)


async def _stream(service: Service, call: ChatCall) -> Response:
    stream: AsyncCompletionStream = await service.gateway.acomplete(
        call.messages,
        call.constraints,
        preset=call.preset,
        tags=call.tags,
        stream=True,
        **call.params,
    )
    decision = stream.decision
    record = service.recent.add(decision)
    service.metrics.decision(decision.model)
    pieces = aiter(stream)
    try:
        first = await anext(pieces)
    except BaseException as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        service.metrics.attempts(stream.plan.attempts)
        await pieces.aclose()  # type: ignore[attr-defined]
        if isinstance(exc, Exception):
            return error_reply(failure_for(exc, decision.id))
        raise
    model = stream.plan.queue[0] if stream.plan.queue else decision.model  # the one streaming
    headers = {DECISION_HEADER: decision.id, MODEL_HEADER: model, "cache-control": "no-cache"}
    events = _events(service, call, stream, pieces, first, model, record)
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _events(
    service: Service,
    call: ChatCall,
    stream: AsyncCompletionStream,
    pieces: AsyncIterator[StreamChunk],
    first: StreamChunk,
    model: str,
    record: DecisionRecord,
) -> AsyncIterator[bytes]:
    """The SSE body; the final chunk waits for the completion (cost, attempts)."""
    cid, created = completion_id(stream.decision), int(time.time())
    final: StreamChunk | None = None
    try:
        part: StreamChunk | None = first
        is_first = True
        while part is not None:
            if part.done:
                final = part  # held back until the stream has recorded its completion
            else:
                yield sse(chunk(cid, created, model, part, first=is_first))
                is_first = False
            part = await anext(pieces, None)
        c = stream.completion
        extra: dict[str, Any] = {}
        if c is not None:
            record.finish(c)
            service.metrics.completion(c)
            extra["banditroute"] = banditroute_object(c)
        final = final or StreamChunk(finish_reason="stop")
        yield sse(chunk(cid, created, model, final, first=is_first, extra=extra))
        if call.include_usage and c is not None:
            yield sse(chunk(cid, created, model, extra={"usage": usage_json(c.usage)}))
        yield DONE
    except Exception as exc:  # a provider failing mid-stream: an error event ends the stream
        record.error = f"{type(exc).__name__}: {exc}"
        service.metrics.attempts(stream.plan.attempts)
        yield sse({"error": failure_for(exc, stream.decision.id).body()["error"]})
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
