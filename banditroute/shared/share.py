"""The life of one shared learned part (the policy, the call estimator): join, push, pull, apply.

A `Share` keeps what its part learned on this replica as own `Part`\\ s (`collect`), pushes them
and reads the other replicas' (`push`, `pull`, both without the engine's lock: network I/O), and
writes the merged sums back into the part (`apply`, under the lock). The first contact with
Redis is `join`: the first replica ever seeds the shared state with what its part knew when it
was attached; a replica joining later adopts the shared state instead (what it had learned
before `attach` is replaced; what it learns after is kept). After Redis lost its data,
`push(everything=True)` writes back all this replica knows, other replicas' parts included.
The totals of replicas gone quiet are folded into a base total (`compact`, see
`banditroute.shared.totals_compaction`).

>>> Share.kind
''
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import ClassVar

from .codec import encode_base
from .compaction import compact
from .link import RedisLink
from .scripts import SEED
from .sums import Base, SharedSums
from .sums_store import SumsStore
from .totals_compaction import TotalsBase, compact_totals

__all__ = ["Share"]


class Share(ABC):
    """Base of `PolicyShare` and `EstimatorShare` (the subclass builds ``sums`` first)."""

    kind: ClassVar[str] = ""
    sums: SharedSums

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.store = SumsStore(link, self.kind)
        self._seed_script = link.slow.register_script(SEED)
        self.joined = False
        self.seed_text: str | None = None  #: the seed in force (JSON), once known
        self.others: dict[str, tuple[int, str]] = {}  #: other replicas' totals (version, JSON)
        self.totals_version = 0  #: version of this replica's own totals
        self._pushed_totals = 0
        self.refresh = True  #: totals changed: `apply` must rewrite the part
        self._seed: tuple[str, dict[str, Base]] | None = None
        self.totals_base = TotalsBase()  #: folded totals of replicas gone quiet
        self._totals_ack = -1  #: the last fold of own totals accounted for
        self._sent_totals: dict[int, str] = {}  #: own totals pushed (a fold may take them)

    def snapshot_seed(self) -> None:
        """Remember what the part knows now (call under the engine's lock, at attach): the seed
        this replica offers if it is the first."""
        self._seed = self.local_seed()

    # -- the part's side (under the engine's lock) -----------------------------------------------
    @abstractmethod
    def local_seed(self) -> tuple[str, dict[str, Base]]:
        """The part's current state as a seed: its totals' JSON and one base per model."""

    @abstractmethod
    def collect(self) -> None:
        """Fold what the part learned since the last call into own parts and totals."""

    @abstractmethod
    def apply(self, models: Collection[str]) -> None:
        """`collect`, then write the merged sums of every changed model that the part holds or
        ``models`` (the registry) names back into the part."""

    @abstractmethod
    def own_totals(self) -> str:
        """This replica's totals as JSON."""

    @abstractmethod
    def resume_totals(self, payload: str) -> None:
        """Add totals an earlier process under this replica id left in Redis to this one's."""

    @abstractmethod
    def fold_totals(self, base: str | None, payloads: list[str]) -> str:
        """The folded totals' JSON: ``base`` (None: nothing folded yet) plus the replicas'
        totals ``payloads``, so that merging it counts them as merging them did."""

    @abstractmethod
    def forget_totals(self, payload: str) -> None:
        """Take own totals as pushed (``payload``) out of this replica's: they were folded."""

    # -- I/O (the sync thread) -------------------------------------------------------------------
    def join(self, lock: threading.RLock) -> None:
        """First contact: seed the shared state, or adopt it."""
        if self._seed is None:
            with lock:
                self.snapshot_seed()
        assert self._seed is not None
        text, bases = self._seed
        args: list[str | bytes] = [text]
        for arm, base in bases.items():
            args += [arm, encode_base(base)]
        seeded = self._seed_script([self.store.seed, self.store.bases], args)
        if not seeded:  # another replica seeded first: whatever this one knew is replaced
            self.sums.changed.update(self.local_arms())
        self.pull()
        self.joined = True

    def local_arms(self) -> set[str]:
        """The models the part holds locally."""
        return set()

    def pending_pushes(self) -> int:
        """Own changes not yet in Redis."""
        unsent = len(self.sums.unpushed()) + len(self.sums.new_bases)
        return unsent + (self.totals_version > self._pushed_totals)

    def push(self, everything: bool = False) -> None:
        if everything and self.totals_base.seq > 0:
            self.store.put_totals_base(self.totals_base)
        if self._push(everything) == -1:  # own totals were folded: account for it, then retry
            self._take_totals_base(self.store.read_totals_base(), join=False)
            self._push(False)
        if everything:
            if self.seed_text is not None:
                self._seed_script([self.store.seed, self.store.bases], [self.seed_text])
            self.store.push_totals_of_others(self.others)

    def _push(self, everything: bool) -> int | None:
        version = self.totals_version
        totals = None
        if everything or version > self._pushed_totals:
            totals = (version, self.own_totals())
            self._sent_totals[version] = totals[1]
        stored = self.store.push(self.sums, totals, everything=everything, ack=self._totals_ack)
        if stored == 1:  # what the store held before can no longer be folded
            self._sent_totals = {v: p for v, p in self._sent_totals.items() if v >= version}
        if stored == -1:  # refused: a fold of own totals not accounted for yet
            self._sent_totals.pop(version, None)
        else:
            self._pushed_totals = max(self._pushed_totals, version)
        return stored

    def prior_intercept(self) -> float:
        """The prior intercept this replica composes with now (for `compact`)."""
        return 0.0

    def compact(self, retire_after_s: float) -> list[str]:
        """Merge the parts of every model with a part not written for ``retire_after_s`` into
        a new base (`banditroute.shared.compaction`), and the totals of every replica silent
        that long into the base total (`banditroute.shared.totals_compaction`); returns the
        models compacted."""
        done = compact(self.store, self.sums, retire_after_s, self.prior_intercept())
        compact_totals(self.store, self.fold_totals, retire_after_s)
        return done

    def pull(self) -> list[str]:
        """Read what changed; returns the values that could not be read."""
        pulled = self.store.pull(self.sums, join=not self.joined)
        if pulled.own_totals is not None:
            self.resume_totals(pulled.own_totals[1])
            self.totals_version = max(self.totals_version, pulled.own_totals[0]) + 1
        for replica, (version, payload) in pulled.totals.items():
            held = self.others.get(replica)
            if held is None or held[0] < version:
                self.others[replica] = (version, payload)
                self.refresh = True
        if pulled.seed is not None and pulled.seed != self.seed_text:
            self.seed_text = pulled.seed
            self.refresh = True
        if pulled.totals_seq > self.totals_base.seq:
            self._take_totals_base(self.store.read_totals_base(), join=not self.joined)
        return pulled.errors

    def _take_totals_base(self, base: TotalsBase, join: bool) -> None:
        """Adopt newer folded totals: drop the folded totals held; take own folded totals out
        of this replica's (see `banditroute.shared.totals_compaction`)."""
        if base.seq <= self.totals_base.seq:
            return
        self.totals_base = base
        self.refresh = True
        for replica, version in base.folded.items():
            held = self.others.get(replica)
            if held is not None and held[0] <= version:
                del self.others[replica]
        mine = base.folded.get(self.sums.replica)
        if mine is None or mine <= self._totals_ack:
            return
        if not join:  # (a process that joins never pushed: an earlier one's totals were folded)
            payload = self._sent_totals.get(mine)
            # unknown (never expected): forget everything rather than count anything twice
            self.forget_totals(self.own_totals() if payload is None else payload)
        self._totals_ack = mine
        self.totals_version = max(self.totals_version, mine) + 1
        self._sent_totals = {v: p for v, p in self._sent_totals.items() if v > mine}
