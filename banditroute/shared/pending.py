"""Pending decisions in Redis: feedback for a decision may reach any replica, and counts once.

`SharedPending` is the `RemotePending` of the engine's `PendingDecisions`. A decision made here
is written to Redis before `choose` returns it (``ns:pd:<id>``, with a TTL; one round trip, with
the background timeout), so that feedback for it is accepted by any replica even when the replica
that decided is killed right after answering. While Redis is down (or with ``synchronous``
off) decisions are queued and written by a background writer instead. Feedback arriving here
for a decision made here *claims* it in Redis (one atomic script: delete the record, leave a
tombstone ``ns:pt:<id>``); feedback for a decision made elsewhere *takes* it from Redis (the same
script returns the record). Either way a decision is learned at most once: the tombstone refuses
a second taker, and a record still in the write queue is never written once claimed. What
learning needs travels with the record: the model, the context vector, the prompt's tokens, the
quality predicted at choose time, the probe flag and the prompt (redacted, for scoring a
response; at most 16,000 characters).

When Redis is down, decisions queue here (bounded: the oldest are forgotten beyond
``max_queue``) and feedback for local decisions is accepted locally; feedback for a decision made
elsewhere waits (at most ``recovery_wait_s``) for Redis and for that decision to be written back.

>>> import numpy as np
>>> from banditroute.pending import PendingDecision
>>> record = encode(PendingDecision("m", np.array([1.0, 0.5]), 12, 0.7, "hi", False), "a")
>>> back = decode(record)
>>> back.model, back.context.tolist(), back.prompt_tokens, back.predicted_quality, back.prompt
('m', [1.0, 0.5], 12, 0.7, 'hi')
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict

import numpy as np

from ..pending import PendingDecision
from ..text import library_logger, redact_secrets
from .link import REDIS_ERRORS, RedisLink
from .scripts import CLAIM, PUT_PENDING, TAKE

__all__ = ["SharedPending", "decode", "encode"]

logger = library_logger("banditroute.shared")

MAX_PROMPT_CHARS = 16_000
_BATCH = 256


def encode(pending: PendingDecision, replica: str) -> bytes:
    """A pending decision as bytes: a JSON header line, then the context as float64."""
    prompt = None if pending.prompt is None else redact_secrets(pending.prompt[:MAX_PROMPT_CHARS])
    header = {
        "m": pending.model,
        "t": pending.prompt_tokens,
        "q": pending.predicted_quality,
        "b": bool(pending.probe),
        "p": prompt,
        "r": replica,
        "ts": round(time.time(), 3),
    }
    context = np.asarray(pending.context, dtype="<f8")
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + context.tobytes()


def decode(record: object) -> PendingDecision | None:
    """The pending decision in ``record``, or None when it is not one this library wrote."""
    if not isinstance(record, bytes) or b"\n" not in record:
        return None
    head, body = record.split(b"\n", 1)
    try:
        h = json.loads(head)
        model, tokens, predicted = h["m"], h["t"], h["q"]
        prompt, probe = h["p"], h["b"]
    except (ValueError, KeyError, TypeError):
        return None
    context = np.frombuffer(body, dtype="<f8").astype(np.float64) if len(body) % 8 == 0 else None
    if (
        not isinstance(model, str)
        or not isinstance(tokens, int)
        or not isinstance(predicted, int | float | type(None))
        or not isinstance(prompt, str | type(None))
        or context is None
        or context.size == 0
        or not np.all(np.isfinite(context))
    ):
        return None
    quality = None if predicted is None else float(predicted)
    return PendingDecision(model, context, tokens, quality, prompt, bool(probe))


class SharedPending:
    """Pending decisions shared through Redis (see the module).

    Parameters
    ----------
    link : RedisLink
        The connection.
    replica : str
        This replica's id (kept in each record).
    ttl_s : float
        How long a decision and its tombstone stay in Redis.
    max_queue : int
        Decisions waiting to be written, at most (while Redis is down).
    """

    def __init__(
        self, link: RedisLink, replica: str, ttl_s: float = 3600.0, max_queue: int = 100_000
    ) -> None:
        self.link, self.replica = link, replica
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.max_queue = max_queue
        self.dropped = 0  #: decisions never written because the queue was full
        #: write each decision to Redis in `put` (one round trip, on the request path) rather than
        #: from the background writer: a replica killed right after answering loses nothing
        self.synchronous = True
        #: feedback for a decision made elsewhere, not found within `recovery_s` of a Redis
        #: error, is looked for again for up to `recovery_wait_s` (see `take`)
        self.recovery_s, self.recovery_wait_s = 5.0, 3.0
        self._queue: OrderedDict[str, PendingDecision] = OrderedDict()
        self._inflight: dict[str, PendingDecision] = {}
        self._claimed: set[str] = set()  # claimed while being written
        self._cond = threading.Condition()
        self._put = link.slow.register_script(PUT_PENDING)
        self._claim = link.fast.register_script(CLAIM)
        self._take = link.fast.register_script(TAKE)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="banditroute-pending", daemon=True)
        self._thread.start()

    def keys(self, decision_id: str) -> list[str]:
        return [self.link.key("pd", decision_id), self.link.key("pt", decision_id)]

    @property
    def waiting(self) -> int:
        """Decisions not yet written to Redis."""
        return len(self._queue) + len(self._inflight)

    # -- RemotePending --------------------------------------------------------------------------
    def put(self, decision_id: str, pending: PendingDecision) -> None:
        """Write the decision to Redis now (while Redis answers), so that a decision returned to
        the caller is in Redis even if this replica dies at once; queue it when Redis is down
        or when ``synchronous`` is off."""
        if self.synchronous and self.link.up:
            try:
                record = encode(pending, self.replica)
                # the background timeout (1 s): a busy machine must not turn a slow write into
                # a decision the other replicas never see (a hung Redis stalls one request)
                self._put(self.keys(decision_id), [record, self.ttl_ms], client=self.link.slow)
                return
            except REDIS_ERRORS as exc:
                self.link.failed("pending write", exc)
        self._enqueue(decision_id, pending)

    def _enqueue(self, decision_id: str, pending: PendingDecision) -> None:
        with self._cond:
            self._queue[decision_id] = pending
            while len(self._queue) > self.max_queue:
                self._queue.popitem(last=False)
                self.dropped += 1
            self._cond.notify()

    def peek(self, decision_id: str) -> PendingDecision | None:
        with self._cond:
            queued = self._queue.get(decision_id) or self._inflight.get(decision_id)
        if queued is not None:
            return queued
        if not self.link.up:
            return None
        try:
            return decode(self.link.fast.get(self.keys(decision_id)[0]))
        except REDIS_ERRORS as exc:
            self.link.failed("pending lookup", exc)
            return None

    def claim(self, decision_id: str) -> bool:
        with self._cond:
            if self._queue.pop(decision_id, None) is not None:
                return True  # never written: nobody else can have it
            if decision_id in self._inflight:
                self._claimed.add(decision_id)
        if not self.link.up:
            return True
        try:
            return bool(self._claim(self.keys(decision_id), [self.ttl_ms], client=self.link.fast))
        except REDIS_ERRORS as exc:
            self.link.failed("pending claim", exc)
            return True

    def take(self, decision_id: str) -> PendingDecision | None:
        """Take a decision made elsewhere. Around a Redis outage (down now, or an error in the
        last `recovery_s`) a decision not found yet may still arrive (its replica writes it
        when Redis answers again, or writes back all it knows after Redis lost its data): look
        again every 50 ms for at most `recovery_wait_s` (this runs in a worker thread)."""
        deadline = time.monotonic() + self.recovery_wait_s
        while True:
            found = self._take_once(decision_id) if self.link.up else None
            if found is not None or time.monotonic() >= deadline or not self._recovering():
                return found
            time.sleep(0.05)

    def _recovering(self) -> bool:
        if not self.link.up:
            return True
        last = self.link.last_error_at
        return last is not None and time.time() - last < self.recovery_s

    def _take_once(self, decision_id: str) -> PendingDecision | None:
        try:
            record = self._take(self.keys(decision_id), [self.ttl_ms], client=self.link.fast)
        except REDIS_ERRORS as exc:
            self.link.failed("pending take", exc)
            return None
        return decode(record)

    # -- the writer -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._queue or not self.link.up):
                    self._cond.wait(0.05 if self._queue else 0.5)
                if self._stop and (not self._queue or not self.link.up):
                    return
                while self._queue and len(self._inflight) < _BATCH:
                    key, pending = self._queue.popitem(last=False)
                    self._inflight[key] = pending
                batch = list(self._inflight.items())
            ok = self._write(batch)
            with self._cond:
                if not ok:  # back to the front of the queue, unless answered meanwhile
                    for key, pending in reversed(batch):
                        if key not in self._claimed:
                            self._queue[key] = pending
                            self._queue.move_to_end(key, last=False)
                self._inflight.clear()
                self._claimed.clear()
                self._cond.notify_all()

    def _write(self, batch: list[tuple[str, PendingDecision]]) -> bool:
        try:
            pipe = self.link.slow.pipeline(transaction=False)
            for key, pending in batch:
                record = encode(pending, self.replica)
                self._put(self.keys(key), [record, self.ttl_ms], client=pipe)
            pipe.execute()
            return True
        except REDIS_ERRORS as exc:
            self.link.failed("pending write", exc)
            return False
        except Exception:  # a bug must not stop the writer: these decisions stay local
            logger.exception("writing %d pending decisions failed", len(batch))
            return True

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait until every queued decision is written (True) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0 or not self.link.up:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def republish(self, decisions: list[tuple[str, PendingDecision]]) -> None:
        """Queue these decisions again (after Redis lost its data)."""
        for decision_id, pending in decisions:
            self._enqueue(decision_id, pending)

    def close(self, timeout_s: float = 2.0) -> None:
        """Write what is queued (while Redis answers, up to ``timeout_s``) and stop the writer."""
        self.flush(timeout_s)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout_s)
