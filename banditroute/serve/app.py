"""`create_app(service)`: the Starlette app of one replica.

Every endpoint but ``GET /healthz`` needs ``Authorization: Bearer <service key>`` when keys are
configured (401 otherwise). Errors become OpenAI-style error JSON (see `serve.failures`);
each request is counted and timed in the app's metrics. The lifespan probes cooled-down models
off the request path every ``health_check_interval_s`` and, at shutdown, closes the gateway's
clients, writes the decision log, saves the state and stops the shared state.

>>> import tempfile, pathlib
>>> from starlette.testclient import TestClient
>>> from banditroute.serve import ServeSettings, build_service, create_app
>>> config = pathlib.Path(tempfile.mkdtemp()) / "models.toml"
>>> _ = config.write_text('[[model]]\\nid = "m"\\nprovider = "p"\\n'
...                       'input_usd_per_mtok = 1\\noutput_usd_per_mtok = 1\\n')
>>> app = create_app(build_service(ServeSettings(config=str(config), embedder="hashing")))
>>> with TestClient(app) as client:
...     [m["id"] for m in client.get("/v1/models").json()["data"]]
['auto', 'm']
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .chat import completions
from .failures import LOGGER, Failure, failure_for
from .replies import error_reply
from .routes import ROUTES, Handler
from .service import Service

__all__ = ["create_app"]

_UNAUTHORIZED = Failure(
    401,
    "authentication_error",
    "invalid_api_key",
    "a service key is required: send Authorization: Bearer <key>",
    {"www-authenticate": "Bearer"},
)


def _endpoint(
    service: Service, handler: Handler, name: str, public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the key check, the error mapping and the request metrics."""
    keys, metrics = service.keys, service.metrics

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        if not public and not keys.allows(request.headers.get("authorization")):
            response = error_reply(_UNAUTHORIZED)
        else:
            try:
                response = await handler(service, request)
            except Exception as exc:
                response = error_reply(failure_for(exc))
        metrics.request(name, response.status_code, time.perf_counter() - started)
        return response

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths (404) and methods (405) as OpenAI-style errors."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reason = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return error_reply(Failure(status, "invalid_request_error", f"http_{status}", str(reason)))


async def _probe(service: Service, interval_s: float) -> None:
    """Probe cooled-down models whose cooldown is over (`Gateway.check_health`), forever."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(service.gateway.check_health)
        except Exception:  # a failing probe must not end the loop
            LOGGER.exception("health check of cooled-down models failed")


def create_app(service: Service) -> Starlette:
    """The ASGI app serving ``service`` (run it with uvicorn, see `banditroute.serve.run`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _ = service.gateway.async_client  # made now, in the server's loop: not by the first call
        interval = service.settings.health_check_interval_s
        task = asyncio.create_task(_probe(service, interval)) if interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await service.gateway.aclose()
            await run_in_threadpool(service.close)

    def route(path: str, handler: Handler, name: str, method: str, public: bool = False) -> Route:
        return Route(path, _endpoint(service, handler, name, public), methods=[method], name=name)

    routes = [
        route("/v1/chat/completions", completions, "chat", "POST"),
        route("/v1/feedback", ROUTES["feedback"], "feedback", "POST"),
        route("/v1/models", ROUTES["models"], "models", "GET"),
        route("/v1/decisions/{decision_id}", ROUTES["decision"], "decision", "GET"),
        route("/v1/ask", ROUTES["ask"], "ask", "POST"),
        route("/healthz", ROUTES["healthz"], "healthz", "GET", public=True),
        route("/metrics", ROUTES["metrics"], "metrics", "GET"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.service = service
    return app
