"""Per-model sums shared by replicas: a state-based CRDT, exact for additive statistics.

Each replica owns one `Part` per model: the running total of everything it learned about that
model (gram Σxxᵀ, targets Σxy, count, squared residuals), with a version that grows on every
change. Replicas publish their own parts and read the others'; a part is replaced by a newer
version, never added twice, so merging is idempotent and the order of arrival does not matter:

    merged = γᴺ · base + Σ_replicas part      (N: observations in the parts; γ: the discount)

sorted by replica id, so every replica computes bit-for-bit the same sums from the same parts.
A model's statistics can also be *restarted* (a drift reset or soften): the restarting replica
opens a new `Epoch` for that model whose `Base` is what the statistics became; parts of older
epochs no longer count, and every replica starts a fresh part in the new epoch. Concurrent
restarts are ordered by (sequence, replica id): the greatest wins. A *compaction*
(`banditroute.shared.compaction`) is a new epoch whose base is the merge itself, so the merged
sums do not change; a replica keeps, as its part of the new epoch, only what it learned after
the version of its part that was merged (`SharedSums.receive_base`).

>>> import numpy as np
>>> from banditroute.policies.tracking import ArmDelta, ArmStatistics
>>> prior = lambda d, intercept: ArmStatistics(np.eye(d), np.zeros(d), 0.0, 0.0)
>>> a, b = SharedSums("a", prior), SharedSums("b", prior)
>>> a.add_delta("m", ArmDelta(1, np.ones((2, 2)), np.ones(2), 1.0))
>>> b.add_delta("m", ArmDelta(2, 2 * np.ones((2, 2)), np.zeros(2), 2.0))
>>> _ = b.receive_part("m", "a", a.own["m"]), a.receive_part("m", "b", b.own["m"])
>>> a.compose("m", 0.0).gram.tolist() == b.compose("m", 0.0).gram.tolist() == [[4, 3], [3, 4]]
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..policies.tracking import ArmDelta, ArmStatistics

__all__ = ["SEED_EPOCH", "Base", "Epoch", "Part", "SharedSums", "merge", "zero_statistics"]

#: (sequence, replica id) of a model's statistics; the seed's is (0, "")
Epoch = tuple[int, str]
SEED_EPOCH: Epoch = (0, "")

#: the prior of a model: (context dimension, prior intercept) → its statistics
Prior = Callable[[int, float], ArmStatistics]


def zero_statistics(dim: int) -> ArmStatistics:
    """Statistics of nothing learned (the additive zero)."""
    return ArmStatistics(np.zeros((dim, dim)), np.zeros(dim), 0.0, 0.0)


@dataclass
class Part:
    """One replica's running total for one model in one epoch."""

    epoch: Epoch
    version: int
    n: int  #: observations (not discounted)
    stats: ArmStatistics


@dataclass
class Base:
    """What a model's statistics were when its epoch began (the seed, a restart, or a
    compaction: the merge of every part of the epoch ``folded_from``)."""

    epoch: Epoch
    stats: ArmStatistics
    prior_intercept: float  #: the prior intercept the base's targets were made with
    folded_from: Epoch | None = None  #: a compaction's: the epoch whose parts it merged
    folded: dict[str, int] = field(default_factory=dict)  #: replica → part version merged
    chain_start: Epoch | None = None  #: a compaction's: the first epoch of its compactions


class SharedSums:
    """This replica's view of one kind of shared sums (no I/O: see `shared.sums_store`).

    Parameters
    ----------
    replica : str
        This replica's id.
    prior : callable
        (dimension, prior intercept) → a model's prior statistics.
    intercept_precision : float
        Prior precision of the intercept: the targets move by it times a change of the prior
        intercept (the pooled prior).
    discount : float
        The policy's γ; 1 for plain sums.
    """

    def __init__(
        self, replica: str, prior: Prior, intercept_precision: float = 1.0, discount: float = 1.0
    ) -> None:
        self.replica = replica
        self.prior = prior
        self.intercept_precision = intercept_precision
        self.discount = discount
        self.bases: dict[str, Base] = {}  #: the current epoch's base (absent: the prior)
        self.own: dict[str, Part] = {}
        self.others: dict[str, dict[str, Part]] = {}  #: model → replica → part
        self.new_bases: dict[str, Base] = {}  #: restarts made here, not yet announced
        self.pushed: dict[str, int] = {}  #: model → own version the store holds
        self.sent: dict[str, dict[int, Part]] = {}  #: own parts written, by version
        self.changed: set[str] = set()  #: models whose merged sums moved since `compose`
        self.version = 0
        self.dim: int | None = None  #: context dimension; sums of another are refused

    def fits(self, stats: ArmStatistics) -> bool:
        """True when ``stats`` has this replica's context dimension (or none is known yet)."""
        return self.dim is None or stats.targets.size == self.dim

    # -- what this replica learned ---------------------------------------------------------------
    def epoch(self, arm: str) -> Epoch:
        base = self.bases.get(arm)
        return SEED_EPOCH if base is None else base.epoch

    def _next_version(self) -> int:
        self.version += 1
        return self.version

    def add_delta(self, arm: str, delta: ArmDelta) -> None:
        """Fold what this replica learned about ``arm`` into its own part."""
        epoch = self.epoch(arm)
        part = self.own.get(arm)
        if part is None or part.epoch != epoch:
            part = Part(epoch, 0, 0, zero_statistics(delta.targets.size))
        scale = self.discount**delta.n
        s = part.stats
        stats = ArmStatistics(
            s.gram * scale + delta.gram,
            s.targets * scale + delta.targets,
            s.counts * scale + delta.counts,
            s.sse * scale + delta.sse,
        )
        self.own[arm] = Part(epoch, self._next_version(), part.n + delta.n, stats)

    def restart(self, arm: str, stats: ArmStatistics, prior_intercept: float) -> None:
        """This replica replaced ``arm``'s statistics by ``stats``: a new epoch begins."""
        epoch = (self.epoch(arm)[0] + 1, self.replica)
        base = Base(epoch, stats.copy(), prior_intercept)
        self.bases[arm] = self.new_bases[arm] = base
        self.own[arm] = Part(epoch, self._next_version(), 0, zero_statistics(stats.targets.size))

    def unpushed(self) -> list[tuple[str, Part]]:
        """Own parts newer than what the store holds."""
        return [(a, p) for a, p in self.own.items() if p.version > self.pushed.get(a, 0)]

    def stored(self, arm: str, part: Part) -> None:
        """The store holds this own part (or a newer one): older ones are no longer needed."""
        self.pushed[arm] = max(self.pushed.get(arm, 0), part.version)
        sent = self.sent.setdefault(arm, {})
        sent[part.version] = part  # a compaction may merge it: `_carry_own` subtracts it
        for version in [v for v in sent if v < self.pushed[arm]]:
            del sent[version]

    # -- what the store says ---------------------------------------------------------------------
    def receive_base(self, arm: str, base: Base) -> bool:
        """A base read from the store; adopted when its epoch is newer (or was unknown)."""
        known = self.bases.get(arm)
        if (known is not None and known.epoch >= base.epoch) or not self.fits(base.stats):
            return False
        self.bases[arm] = base
        pending = self.new_bases.get(arm)
        if pending is not None and pending.epoch < base.epoch:
            del self.new_bases[arm]  # a concurrent restart elsewhere won
        self._carry_own(arm, base)
        held = self.others.get(arm)
        if held:  # parts of older epochs never count again
            self.others[arm] = {r: p for r, p in held.items() if p.epoch >= base.epoch}
        self.changed.add(arm)
        return True

    def _carry_own(self, arm: str, base: Base) -> None:
        """Compactions merged the epoch this replica's own part is in (the part as the store
        held it): what they did not include (learned since) becomes this replica's part of the
        new epoch, so nothing is counted twice or lost. After a restart, the old epoch's part
        no longer counts (as for every replica)."""
        mine = self.own.get(arm)
        sent = {v: p for v, p in self.sent.pop(arm, {}).items() if mine and p.epoch == mine.epoch}
        if mine is None or base.folded_from is None:
            return
        if not (base.chain_start or base.folded_from) <= mine.epoch <= base.folded_from:
            return
        if mine.epoch == base.folded_from:  # the versions merged are known
            version = base.folded.get(self.replica)
        else:  # compactions this replica did not see: the store's last version was merged
            version = max((v for v in sent if v <= mine.version), default=None)
        merged = None if version is None else mine if version == mine.version else sent.get(version)
        if merged is mine or (version is not None and merged is None):
            del self.own[arm]  # all merged (or unknowable: never count anything twice)
            return
        n, stats = mine.n, mine.stats
        if merged is not None:
            n = mine.n - merged.n
            scale, s = self.discount**n, merged.stats
            stats = ArmStatistics(
                stats.gram - scale * s.gram,
                stats.targets - scale * s.targets,
                stats.counts - scale * s.counts,
                stats.sse - scale * s.sse,
            )
        self.own[arm] = Part(base.epoch, self._next_version(), n, stats)

    def receive_part(self, arm: str, replica: str, part: Part) -> bool:
        """Another replica's part; kept when newer than the one held (own parts: `resume`)."""
        if replica == self.replica or not self.fits(part.stats):
            return False
        held = self.others.setdefault(arm, {})
        old = held.get(replica)
        if old is not None and (old.epoch, old.version) >= (part.epoch, part.version):
            return False
        held[replica] = part
        self.changed.add(arm)
        return True

    def resume(self, arm: str, part: Part) -> None:
        """An own part left in the store by an earlier process under this replica id: what this
        process learned since it started is added on top, so neither is lost."""
        mine = self.own.get(arm)
        if not self.fits(part.stats):
            return
        self.version = max(self.version, part.version)
        self.stored(arm, part)
        if mine is None or mine.epoch < part.epoch:
            self.own[arm] = part
        elif mine.epoch == part.epoch:
            scale = self.discount**mine.n
            s, m = part.stats, mine.stats
            stats = ArmStatistics(
                s.gram * scale + m.gram,
                s.targets * scale + m.targets,
                s.counts * scale + m.counts,
                s.sse * scale + m.sse,
            )
            self.own[arm] = Part(part.epoch, self._next_version(), part.n + mine.n, stats)
        self.changed.add(arm)

    # -- the merge ---------------------------------------------------------------------------------
    def arms(self) -> set[str]:
        return set(self.bases) | set(self.own) | set(self.others)

    def parts(self, arm: str) -> dict[str, Part]:
        """The parts that count for ``arm`` now (its current epoch), by replica."""
        epoch = self.epoch(arm)
        parts = {r: p for r, p in self.others.get(arm, {}).items() if p.epoch == epoch}
        mine = self.own.get(arm)
        if mine is not None and mine.epoch == epoch:
            parts[self.replica] = mine
        return parts

    def compose(self, arm: str, prior_intercept: float, dim: int | None = None) -> ArmStatistics:
        """``arm``'s merged statistics: γᴺ·base + Σ parts, the intercept's prior moved to
        ``prior_intercept``."""
        parts = self.parts(arm)
        base = self.bases.get(arm)
        if dim is None:
            sample = base.stats if base is not None else next(iter(parts.values())).stats
            dim = sample.targets.size
        if base is None:
            base = Base(SEED_EPOCH, self.prior(dim, prior_intercept), prior_intercept)
        merged = merge(base.stats, parts, self.discount)
        merged.targets[0] += self.intercept_precision * (prior_intercept - base.prior_intercept)
        return merged


def merge(base: ArmStatistics, parts: dict[str, Part], discount: float) -> ArmStatistics:
    """γᴺ · base + Σ parts (N: the parts' observations), summed in replica order."""
    scale = discount ** sum(p.n for p in parts.values())
    gram, targets = base.gram * scale, base.targets * scale
    counts, sse = base.counts * scale, base.sse * scale
    for replica in sorted(parts):
        s = parts[replica].stats
        gram, targets = gram + s.gram, targets + s.targets
        counts, sse = counts + s.counts, sse + s.sse
    return ArmStatistics(gram, targets, counts, sse)
