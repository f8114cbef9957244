"""The decision log writer's loop: writing the queued rows, the background thread with its
back-off on a failing store, the warnings, and `close` with its time limit.

A failed write raises `StoreError`, logs a warning (logger ``banditroute.store``, at most once
a minute while the failure lasts) and puts every row back; rows whose data cannot be stored
are dropped and counted without holding up the others (`batches.convert`).

>>> import tempfile
>>> from banditroute.store.tables import Tables
>>> loop = WriteLoop(Tables(tempfile.mkdtemp(), 8, "h"), max_queued=10)
>>> loop.write(everything=True); loop.close(); loop.stats().written_rows
0
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .batches import convert, values_fit
from .foreign import update_rows
from .queues import Queued, Queues
from .retry import LOGGER, Backoff, RateLimitedLog, WriterStats, check_count, check_seconds
from .tables import Tables, is_decision_id, quote

if TYPE_CHECKING:
    from ..decision import Outcome

__all__ = ["FOREIGN_EXTRA_S", "HEALTHY_CLOSE_S", "WriteLoop"]

#: longest `close` waits for a store that is writing without errors to finish its backlog
HEALTHY_CLOSE_S = 120.0
#: a foreign outcome waits for its row (another replica's) ``outcome_wait_s`` + this, at most
FOREIGN_EXTRA_S = 60.0


def _outcome_values(outcome: Outcome) -> dict[str, Any]:
    from .writer import outcome_values  # the row format lives with the rows

    return outcome_values(outcome)


class WriteLoop(Queues):
    """Writes the queues to `Tables`: on demand (`write`), from a background thread (started
    by the subclass with `start`) and at `close`. Subclasses build decision rows (`_row`).

    Parameters
    ----------
    tables : Tables
        Where rows are written.
    max_queued : int
        Most rows kept in memory while the store cannot be written (oldest dropped beyond).
    flush_interval_s, outcome_wait_s : float
        Write at least this often; keep a decision waiting for its outcome this long.
    retry_max_s : float
        Longest back-off between attempts of the background thread on a failing store (the
        first wait is ``flush_interval_s``, then it doubles).
    close_timeout_s : float
        How long `close` keeps trying to write what is queued before giving up.
    """

    def __init__(
        self,
        tables: Tables,
        max_queued: int = 100_000,
        flush_interval_s: float = 2.0,
        outcome_wait_s: float = 30.0,
        retry_max_s: float = 60.0,
        close_timeout_s: float = 3.0,
    ) -> None:
        super().__init__(check_count("max_queued", max_queued))
        self.tables = tables
        self.flush_interval_s = check_seconds("flush_interval_s", flush_interval_s, zero=False)
        self.outcome_wait_s = check_seconds("outcome_wait_s", outcome_wait_s)
        self.retry_max_s = check_seconds("retry_max_s", retry_max_s, zero=False)
        self.close_timeout_s = check_seconds("close_timeout_s", close_timeout_s)
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self.closed = False
        self.models_seen: set[str] | None = None  # model ids in the log, read lazily
        self._backoff = Backoff(self.flush_interval_s, self.retry_max_s)
        self._log = RateLimitedLog()
        self.last_error: StoreError | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name="banditroute-store", daemon=True)
        self._thread.start()

    def _row(self, q: Queued) -> dict[str, Any]:
        """The table row of a queued decision (subclasses build it)."""
        raise NotImplementedError

    # -- the bound on memory and what happened to the rows --------------------------------------
    def _report_dropped(self, dropped: int) -> None:
        if dropped:
            self._log.warning(
                "dropped",
                "decision log at %s: more than max_queued=%d rows waiting for the store; "
                "the oldest are dropped (%d so far)",
                self.tables.path,
                self.max_queued,
                self._counts["dropped"],
            )

    def stats(self) -> WriterStats:
        """What was written, dropped and lost so far, and what is queued now."""
        with self.lock:
            queued = self.queued_rows()
        error = self.last_error
        return WriterStats(
            queued_rows=queued,
            written_rows=self._counts["written"],
            dropped_rows=self._counts["dropped"],
            unwritable_rows=self._counts["unwritable"],
            lost_rows=self._counts["lost"],
            failures=self._backoff.failures,
            last_error=None if error is None else str(error),
        )

    def _run(self) -> None:
        while not self.closed:
            self._wake.wait(self._backoff.wait_s(self.flush_interval_s))
            self._wake.clear()
            if self.closed or not self._backoff.due():
                continue
            try:
                self.write(everything=False)
            except StoreError:
                pass  # logged and backed off by write; the rows stay queued
            except Exception:  # the writer must not die; the rows stay queued for the next try
                self._backoff.failed()
                LOGGER.exception("decision log writer: unexpected error (rows kept queued)")

    def write(self, everything: bool) -> None:
        """Write what is due (``everything``: also decisions still waiting for an outcome).

        Raises `StoreError` when the store cannot be written: the rows stay queued (up to
        ``max_queued``) for the next attempt.
        """
        with self._write_lock:
            self._write(everything)
            self._write_foreign(everything)

    def _write_foreign(self, everything: bool) -> None:
        """Update the rows of other replicas' decisions with the outcomes that reached this one:
        those due (``everything``: all) whose row exists now; the others wait, at most
        ``outcome_wait_s`` + `FOREIGN_EXTRA_S` after they arrived (then they are counted lost)."""
        now = time.time()
        with self.lock:
            items = list(self._foreign)
            self._foreign.clear()
        if not items:
            return
        due_s = self.outcome_wait_s + 2 * self.flush_interval_s  # the other row is written by then
        due = [o for t, o in items if everything or now - t >= due_s]
        try:
            found = self._update_rows(due) if due else set()
        except Exception as exc:
            error = self.tables.failed(exc)
            with self.lock:
                self._foreign.extendleft(reversed(items))
            raise error from exc
        expired = now - self.outcome_wait_s - FOREIGN_EXTRA_S
        keep = [(t, o) for t, o in items if o.decision_id not in found and t >= expired]
        lost = len(items) - len(keep) - sum(1 for o in due if o.decision_id in found)
        with self.lock:
            self._foreign.extendleft(reversed(keep))
            self._counts["lost"] += lost
        if lost:
            self._log.warning(
                "foreign",
                "decision log at %s: %d outcome(s) of decisions whose row never appeared were "
                "dropped (%d rows lost so far)",
                self.tables.path,
                lost,
                self._counts["lost"],
            )

    def _update_rows(self, outcomes: list[Outcome]) -> set[str]:
        """Write these outcomes into their decision rows, where the row exists; their ids."""
        values = {o.decision_id: _outcome_values(o) for o in outcomes}
        kept = {i: v for i, v in values.items() if is_decision_id(i) and values_fit(v)}
        return update_rows(self.tables.get("decisions"), kept) if kept else set()

    def _write(self, everything: bool) -> None:
        queued, late, other = self._take(everything, time.time() - self.outcome_wait_s)
        if not queued and not late and not any(other.values()):
            return
        parts: list[tuple[str, list[Any], Any]] = [("decisions", queued, self._row)]
        parts += [(name, rows, dict) for name, rows in other.items()]
        kept: dict[str, list[Any]] = {name: items for name, items, _ in parts}
        written, unwritable, done = 0, 0, 0
        models: set[str] = set()
        error: StoreError | None = None
        try:
            self.tables.check_writable()
            for name, items, make_row in parts:
                if items:
                    batch, fitting, bad = convert(self.tables, name, items, make_row)
                    unwritable, kept[name] = unwritable + bad, fitting
                    if batch is not None:
                        self.tables.append(name, batch)
                        written += len(fitting)
                        models.update(
                            q.decision.model if name == "decisions" else str(q.get("model"))
                            for q in fitting
                        )
                    kept[name] = []
            for outcome in late:
                values = _outcome_values(outcome)
                if not values_fit(values):
                    unwritable += 1
                elif is_decision_id(outcome.decision_id):
                    self.tables.get("decisions").update(
                        where=f"id = {quote(outcome.decision_id)}", values=values
                    )
                done += 1
        except Exception as exc:
            error = self.tables.failed(exc)
        dropped = 0
        with self.lock:
            self._counts["written"] += written
            self._counts["unwritable"] += unwritable
            if self.models_seen is not None:
                self.models_seen.update(m for m in models if m != "None")
            if error is not None:
                self._put_back(kept["decisions"], late[done:], {n: kept[n] for n in other})
                dropped = self._trim()
                queued_now = self.queued_rows()
            elif len(self._written) > 1_000_000:
                self._written.clear()
        if unwritable:
            self._log.warning(
                "unwritable",
                "decision log at %s: %d row(s) whose data cannot be stored were dropped "
                "(%d so far)",
                self.tables.path,
                unwritable,
                self._counts["unwritable"],
            )
        if error is None:
            if self._backoff.failures:
                LOGGER.info("decision log at %s is writable again", self.tables.path)
                self._log.reset("failed")
            self._backoff.succeeded()
            self.last_error = None
            return
        self._report_dropped(dropped)
        delay = self._backoff.failed()
        self.last_error = error
        background = self._thread is not None and not self.closed
        self._log.warning(
            "failed",
            "%s; %d rows kept queued (%s)",
            error,
            queued_now,
            f"next attempt in {delay:.1f} s" if background else "written by a later flush",
        )
        raise error

    def close(self) -> None:
        """Stop the background thread and write everything (idempotent).

        A healthy store is given time to write a backlog (up to ``HEALTHY_CLOSE_S``); on a
        store that fails, `close` retries for at most ``close_timeout_s`` after the failure,
        then logs how many rows are lost (`WriterStats.lost_rows`) and returns without raising.
        """
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        failing = self.last_error is not None
        patience = self.close_timeout_s if failing else max(self.close_timeout_s, HEALTHY_CLOSE_S)
        deadline = time.monotonic() + patience
        if self._thread is not None:
            self._thread.join(timeout=patience)
        pause, error = 0.05, None
        foreign_deadline = time.monotonic() + self.close_timeout_s
        while True:
            if self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    self._write(everything=True)
                    self._write_foreign(everything=True)
                    if not self._foreign:
                        return
                    # other replicas' rows not written yet: wait for them, briefly
                    deadline = min(deadline, foreign_deadline)
                except StoreError as exc:
                    error = exc
                    deadline = min(deadline, time.monotonic() + self.close_timeout_s)
                finally:
                    self._write_lock.release()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pause, left))
            pause *= 2
        lost = self._drain()
        if lost:
            LOGGER.warning(
                "closing the decision log at %s: gave up after %.1f s (%s); %d queued rows "
                "are lost",
                self.tables.path,
                self.close_timeout_s,
                error or "a write did not end",
                lost,
            )
