"""Replicas that learn together: posteriors, guards and pending decisions shared on Redis.

`attach` links an `Engine` (and its `Gateway`) to a Redis server; every replica attached to the
same Redis (and namespace) then learns from every replica's feedback, counts rate limits and
budgets together, sees the others' cooldowns and accepts feedback for any replica's decisions.
Without Redis, or while it is down, each replica serves and learns on its own. See
``shared/state.py`` for the sync and the outage rules, ``shared/sums.py`` for the merge.

>>> from banditroute import Engine, HashingEmbedder, ModelProfile
>>> engine = Engine([ModelProfile(id="m", provider="p", input_usd_per_mtok=1,
...                               output_usd_per_mtok=1)], embedder=HashingEmbedder(16), seed=0)
>>> shared = attach(engine, None, "redis://127.0.0.1:1/0", "replica-a", sync_interval_s=0)
>>> shared.connected, shared.status().replica_id          # no Redis there: local only
(False, 'replica-a')
>>> engine.feedback(engine.choose("hello"), quality=0.9).quality
0.9
>>> shared.close()
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from typing import TYPE_CHECKING

from ..errors import check_number, invalid
from .link import RedisLink
from .state import SharedState, SharedStatus

if TYPE_CHECKING:
    from ..engine import Engine
    from ..gateway.client import Gateway

__all__ = ["SharedState", "SharedStatus", "attach"]

_REPLICA_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _default_replica_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def attach(
    engine: Engine,
    gateway: Gateway | None,
    url: str,
    replica_id: str | None = None,
    *,
    sync_interval_s: float = 0.2,
    namespace: str = "banditroute",
    pending_ttl_s: float = 3600.0,
    timeout_s: float = 0.05,
    retire_after_s: float = 3600.0,
) -> SharedState:
    """Share ``engine``'s learning (and ``gateway``'s guards) with the replicas on ``url``.

    Parameters
    ----------
    engine : Engine
        The replica's engine. The first replica ever attached seeds the shared state with what
        its engine knows; a later one adopts the shared state (what it learned before is
        replaced). Give a restarted replica its old ``replica_id`` to resume its own part.
    gateway : Gateway or None
        Its gateway, whose rate limits, cooldowns and budgets become shared.
    url : str
        The Redis server (``redis://host:port/db``; a password in it is never shown).
    replica_id : str, optional
        Letters, digits, ``.``, ``_``, ``-`` (default: host, process id and a random suffix).
    sync_interval_s : float
        Time between two background syncs; feedback reaches the other replicas within two.
    namespace : str
        Prefix of every key (deployments sharing one Redis keep apart).
    pending_ttl_s : float
        How long a decision waits in Redis for feedback from any replica.
    timeout_s : float
        Timeout of the Redis calls a request makes.
    retire_after_s : float
        A replica's part of a model not written for this long (the replica is gone) is merged
        into the model's base, so parts do not pile up with every restart.

    Returns
    -------
    SharedState
        ``connected``, ``status()``, ``sync()``, ``close()``. Attaching never fails because
        Redis is down: the replica serves locally until it answers.
    """
    from ..engine import Engine  # lazy: banditroute.shared is imported only with --redis

    if not isinstance(engine, Engine):
        raise invalid("engine", engine, "a banditroute Engine")
    if gateway is not None and getattr(gateway, "engine", None) is not engine:
        raise invalid("gateway", gateway, "None or a Gateway of this engine")
    if replica_id is None:
        replica_id = _default_replica_id()
    if not isinstance(replica_id, str) or not _REPLICA_ID.fullmatch(replica_id):
        raise invalid("replica_id", replica_id, "1-64 letters, digits, '.', '_' or '-'")
    check_number("sync_interval_s", sync_interval_s, 0)
    check_number("pending_ttl_s", pending_ttl_s, 0, above=True)
    check_number("retire_after_s", retire_after_s, 0, above=True)
    if engine._pending.remote is not None:
        raise invalid("engine", engine, "an engine not attached already (close the other first)")
    link = RedisLink(url, namespace, timeout_s=timeout_s)
    return SharedState(
        engine,
        gateway,
        link,
        replica_id,
        sync_interval_s=sync_interval_s,
        pending_ttl_s=pending_ttl_s,
        retire_after_s=retire_after_s,
    )
