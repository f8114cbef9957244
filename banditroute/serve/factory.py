"""`app_from_env`: the app factory uvicorn's worker processes call (``--workers N``).

`banditroute serve` writes the settings into ``BANDITROUTE_SERVE_SETTINGS`` and runs
``uvicorn banditroute.serve.factory:app_from_env --factory``; each worker builds its own
replica (engine, gateway, decision log writer) from them. Every worker opens the same decision
log folder; with ``redis`` they also share what they learn, their guards and their pending
decisions.

>>> import os, tempfile, pathlib
>>> from banditroute.serve.settings import SETTINGS_ENV, ServeSettings
>>> config = pathlib.Path(tempfile.mkdtemp()) / "models.toml"
>>> _ = config.write_text('[[model]]\\nid = "m"\\nprovider = "p"\\n'
...                       'input_usd_per_mtok = 1\\noutput_usd_per_mtok = 1\\n')
>>> os.environ[SETTINGS_ENV] = ServeSettings(config=str(config), embedder="hashing").to_env()
>>> type(app_from_env()).__name__
'Starlette'
>>> del os.environ[SETTINGS_ENV]
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from .app import create_app
from .service import build_service
from .settings import ServeSettings

__all__ = ["app_from_env"]


def app_from_env() -> Starlette:
    """A replica's app from the settings in ``BANDITROUTE_SERVE_SETTINGS``; a ``replica_id``
    shared by several workers gets each worker's process id appended."""
    settings = ServeSettings.from_env()
    if settings.workers > 1 and settings.replica_id is not None:
        replica = f"{settings.replica_id}-{os.getpid()}"
        settings = settings.model_copy(update={"replica_id": replica})
    return create_app(build_service(settings))
