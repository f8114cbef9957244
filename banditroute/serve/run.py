"""`run(settings)`: serve with uvicorn (one process, or ``workers`` processes via the factory).

Everything that can be checked is checked before uvicorn starts, so a bad setting is one error
line rather than a worker crash: the exposure rule, the registry and gateway tables, and the
decision log folder and its tables (created here once, so that workers starting together do
not race to create them).

>>> from banditroute.serve.run import uvicorn_options
>>> from banditroute.serve.settings import ServeSettings
>>> uvicorn_options(ServeSettings(config="m.toml", port=9000))["port"]
9000
"""

from __future__ import annotations

import os
from typing import Any

from ..embedders import embedder_name
from ..gateway.config import GatewayConfig
from ..registry import Registry
from .app import create_app
from .auth import check_exposure
from .service import build_service, serve_embedder
from .settings import SETTINGS_ENV, ServeSettings

__all__ = ["run", "uvicorn_options"]


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` (no access log: it costs time per request)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }


def _precheck(settings: ServeSettings) -> None:
    check_exposure(settings.host, settings.service_key_hashes)
    Registry.load(settings.config)
    GatewayConfig.load(settings.config)
    if settings.store is not None:
        from ..store.decision_store import DecisionStore
        from ..store.tables import TABLES

        embedder = serve_embedder(settings)
        name, dim = embedder_name(embedder), embedder.dim
        store = DecisionStore(settings.store, embedding_dim=dim, embedder=name, background=False)
        for table in TABLES:  # made once here: Lance does not retry two concurrent creations
            store.table(table)
        store.close()


def run(settings: ServeSettings) -> None:
    """Serve until interrupted (SIGINT / SIGTERM end it gracefully: see `create_app`)."""
    import uvicorn

    options = uvicorn_options(settings)
    if settings.workers == 1:
        uvicorn.run(create_app(build_service(settings)), **options)
        return
    _precheck(settings)
    os.environ[SETTINGS_ENV] = settings.to_env()
    uvicorn.run(
        "banditroute.serve.factory:app_from_env", factory=True, workers=settings.workers, **options
    )
