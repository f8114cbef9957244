"""``banditroute serve``: an OpenAI-compatible routing service on Starlette and uvicorn.

Callers speak the OpenAI API (``POST /v1/chat/completions`` with ``model="auto"``); the
answer says which model served it and carries the decision id for ``POST /v1/feedback``.
See `banditroute.serve.app` for the endpoints, `banditroute.serve.failures` for the error
statuses and `banditroute.serve.settings` for the ``[serve]`` table.

Several replicas (``--workers N`` or several servers) may share one ``--store`` folder. Each
replica has its own writer (`DecisionStore`) and writes only its own rows: its decisions (with
their outcome when it arrives in time, else as an update of its own row) and its ``calls``.
LanceDB commits every append or update as a new table version through an atomic
rename-if-absent of the manifest on a local file system; a writer that loses the race re-reads
the new version and retries when the operations commute (appends always do), and a write that
still fails is kept queued and retried with back-off by the writer. At shutdown each replica
flushes everything it holds before it stops. Registry snapshots are numbered per replica.

>>> from banditroute.serve import ServeSettings, hash_key
>>> ServeSettings(config="models.toml").port, len(hash_key("k"))
(8000, 64)
"""

from __future__ import annotations

from .app import create_app
from .auth import ServiceKeys, hash_key
from .run import run
from .service import Service, build_service
from .settings import ServeSettings

__all__ = [
    "ServeSettings",
    "Service",
    "ServiceKeys",
    "build_service",
    "create_app",
    "hash_key",
    "run",
]
