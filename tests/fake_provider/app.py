"""The fake's ASGI app: routes a request, checks its key, applies its fault, answers.

Every chat request is recorded (secret header values and ``?key=`` redacted) before it is
answered; ``GET /v1/models`` lists the scripted models; other routes get 404.

>>> carried_key("openai", {"authorization": "Bearer sk-1"}, {})
'sk-1'
>>> carried_key("gemini", {}, {"key": "g"}), carried_key("anthropic", {}, {"key": "g"})
('g', None)
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .answers import make_answer
from .common import CREATED, Api
from .connections import Conns, Receive, Send, reset, send_reply
from .parsing import BadRequest, Call, parse
from .replies import Reply, error_reply, success_reply
from .state import RecordedRequest, State

__all__ = ["REDACTED", "SECRET_HEADERS", "App", "carried_key"]

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "proxy-authorization",
    }
)
REDACTED = "[redacted]"


class App:
    """The raw ASGI application (runs on the server's event loop thread)."""

    def __init__(self, state: State, api_key: str | None) -> None:
        self.state = state
        self.api_key = api_key
        self.conns: Conns = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False

    def shut_down(self) -> None:
        """Called on the loop when the server stops: end every request in flight."""
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            if self.stopping:
                await self._reset(scope)
            else:
                await self._handle(scope, receive, send)
        except asyncio.CancelledError:  # the server is stopping: drop the connection
            await self._reset(scope)
        finally:
            self.tasks.discard(task)

    async def _reset(self, scope: Mapping[str, Any]) -> None:
        await reset(self.conns, scope)

    async def _send(
        self,
        scope: Mapping[str, Any],
        send: Send,
        reply: Reply,
        chunk_delay_s: float,
        trickle_s: float | None,
    ) -> None:
        await send_reply(self.conns, scope, send, reply, chunk_delay_s, trickle_s)

    async def _handle(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == "/v1/models" and method == "GET":
            with self.state.lock:
                names = sorted(self.state.scripts)
            data = [
                {"id": n, "object": "model", "created": CREATED, "owned_by": "fake"} for n in names
            ]
            body = json.dumps({"object": "list", "data": data}).encode()
            await self._send(scope, send, Reply(200, [body]), 0.0, None)
            return
        api: Api
        target = ""
        if path == "/v1/chat/completions":
            api = "openai"
        elif path == "/v1/messages":
            api = "anthropic"
        elif path.startswith(("/v1beta/models/", "/v1/models/")) and path.endswith(
            (":generateContent", ":streamGenerateContent")
        ):
            api, target = "gemini", path.split("/models/", 1)[1]
        else:
            await self._send(scope, send, error_reply("openai", 404, f"no route {path}"), 0, None)
            return
        if method != "POST":
            await self._send(scope, send, error_reply(api, 405, "method not allowed"), 0, None)
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        await self._chat(scope, send, api, target, bytes(raw), headers, query)

    async def _chat(
        self,
        scope: dict[str, Any],
        send: Send,
        api: Api,
        target: str,
        raw: bytes,
        headers: dict[str, str],
        query: dict[str, str],
    ) -> None:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            call = parse(api, body, target, query)
            if api == "anthropic" and "anthropic-version" not in headers:
                raise BadRequest("anthropic-version: header is required")
        except (ValueError, BadRequest) as exc:
            model = target.rpartition(":")[0] if api == "gemini" else ""
            self._record(api, model, scope, headers, query, None, raw, "bad_request")
            await self._send(scope, send, error_reply(api, 400, f"invalid request: {exc}"), 0, None)
            return
        key = carried_key(api, headers, query)
        if self.api_key is not None and not hmac.compare_digest(
            (key or "").encode(), self.api_key.encode()
        ):
            self._record(api, call.model, scope, headers, query, call, body, "auth")
            reply = error_reply(api, 401, "invalid or missing API key")
            await self._send(scope, send, reply, 0, None)
            return
        script, fault, rid = self.state.take(call.model)
        label = fault.label if fault else None
        self._record(api, call.model, scope, headers, query, call, body, label)
        if script.latency_s > 0:
            await asyncio.sleep(script.latency_s)
        kind = fault.kind if fault else None
        if fault is not None and kind == "status":
            reply = error_reply(
                api, fault.status, f"injected status {fault.status}", fault.retry_after
            )
            await self._send(scope, send, reply, 0, None)
            return
        if fault is not None and kind == "reset":
            await self._reset(scope)
            return
        if fault is not None and kind == "timeout":
            await asyncio.sleep(fault.seconds)
        answer = make_answer(call, script, fault)
        reply = success_reply(call, answer, rid, script, kind == "malformed_json")
        trickle = fault.seconds_per_byte if fault is not None and kind == "trickle" else None
        await self._send(scope, send, reply, script.chunk_delay_s, trickle)

    def _record(
        self,
        api: Api,
        model: str,
        scope: Mapping[str, Any],
        headers: dict[str, str],
        query: dict[str, str],
        call: Call | None,
        body: Any,
        fault: str | None,
    ) -> None:
        if isinstance(body, bytes):
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        safe_query = {k: (REDACTED if k == "key" else v) for k, v in query.items()}
        self.state.record(
            RecordedRequest(
                api=api,
                model=model,
                path=str(scope["path"]),
                query=urlencode(safe_query),
                stream=bool(call and call.stream),
                headers={k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()},
                auth_present=bool(carried_key(api, headers, query)),
                body=body,
                fault=fault,
            )
        )


def carried_key(api: Api, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The API key the request carries in ``api``'s own place, if any."""
    if api == "anthropic":
        return headers.get("x-api-key") or None
    if api == "gemini":
        return headers.get("x-goog-api-key") or query.get("key") or None
    auth = headers.get("authorization", "")
    return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None
