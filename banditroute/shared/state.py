"""`SharedState`: one replica's link to the shared state, and the background sync that runs it.

Every ``sync_interval_s`` (0.2 s) a background thread runs `SharedState.sync`: fold what this
replica learned into its own parts (under the engine's lock, microseconds), push them and the
queued guard events, pull what the others pushed (network I/O, without the lock), then write the
merged sums of the models that changed into the policy and the estimator (under the lock). Feedback
on one replica therefore reaches the others' posteriors within two intervals.

Outages: a failed Redis call marks the link down; the request path stops calling Redis (local
guards, local pending decisions) and the sync keeps folding local learning into own parts (a
running total per model: nothing queues up, whatever the outage's length). When PING answers
again the sync reconciles: if Redis lost its data (its ``ns:token`` is gone or new) this replica
writes back everything it knows (the seed, every base, its own and every other replica's parts
and totals, its spend, its pending decisions); then it pushes and pulls as usual, and only then
is `SharedState.connected` true again.

>>> SharedStatus(False, "a", None, 0, None).connected
False
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..text import library_logger
from .estimator_share import EstimatorShare
from .guards import SharedGuardsState
from .link import REDIS_ERRORS, RedisLink
from .pending import SharedPending
from .posterior import PolicyShare

if TYPE_CHECKING:
    from ..engine import Engine
    from ..gateway.client import Gateway

__all__ = ["SharedState", "SharedStatus"]

logger = library_logger("banditroute.shared")


@dataclass(frozen=True)
class SharedStatus:
    """One replica's view of the shared state (for ``/healthz`` and ``/metrics``)."""

    connected: bool  #: Redis answers and this replica is reconciled with it
    replica_id: str
    lag_s: float | None  #: seconds since the last complete sync (None: never)
    pending_pushes: int  #: own changes, events and decisions not yet written to Redis
    last_error: str | None  #: the last Redis error (redacted), if any


class SharedState:
    """What `banditroute.shared.attach` returns; see the module.

    Parameters
    ----------
    engine : Engine
        The replica's engine (its policy, estimator and pending decisions are shared).
    gateway : Gateway or None
        Its gateway (rate limits, cooldowns and budgets are shared); None: learning only.
    link : RedisLink
        The connection.
    replica_id : str
        This replica's id.
    sync_interval_s : float
        Time between two background syncs (0: no background thread; call `sync`).
    pending_ttl_s : float
        How long a decision waits in Redis for its feedback.
    retire_after_s : float
        A part not written for this long (its replica is gone, or learned nothing about that
        model) is merged into its model's base (`banditroute.shared.compaction`), and totals
        not written for this long are folded into the base total
        (`banditroute.shared.totals_compaction`); looked for every quarter of it (at most every
        5 minutes).
    """

    def __init__(
        self,
        engine: Engine,
        gateway: Gateway | None,
        link: RedisLink,
        replica_id: str,
        *,
        sync_interval_s: float = 0.2,
        pending_ttl_s: float = 3600.0,
        retire_after_s: float = 3600.0,
    ) -> None:
        self.engine, self.gateway, self.link = engine, gateway, link
        self.retire_after_s = retire_after_s
        self._next_compaction = time.monotonic() + min(retire_after_s / 4, 300.0)
        self.replica_id = replica_id
        self.sync_interval_s = sync_interval_s
        self._lock = engine._lock
        with self._lock:
            engine.policy.branch_rng(replica_id)  # replicas explore independently
            self.policy = PolicyShare(engine.policy, replica_id, link)
            self.estimator = EstimatorShare(engine.estimator, replica_id, link)
            for share in (self.policy, self.estimator):
                share.snapshot_seed()
        self.pending = SharedPending(link, replica_id, pending_ttl_s)
        engine._pending.remote = self.pending
        self.guards = None
        if gateway is not None:
            self.guards = SharedGuardsState(link, gateway.guards, replica_id)
            gateway.guards.shared = self.guards
        self._token: str | None = None
        self._last_ok: float | None = None
        self._unsent = 0  # own parts and totals not yet in Redis, as of the last sync
        self._republish = False  # Redis lost its data: write back all we know (until done)
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self.sync()
        self._thread: threading.Thread | None = None
        if sync_interval_s > 0:
            self._thread = threading.Thread(target=self._loop, name="banditroute-sync", daemon=True)
            self._thread.start()

    def __repr__(self) -> str:
        return f"SharedState(replica_id={self.replica_id!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        """True when Redis answers and this replica is reconciled with it."""
        return self.link.up

    def status(self) -> SharedStatus:
        """Connection, lag and backlog, now."""
        waiting = self._unsent + self.pending.waiting
        waiting += 0 if self.guards is None else self.guards.waiting
        lag = None if self._last_ok is None else time.monotonic() - self._last_ok
        return SharedStatus(self.link.up, self.replica_id, lag, waiting, self.link.last_error)

    # -- the sync --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.sync_interval_s):
            self.sync()

    def sync(self) -> None:
        """Push local updates and merge the others' (see the module); never raises."""
        with self._sync_lock:
            was_up = self.link.up
            try:
                self._sync()
            except REDIS_ERRORS as exc:
                self.link.failed("sync", exc)
            except Exception as exc:  # a bug must not stop the replica serving
                self.link.failed("sync", exc)
                logger.exception("shared state sync failed")
            if not self.link.up:
                with self._lock:  # keep folding local learning into own parts
                    self.policy.collect()
                    self.estimator.collect()
            self._unsent = self.policy.pending_pushes() + self.estimator.pending_pushes()
            if was_up and not self.link.up:
                logger.warning("replica %s lost Redis: serving on local state", self.replica_id)
            elif self.link.up and not was_up:
                logger.info("replica %s is connected to Redis", self.replica_id)

    def _models(self) -> Collection[str]:
        return self.engine.registry.ids

    def _sync(self) -> None:
        if not self.link.up and not self.link.ping():
            return
        self._republish = self._check_token() or self._republish
        wiped = self._republish
        shares = (self.policy, self.estimator)
        for share in shares:
            if not share.joined:
                share.join(self._lock)
        with self._lock:
            for share in shares:
                share.collect()
        for share in shares:
            share.push(everything=wiped)
        if wiped:
            self.pending.republish(self.engine._pending.snapshot())
        if self.guards is not None:
            if wiped:
                self.guards.republish()
            self.guards.push()
        errors = [e for share in shares for e in share.pull()]
        if not wiped and time.monotonic() >= self._next_compaction:
            for share in shares:
                share.compact(self.retire_after_s)  # adopted by the next pull
            self._next_compaction = time.monotonic() + min(self.retire_after_s / 4, 300.0)
        if self.guards is not None:
            self.guards.pull(list(self._models()))
        with self._lock:
            models = set(self._models())
            self.policy.apply(models)
            self.estimator.apply(models)
        if errors:
            self.link.last_error = f"unreadable shared values: {'; '.join(errors[:3])}"
        self._last_ok = time.monotonic()
        self._republish = False
        self.link.up = True

    def _check_token(self) -> bool:
        """True when Redis lost what it held since this replica last saw it."""
        key = self.link.key("token")
        client = self.link.slow
        token = client.get(key)
        if token is None:
            client.set(key, secrets.token_hex(8), nx=True)
            token = client.get(key)
        seen = None if token is None else token.decode() if isinstance(token, bytes) else str(token)
        wiped = self._token is not None and seen != self._token
        self._token = seen
        return wiped

    def close(self) -> None:
        """Stop the background sync, write what is left (while Redis answers), detach."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.link.up:
            self.sync()
        self.pending.close()
        if self.engine._pending.remote is self.pending:
            self.engine._pending.remote = None
        self.policy.detach()
        if self.gateway is not None and self.gateway.guards.shared is self.guards:
            self.gateway.guards.shared = None
        self.link.close()
