"""Where one kind of `SharedSums` lives in Redis, and the push / pull / republish of it.

Keys (``ns`` the namespace, ``kind`` "p" for the policy, "e" for the call estimator; a field
``model\\x1freplica`` names one replica's part of one model):

- ``ns:kind:parts`` hash field → encoded `Part`; ``ns:kind:index`` hash field →
  ``"seq|replica|version"`` (what `pull` reads every time, to fetch only the parts that changed);
  ``ns:kind:seen`` hash field → when the part was last written (Redis's clock, seconds: parts
  of replicas gone quiet are compacted, see `banditroute.shared.compaction`);
- ``ns:kind:epochs`` hash model → ``"seq|replica"`` (absent: the seed's epoch ``0|``);
  ``ns:kind:bases`` hash model → encoded `Base`;
- ``ns:kind:totals`` hash replica → ``"version|json"``: per-replica totals that are not per model
  (the pooled prior's quality sum and count; the estimator's calls, errors and latency);
  ``ns:kind:totals_seen`` replica → when they were last written; ``ns:kind:totals_base`` the
  folded totals of replicas gone quiet (`banditroute.shared.totals_compaction`);
- ``ns:kind:seed`` the totals the first replica started from (JSON).

Every write goes through a script that keeps the newer value (`scripts`), so a push repeated
after a lost reply, or a republish after Redis lost its data, changes nothing twice.

>>> SumsStore.field("gpt-4o", "replica-a")
'gpt-4o\\x1freplica-a'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import CodecError, decode_base, decode_part, encode_base, encode_part, text
from .link import RedisLink
from .scripts import COMPACT, NEW_EPOCH, PUT_PART
from .sums import SEED_EPOCH, Epoch, SharedSums
from .totals_compaction import FOLD_TOTALS, PUT_TOTALS, PUT_TOTALS_BASE, TotalsBase

__all__ = ["Pulled", "SumsStore"]

SEP = "\x1f"


def epoch_text(epoch: Epoch) -> str:
    return f"{epoch[0]}|{epoch[1]}"


def parse_epoch(text: str) -> Epoch:
    seq, _, replica = text.partition("|")
    return (int(seq), replica)


@dataclass
class Pulled:
    """What a pull found besides the parts: other replicas' totals and the seed."""

    totals: dict[str, tuple[int, str]] = field(default_factory=dict)  #: replica → (version, json)
    own_totals: tuple[int, str] | None = None  #: left by an earlier process under this id
    seed: str | None = None
    totals_seq: int = 0  #: folds of totals so far (`totals_compaction`)
    errors: list[str] = field(default_factory=list)


class SumsStore:
    """One kind of shared sums in Redis (see the module's key layout)."""

    def __init__(self, link: RedisLink, kind: str) -> None:
        self.link = link
        self.epochs, self.bases = link.key(kind, "epochs"), link.key(kind, "bases")
        self.parts, self.index = link.key(kind, "parts"), link.key(kind, "index")
        self.seen = link.key(kind, "seen")
        self.totals, self.seed = link.key(kind, "totals"), link.key(kind, "seed")
        self.totals_seen = link.key(kind, "totals_seen")
        self.totals_base = link.key(kind, "totals_base")
        self._put_part = link.slow.register_script(PUT_PART)
        self._new_epoch = link.slow.register_script(NEW_EPOCH)
        self._put_totals = link.slow.register_script(PUT_TOTALS)
        self._put_totals_base = link.slow.register_script(PUT_TOTALS_BASE)
        self.compact_script = link.slow.register_script(COMPACT)  #: see `shared.compaction`
        self.fold_totals_script = link.slow.register_script(FOLD_TOTALS)

    @staticmethod
    def field(arm: str, replica: str) -> str:
        return f"{arm}{SEP}{replica}"

    # -- push --------------------------------------------------------------------------------------
    def push(
        self,
        sums: SharedSums,
        totals: tuple[int, str] | None,
        *,
        everything: bool = False,
        ack: int = -1,
    ) -> int | None:
        """Announce own restarts, write own parts newer than the store's, own totals. With
        ``everything`` (after Redis lost its data) also every base and every part known here,
        other replicas' included, so a replica that is gone is not forgotten. ``ack``: the last
        fold of own totals accounted for. Returns `PUT_TOTALS`'s answer (None: no totals)."""
        pipe = self.link.slow.pipeline(transaction=False)
        epochs = list(sums.new_bases.items())
        if everything:
            epochs = [(a, b) for a, b in sums.bases.items() if b.epoch != SEED_EPOCH]
            for arm, base in sums.bases.items():
                if base.epoch == SEED_EPOCH:
                    pipe.hsetnx(self.bases, arm, encode_base(base))
        for arm, base in epochs:
            seq, replica = base.epoch
            keys = [self.epochs, self.bases, self.parts, self.index, self.seen]
            self._new_epoch(keys, [arm, seq, replica, encode_base(base)], client=pipe)
        own = list(sums.own.items()) if everything else sums.unpushed()
        writes = [(a, sums.replica, p) for a, p in own if p.epoch == sums.epoch(a)]
        if everything:
            for arm, held in sums.others.items():
                writes += [(arm, r, p) for r, p in held.items() if p.epoch == sums.epoch(arm)]
        for arm, replica, part in writes:
            if replica == sums.replica:  # kept until a newer one is stored (see `stored`)
                sums.sent.setdefault(arm, {})[part.version] = part
            args: list[str | int | bytes] = [
                arm,
                self.field(arm, replica),
                epoch_text(part.epoch),
                part.version,
                encode_part(part),
            ]
            self._put_part([self.epochs, self.parts, self.index, self.seen], args, client=pipe)
        if totals is not None:
            keys_ = [self.totals, self.totals_seen, self.totals_base]
            self._put_totals(keys_, [sums.replica, totals[0], totals[1], ack], client=pipe)
        results = pipe.execute()
        for arm, base in epochs:
            if sums.new_bases.get(arm) is base:
                del sums.new_bases[arm]  # announced, or a greater epoch won (pull brings it)
        stored = results[len(results) - len(writes) - (totals is not None) :]
        for (arm, replica, part), ok in zip(writes, stored, strict=False):
            if replica == sums.replica and ok == 1:
                sums.stored(arm, part)
            elif replica == sums.replica:  # refused (the model moved on): not in the store
                sums.sent.get(arm, {}).pop(part.version, None)
        return None if totals is None else int(results[-1])

    def push_totals_of_others(self, replica_totals: dict[str, tuple[int, str]]) -> None:
        """Republish other replicas' totals (after Redis lost its data); those folded into
        the base are refused."""
        if not replica_totals:
            return
        pipe = self.link.slow.pipeline(transaction=False)
        keys = [self.totals, self.totals_seen, self.totals_base]
        for replica, (version, payload) in replica_totals.items():
            self._put_totals(keys, [replica, version, payload, version], client=pipe)
        pipe.execute()

    def read_totals_base(self) -> TotalsBase:
        """The folded totals (`totals_compaction`)."""
        return TotalsBase.parse(self.link.slow.hgetall(self.totals_base))

    def put_totals_base(self, base: TotalsBase) -> None:
        """Write the folded totals back (after Redis lost its data) unless as recent are held."""
        self._put_totals_base([self.totals, self.totals_seen, self.totals_base], base.args())

    # -- pull --------------------------------------------------------------------------------------
    def pull(self, sums: SharedSums, *, join: bool = False) -> Pulled:
        """Read what changed since the last pull into ``sums``. ``join`` (the first pull of this
        process) also reads every base and this replica's own parts left by an earlier process."""
        client = self.link.slow
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(self.epochs)
        pipe.hgetall(self.index)
        pipe.hgetall(self.totals)
        pipe.get(self.seed)
        pipe.hget(self.totals_base, "seq")  # after the totals: a fold between is seen
        if join:
            pipe.hgetall(self.bases)
        replies: list[Any] = pipe.execute()
        epochs = {text(k): parse_epoch(text(v)) for k, v in replies[0].items()}
        out = Pulled(seed=None if replies[3] is None else text(replies[3]))
        seq = None if replies[4] is None else text(replies[4])
        out.totals_seq = int(seq) if seq is not None and seq.isdigit() else 0
        for k, v in replies[2].items():
            version, _, payload = text(v).partition("|")
            if not version.isdigit():
                continue
            if text(k) != sums.replica:
                out.totals[text(k)] = (int(version), payload)
            elif join:
                out.own_totals = (int(version), payload)
        if join:
            for k, blob in replies[5].items():
                self._take_base(sums, text(k), blob, out)
        new_bases = [a for a, e in epochs.items() if e > sums.epoch(a)]
        wanted: list[tuple[str, str]] = []
        for k, v in replies[1].items():
            arm, _, replica = text(k).rpartition(SEP)
            epoch_text, _, version = text(v).rpartition("|")
            epoch = parse_epoch(epoch_text)
            if epoch != epochs.get(arm, SEED_EPOCH):
                continue
            if replica == sums.replica:
                if join:
                    wanted.append((arm, replica))
                continue
            held = sums.others.get(arm, {}).get(replica)
            if held is None or (held.epoch, held.version) < (epoch, int(version)):
                wanted.append((arm, replica))
        if not new_bases and not wanted:
            return out
        pipe = client.pipeline(transaction=False)
        if new_bases:
            pipe.hmget(self.bases, new_bases)
        if wanted:
            pipe.hmget(self.parts, [self.field(a, r) for a, r in wanted])
        replies = pipe.execute()
        if new_bases:
            for arm, blob in zip(new_bases, replies.pop(0), strict=True):
                self._take_base(sums, arm, blob, out)
        if wanted:
            for (arm, replica), blob in zip(wanted, replies.pop(0), strict=True):
                try:
                    part = decode_part(blob)
                except CodecError as exc:
                    out.errors.append(f"{arm}: {exc}")
                    continue
                if replica == sums.replica:
                    sums.resume(arm, part)
                else:
                    sums.receive_part(arm, replica, part)
        return out

    @staticmethod
    def _take_base(sums: SharedSums, arm: str, blob: object, out: Pulled) -> None:
        if blob is None:
            return
        try:
            sums.receive_base(arm, decode_base(blob))
        except CodecError as exc:
            out.errors.append(f"{arm}: {exc}")
