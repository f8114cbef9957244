"""Compaction: the parts of replicas gone quiet are merged into their model's base.

A part stays in Redis until its model's epoch changes, so without compaction the parts hash
(and every pull) would grow with every replica that ever ran. `compact` finds the models with a
part not written for ``retire_after_s`` (Redis's clock) and, for each, merges every part of the
model's current epoch into a new base (γᴺ·base + Σ parts: what every replica composes) and
starts a new epoch from it. The `COMPACT` script does that atomically, and only when the model
is still in that epoch with exactly the parts that were read, at the same versions: of two
replicas compacting at once one merges, the other changes nothing; a part written meanwhile
(a replica coming back) makes the compaction wait for the next round.

Replicas adopt the new base like a restart's, except for their own part: a replica whose part
was merged keeps what it learned since the version merged (`SharedSums` ``_carry_own``), so a
replica that was quiet for long and comes back counts nothing twice and loses nothing.

>>> stale_models({"m\\x1fa": "0||3", "m\\x1fb": "0||5", "n\\x1fa": "0||1"},
...              {"m\\x1fa": 100.0, "m\\x1fb": 5000.0, "n\\x1fa": 4000.0}, 5000.0, 3600.0)
['m']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .codec import CodecError, decode_base, decode_part, encode_base, last_written, text
from .sums import SEED_EPOCH, Base, Part, SharedSums, merge
from .sums_store import SEP, SumsStore, epoch_text, parse_epoch

__all__ = ["compact", "stale_models"]


def stale_models(
    index: Mapping[str, str], seen: Mapping[str, float], now: float, retire_after_s: float
) -> list[str]:
    """The models (sorted) with a part last written more than ``retire_after_s`` before
    ``now``; a part without a time (written by an older version) is not stale yet."""
    models = set()
    for key in index:
        written = seen.get(key)
        if written is not None and now - written > retire_after_s:
            models.add(key.rpartition(SEP)[0])
    return sorted(models)


def compact(
    store: SumsStore, sums: SharedSums, retire_after_s: float, prior_intercept: float
) -> list[str]:
    """Compact every model with a stale part (see the module); returns those compacted.

    ``prior_intercept`` is this replica's current prior intercept: the new base's, for a model
    that has no base in Redis (its prior then counts in the base).
    """
    client = store.link.slow
    pipe = client.pipeline(transaction=True)
    pipe.time()
    pipe.hgetall(store.index)
    pipe.hgetall(store.seen)
    now, index_raw, seen_raw = pipe.execute()
    index = {text(k): text(v) for k, v in index_raw.items()}
    seen = last_written(client, store.seen, index.keys(), seen_raw, int(now[0]))
    done = []
    for arm in stale_models(index, seen, float(now[0]), retire_after_s):
        if _compact_model(store, sums, arm, prior_intercept):
            done.append(arm)
    return done


def _compact_model(store: SumsStore, sums: SharedSums, arm: str, prior_intercept: float) -> bool:
    client = store.link.slow
    keys = [k for k in map(text, client.hkeys(store.index)) if k.rpartition(SEP)[0] == arm]
    if not keys:
        return False
    pipe = client.pipeline(transaction=True)  # one consistent view of the model
    pipe.hget(store.epochs, arm)
    pipe.hget(store.bases, arm)
    pipe.hmget(store.index, keys)
    pipe.hmget(store.parts, keys)
    replies: list[Any] = pipe.execute()
    epoch = SEED_EPOCH if replies[0] is None else parse_epoch(text(replies[0]))
    parts: dict[str, Part] = {}
    expected: list[str] = []
    for key, value, blob in zip(keys, replies[2], replies[3], strict=True):
        if value is None or blob is None:
            return False  # changed meanwhile: the next round sees it
        try:
            part = decode_part(blob)
        except CodecError:
            return False  # not merged: the pull reports it
        if part.epoch != epoch or not sums.fits(part.stats):
            return False
        parts[key.rpartition(SEP)[2]] = part
        expected += [key, text(value)]
    dims = {p.stats.targets.size for p in parts.values()}
    base = None
    if replies[1] is not None:
        try:
            base = decode_base(replies[1])
        except CodecError:
            return False
        dims.add(base.stats.targets.size)
        if base.epoch != epoch:
            return False
    if len(dims) != 1:
        return False
    if base is None:
        base = Base(epoch, sums.prior(dims.pop(), prior_intercept), prior_intercept)
    new = Base(
        (epoch[0] + 1, sums.replica),
        merge(base.stats, parts, sums.discount),
        base.prior_intercept,
        folded_from=epoch,
        folded={replica: part.version for replica, part in parts.items()},
        chain_start=(base.chain_start or epoch) if base.folded_from is not None else epoch,
    )
    args: list[str | int | bytes] = [arm, epoch_text(epoch), *new.epoch, encode_base(new)]
    keys_ = [store.epochs, store.bases, store.parts, store.index, store.seen]
    return bool(store.compact_script(keys_, [*args, *expected]) == 1)
