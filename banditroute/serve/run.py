"""`run(settings)`: serve with uvicorn (one process, or ``workers`` processes via the factory).

Everything that can be checked is checked before uvicorn starts, so a bad setting is one error
line rather than a worker crash: the exposure rule, the registry and gateway tables, the saved
state (read once here, then once by each worker), and the decision log folder and its tables
(created here once, so that workers starting together do not race to create them).

>>> from banditroute.serve.run import uvicorn_options
>>> from banditroute.serve.settings import ServeSettings
>>> uvicorn_options(ServeSettings(config="m.toml", port=9000))["port"]
9000
"""

from __future__ import annotations

import os
from typing import Any

from ..embedders import Embedder
from ..gateway.config import GatewayConfig
from ..registry import Registry
from .app import create_app
from .auth import check_exposure
from .saved_state import open_decision_log, saved_engine
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
    engine = saved_engine(settings)  # checked whole here: a bad state is one error line
    try:
        if settings.store is not None:
            _make_tables(settings, engine.embedder if engine else serve_embedder(settings))
    finally:
        if engine is not None:
            engine.close()


def _make_tables(settings: ServeSettings, embedder: Embedder) -> None:
    """Create the decision log's tables once, before the workers start: Lance does not retry
    two concurrent creations of a table."""
    from ..store.tables import TABLES

    store = open_decision_log(settings, embedder, background=False)
    if store is None:
        return
    try:
        for table in TABLES:
            store.table(table)
    finally:
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
