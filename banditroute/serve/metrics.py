"""``GET /metrics``: Prometheus text from a registry of this app's own (never the global one).

Counted on the request path: requests and their latency per endpoint, decisions per chosen
model, answers and spend per serving model, failed or skipped attempts per model and error,
cache hits. Read when scraped: budgets (spent, reserved, limit), cooldowns, drift events,
feedback and pending decisions, the decision log's writer, the shared state's connection.

>>> m = ServeMetrics(source=None, replica_id="r1")
>>> m.request("chat", 200, 0.012)
>>> b'banditroute_requests_total{endpoint="chat",status="200"} 1.0' in m.render()
True
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .failures import guard_kind

if TYPE_CHECKING:
    from ..gateway.completion import Attempt, Completion
    from .service import Service

__all__ = ["CONTENT_TYPE", "ServeMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _error_label(a: Attempt) -> str:
    if a.skipped:
        return f"skipped:{guard_kind(a.error or '') or 'other'}"
    return (a.error or "error").split(":", 1)[0]


class ServeMetrics:
    """The app's metrics; ``source`` is the `Service` whose state is read at scrape time."""

    def __init__(self, source: Service | None, replica_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self._requests = Counter(
            "banditroute_requests", "HTTP requests", ["endpoint", "status"], registry=r
        )
        self._latency = Histogram(
            "banditroute_request_latency_seconds",
            "Time to answer a request (streams: to the first chunk)",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._decisions = Counter(
            "banditroute_decisions", "Decisions made, by chosen model", ["model"], registry=r
        )
        self._served = Counter(
            "banditroute_served",
            "Answers served, by the model that answered",
            ["model"],
            registry=r,
        )
        self._errors = Counter(
            "banditroute_model_errors",
            "Failed or skipped attempts, by model and error type",
            ["model", "error"],
            registry=r,
        )
        self._cost = Counter(
            "banditroute_cost_usd", "Spend of served answers, by model", ["model"], registry=r
        )
        self._cache = Counter("banditroute_cache_hits", "Cache hits", ["cache"], registry=r)
        self._state = _StateCollector(source, replica_id)
        r.register(self._state)
        self._children: dict[tuple[Any, ...], Any] = {}

    def bind(self, source: Service) -> None:
        """Read the state of ``source`` when scraped."""
        self._state.source = source

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        self._child(self._requests, endpoint, str(status)).inc()
        self._child(self._latency, endpoint).observe(seconds)

    def decision(self, model: str) -> None:
        """Count a decision for its chosen model."""
        self._child(self._decisions, model).inc()

    def attempts(self, attempts: Sequence[Attempt]) -> None:
        """Count the failed and skipped attempts of a call."""
        for a in attempts:
            if not a.ok:
                self._child(self._errors, a.model, _error_label(a)).inc()

    def completion(self, c: Completion) -> None:
        """Count a served answer (attempts, spend, cache hit)."""
        if c.cache is not None:
            self._child(self._cache, c.cache).inc()
            return
        self.attempts(c.attempts)
        self._child(self._served, c.model).inc()
        self._child(self._cost, c.model).inc(c.cost_usd)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return _generate_latest(self.registry)


class _StateCollector(Collector):
    """Gauges and counters read from the service when scraped."""

    def __init__(self, source: Service | None, replica_id: str) -> None:
        self.source, self.replica_id = source, replica_id

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("banditroute_info", "This replica", labels=["replica"])
        info.add_metric([self.replica_id], 1)
        yield info
        s = self.source
        if s is None:
            return
        yield from _guards(s)
        drift = CounterMetricFamily(
            "banditroute_drift_events", "Drift events detected", labels=["model", "signal"]
        )
        for (model, signal), n in Tally((e.model, e.signal) for e in s.engine.drift_events).items():
            drift.add_metric([model, signal], n)
        yield drift
        yield CounterMetricFamily(
            "banditroute_feedback", "Outcomes learned", value=s.engine.feedback_count
        )
        yield GaugeMetricFamily(
            "banditroute_pending_decisions",
            "Decisions awaiting feedback",
            value=s.engine.pending_decisions,
        )
        if s.engine.store is not None:
            stats = s.engine.store.stats()
            yield GaugeMetricFamily(
                "banditroute_store_queued_rows", "Log rows in memory", value=stats.queued_rows
            )
            yield CounterMetricFamily(
                "banditroute_store_written_rows", "Log rows written", value=stats.written_rows
            )
            lost = stats.dropped_rows + stats.unwritable_rows + stats.lost_rows
            yield CounterMetricFamily(
                "banditroute_store_lost_rows", "Log rows dropped or lost", value=lost
            )
        if s.shared is not None:
            yield GaugeMetricFamily(
                "banditroute_shared_state_connected",
                "1 while the shared state (Redis) is reachable",
                value=1.0 if s.shared.connected else 0.0,
            )


def _guards(s: Service) -> Iterator[Metric]:
    guards = s.gateway.guards
    cooled = GaugeMetricFamily(
        "banditroute_model_cooled_down", "1 while a model is cooled down", labels=["model"]
    )
    left = GaugeMetricFamily(
        "banditroute_model_cooldown_seconds", "Cooldown left", labels=["model"]
    )
    opened = CounterMetricFamily(
        "banditroute_breaker_opened", "Times a model was cooled down", labels=["model"]
    )
    for b in guards.breaker.snapshot():
        cooled.add_metric([b.model], 0.0 if b.state == "closed" else 1.0)
        left.add_metric([b.model], b.open_for_s)
        opened.add_metric([b.model], b.times_opened)
    yield from (cooled, left, opened)
    if guards.budgets is None:
        return
    spent = GaugeMetricFamily(
        "banditroute_budget_spent_usd", "Spent in the period", labels=["budget"]
    )
    held = GaugeMetricFamily(
        "banditroute_budget_reserved_usd", "Held by calls in flight", labels=["budget"]
    )
    limit = GaugeMetricFamily("banditroute_budget_limit_usd", "Budget limit", labels=["budget"])
    for status in guards.budgets.status():
        spent.add_metric([status.name], status.spent_usd)
        held.add_metric([status.name], status.reserved_usd)
        limit.add_metric([status.name], status.limit_usd)
    yield from (spent, held, limit)
