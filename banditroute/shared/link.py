"""The connection to Redis: short timeouts, no retries, and whether Redis answers now.

Two clients share one URL: ``fast`` for the few calls a request makes (rate limits, budget
reservations, taking a decision made elsewhere; ``timeout_s``, default 50 ms) and ``slow`` for
the background sync (1 s). Neither retries: a failed call returns at once, `RedisLink.failed`
marks the link down, and request-path code stops calling Redis until the background sync finds
it again (`RedisLink.ping`, then a full reconcile) and sets `RedisLink.up`. Error texts are
redacted; the URL (which may hold a password) is never kept in a message or a repr.

>>> link = RedisLink("redis://127.0.0.1:1/0", "br", timeout_s=0.05)
>>> link.up, link.key("p", "epoch"), link.ping(), link.up
(False, 'br:p:epoch', False, False)
>>> link.last_error.startswith("ping: ConnectionError")
True
"""

from __future__ import annotations

import contextlib
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import check_number, invalid
from ..text import redact_secrets

__all__ = ["REDIS_ERRORS", "RedisLink"]

#: what a Redis call may raise when Redis is down, slow or replaced
REDIS_ERRORS = (redis.RedisError, OSError)


def _client(url: str, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisLink:
    """Redis clients for one shared state.

    Parameters
    ----------
    url : str
        ``redis://``, ``rediss://`` or ``unix://`` URL.
    namespace : str
        Prefix of every key (several deployments can share one Redis).
    timeout_s : float
        Timeout of request-path calls.
    background_timeout_s : float
        Timeout of the background sync's calls.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "banditroute",
        *,
        timeout_s: float = 0.05,
        background_timeout_s: float = 1.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise invalid("url", "<hidden>", "a redis://, rediss:// or unix:// URL")
        if not isinstance(namespace, str) or not namespace or any(c in namespace for c in " \n"):
            raise invalid("namespace", namespace, "a non-empty key prefix without spaces")
        check_number("timeout_s", timeout_s, 0, above=True)
        check_number("background_timeout_s", background_timeout_s, 0, above=True)
        try:
            self.fast = _client(url, timeout_s)
            self.slow = _client(url, background_timeout_s)
        except ValueError as exc:
            why = redact_secrets(str(exc))
            raise invalid("url", "<hidden>", f"a valid Redis URL ({why})") from None
        self.namespace = namespace
        self.up = False  #: Redis answered the last call and the state is reconciled
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisLink(namespace={self.namespace!r}, up={self.up})"

    def key(self, *parts: str) -> str:
        """A key in this namespace: ``namespace:part:part``."""
        return ":".join((self.namespace, *parts))

    def failed(self, where: str, error: BaseException) -> None:
        """A call failed: remember why; a lost connection marks the link down."""
        with self._lock:
            if not isinstance(error, redis.ResponseError):
                self.up = False
            text = redact_secrets(str(error))[:200]
            self.last_error = f"{where}: {type(error).__name__}: {text}"
            self.last_error_at = time.time()

    def ping(self) -> bool:
        """True when Redis answers now (the link stays down until the caller reconciles)."""
        try:
            answered = bool(self.slow.ping())
        except REDIS_ERRORS as exc:
            self.failed("ping", exc)
            return False
        if answered:  # connections made before the outage may be dead: start afresh
            self.fast.connection_pool.disconnect(inuse_connections=False)
        return answered

    def close(self) -> None:
        for client in (self.fast, self.slow):
            with contextlib.suppress(*REDIS_ERRORS):
                client.close()
