"""The call estimator, shared: answer lengths (hence costs), call and error counts, latencies.

The answer-length regressions are ridge sums like the policy's and merge exactly (no forgetting,
no restarts); this replica's part is what its regressions gained since the last look (a
difference of sums, so the estimator needs no hook). Calls and errors per model are per-replica
counters, summed. Latency is an exponentially weighted mean, which does not add up: each replica
publishes the weighted mean of its *own* observations (recovered from the estimator's mean
before and after them) and the merged latency is their average, each weighted by how much its
mean has seen (1 − keepᶜᵃˡˡˢ); an approximation that one replica alone leaves exact.

>>> import numpy as np
>>> from banditroute.estimates import CallEstimator
>>> from banditroute.registry import ModelProfile
>>> from banditroute.shared.link import RedisLink
>>> estimator, m = CallEstimator(), ModelProfile(id="m", provider="p", input_usd_per_mtok=1,
...                                                output_usd_per_mtok=1)
>>> share = EstimatorShare(estimator, "a", RedisLink("redis://127.0.0.1:1/0"))
>>> estimator.observe(m, np.ones(2), 10, latency_ms=400.0, output_tokens=30)
>>> share.collect()
>>> share.sums.own["m"].n, share.own_totals()
(1, '{"m": [1, 0, 400.0]}')
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection

import numpy as np

from ..estimates import CallEstimator, ModelCallStats
from ..policies.tracking import ArmDelta, ArmStatistics
from .link import RedisLink
from .share import Share
from .sums import SEED_EPOCH, Base, SharedSums

__all__ = ["EstimatorShare"]

CallTotals = dict[str, tuple[int, int, float | None]]  # model → calls, errors, latency
Folded = dict[str, list[float]]  # model → calls, errors, Σ weight·latency, Σ weight


def _folded(text: str | None) -> Folded:
    """The folded totals (`totals_compaction`) from JSON (unreadable entries are left out)."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    out: Folded = {}
    for model, row in value.items() if isinstance(value, dict) else ():
        try:
            numbers = [float(row[i]) for i in range(4)]
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if all(math.isfinite(x) and x >= 0 for x in numbers):
            out[str(model)] = numbers
    return out


def _call_totals(text: str | None) -> CallTotals:
    """Per-model call totals from JSON (unreadable entries are left out)."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    out: CallTotals = {}
    for model, row in value.items() if isinstance(value, dict) else ():
        try:
            calls, errors, latency = int(row[0]), int(row[1]), row[2]
            latency = None if latency is None else float(latency)
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if calls >= 0 and errors >= 0 and (latency is None or math.isfinite(latency)):
            out[str(model)] = (calls, errors, latency)
    return out


class EstimatorShare(Share):
    """The engine's `CallEstimator`, shared through Redis (key kind ``e``)."""

    kind = "e"

    def __init__(self, estimator: CallEstimator, replica: str, link: RedisLink) -> None:
        self.estimator = estimator
        ridge = estimator.answer_tokens
        self.sums = SharedSums(replica, self._prior, ridge.intercept_precision)
        super().__init__(link)
        self.keep = 0.5 ** (1.0 / estimator.latency_halflife)
        self.last: dict[str, ArmStatistics] = {}  # ridge rows as last seen or written
        self.seen: CallTotals = {}  # call stats as last seen or written
        self.own: dict[str, list[float | None]] = {}  # model → own calls, errors, latency
        self._remember()

    def _remember(self) -> None:
        ridge = self.estimator.answer_tokens
        for key in ridge.index:
            gram, targets, counts = ridge.sums(key)
            self.last[key] = ArmStatistics(gram, targets, counts, 0.0)
        for model, s in self.estimator._stats.items():
            self.seen[model] = (s.calls, s.errors, s.latency_ewma_ms)

    def _prior(self, dim: int, prior_intercept: float) -> ArmStatistics:
        ridge = self.estimator.answer_tokens
        precision = np.full(dim, ridge.prior_precision)
        precision[0] = ridge.intercept_precision
        targets = np.zeros(dim)
        targets[0] = precision[0] * prior_intercept
        return ArmStatistics(np.diag(precision), targets, 0.0, 0.0)

    def local_arms(self) -> set[str]:
        return set(self.estimator.answer_tokens.index)

    def local_seed(self) -> tuple[str, dict[str, Base]]:
        pi = self.estimator.answer_tokens.prior_intercept
        bases = {a: Base(SEED_EPOCH, s.copy(), pi) for a, s in self.last.items()}
        return json.dumps({m: list(row) for m, row in self.seen.items()}), bases

    def own_totals(self) -> str:
        return json.dumps({m: row for m, row in self.own.items()})

    def resume_totals(self, payload: str) -> None:
        for model, (calls, errors, latency) in _call_totals(payload).items():
            mine = self.own.setdefault(model, [0, 0, None])
            mine[0] = (mine[0] or 0) + calls
            mine[1] = (mine[1] or 0) + errors
            mine[2] = latency if mine[2] is None else mine[2]
        self.refresh = True

    def _add_calls(self, merged: Folded, source: CallTotals) -> None:
        for model, (calls, errors, latency) in source.items():
            row = merged.setdefault(model, [0, 0, 0.0, 0.0])
            row[0] += calls
            row[1] += errors
            if latency is not None and calls > 0:
                weight = 1.0 - self.keep**calls
                row[2] += weight * latency
                row[3] += weight

    def fold_totals(self, base: str | None, payloads: list[str]) -> str:
        merged = _folded(base)
        for payload in payloads:
            self._add_calls(merged, _call_totals(payload))
        return json.dumps(merged)

    def forget_totals(self, payload: str) -> None:
        for model, (calls, errors, latency) in _call_totals(payload).items():
            mine = self.own.get(model)
            if mine is None:
                continue
            left = max(int(mine[0] or 0) - calls, 0)
            now = mine[2]
            if left == 0 or now is None:
                now = None
            elif latency is not None and calls > 0:  # the mean of the calls since
                fade = self.keep**left
                now = max((now - fade * latency) / (1 - fade), 0.0)
            self.own[model] = [left, max(int(mine[1] or 0) - errors, 0), now]
        self.refresh = True

    def collect(self) -> None:
        ridge = self.estimator.answer_tokens
        if self.sums.dim is None:
            self.sums.dim = ridge.dim
        for key, i in ridge.index.items():
            last = self.last.get(key)
            if last is not None and last.counts == ridge.counts[i]:
                continue
            gram, targets, counts = ridge.sums(key)
            if last is None:
                last = self._prior(targets.size, ridge.prior_intercept)
            n = max(round(counts - last.counts), 0)
            delta = ArmDelta(n, gram - last.gram, targets - last.targets, counts - last.counts)
            self.sums.add_delta(key, delta)
            self.last[key] = ArmStatistics(gram, targets, counts, 0.0)
        changed = False
        for model, s in self.estimator._stats.items():
            calls, errors, latency = self.seen.get(model, (0, 0, None))
            k = max(s.calls - calls, 0)
            if k == 0 and s.errors == errors and s.latency_ewma_ms == latency:
                continue
            mine = self.own.setdefault(model, [0, 0, None])
            mine[0] = (mine[0] or 0) + k
            mine[1] = (mine[1] or 0) + max(s.errors - errors, 0)
            now = s.latency_ewma_ms
            if now is not None and now != latency:
                if k == 0 or latency is None or mine[2] is None:
                    mine[2] = now  # first latencies, or set outright (a drift reaction)
                else:
                    fade = self.keep**k
                    fresh = max((now - fade * latency) / (1 - fade), 0.0)
                    mine[2] = fade * mine[2] + (1 - fade) * fresh
            self.seen[model] = (s.calls, s.errors, now)
            changed = True
        if changed:
            self.totals_version += 1

    def _merged_calls(self) -> CallTotals:
        sources = [_call_totals(self.seed_text)]
        sources += [_call_totals(payload) for _, payload in self.others.values()]
        sources.append(_call_totals(self.own_totals()))
        merged = _folded(self.totals_base.payload)
        for source in sources:
            self._add_calls(merged, source)
        return {
            m: (int(r[0]), int(r[1]), r[2] / r[3] if r[3] > 0 else None) for m, r in merged.items()
        }

    def prior_intercept(self) -> float:
        return float(self.estimator.answer_tokens.prior_intercept)

    def apply(self, models: Collection[str]) -> None:
        self.collect()
        if not self.joined or (not self.sums.changed and not self.refresh):
            return
        ridge = self.estimator.answer_tokens
        for arm in sorted(self.sums.changed & (self.local_arms() | set(models))):
            try:
                row = self.sums.compose(arm, ridge.prior_intercept, ridge.dim)
            except (ValueError, StopIteration):
                continue
            ridge.set_sums(arm, row.gram, row.targets, row.counts)
            self.last[arm] = ArmStatistics(row.gram, row.targets, row.counts, 0.0)
        stats = self.estimator._stats
        for model, (calls, errors, latency) in self._merged_calls().items():
            held = stats.get(model)
            if latency is None and held is not None:
                latency = held.latency_ewma_ms
            stats[model] = ModelCallStats(calls, min(errors, calls), latency)
            self.seen[model] = (calls, min(errors, calls), latency)
        self.sums.changed.clear()
        self.refresh = False
