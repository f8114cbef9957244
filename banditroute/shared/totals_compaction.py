"""Compaction of the per-replica totals: those of replicas gone quiet fold into a base total.

The hash ``ns:kind:totals`` (replica → ``"version|json"``) holds the totals that are not per
model (the pooled prior's quality sum and count; the estimator's calls, errors and latency). Its
``ns:kind:totals_seen`` twin records when each field was last written (Redis's clock, by
`PUT_TOTALS`). `compact_totals` folds the totals of every replica silent for ``retire_after_s``
into the hash ``ns:kind:totals_base``: ``seq`` (one more per fold), ``payload`` (the folded sum,
in the share's own format: `Share.fold_totals`) and ``f:replica`` → the version folded. The
`FOLD_TOTALS` script does it only when the base and every field read are unchanged, so of two
replicas compacting at once one folds and the other changes nothing, and a replica that wrote
meanwhile waits for the next round. Every replica adds the base to the totals it merges and
drops the folded ones it held, so the merged totals do not change.

A replica whose totals were folded keeps only what it added since the version folded
(`Share.forget_totals`, when it reads the fold): a push carries the last fold of its totals the
replica has accounted for (``ack``) and `PUT_TOTALS` refuses it when a later one exists; the
replica then reads the base, accounts for the fold and pushes again. A new process under a folded
replica's id starts its versions above the folded one. After Redis lost its data the base is
written back (`PUT_TOTALS_BASE`) with its record of what it folded, so totals written back by a
replica that had not seen the fold do not count twice.

>>> stale_replicas({"a": 100.0, "b": 5000.0}, 5000.0, 3600.0)
['a']
>>> TotalsBase.parse({b"seq": b"2", b"payload": b"[1.5, 3]", b"f:a": b"7"}).folded
{'a': 7}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import last_written, text

if TYPE_CHECKING:
    from .sums_store import SumsStore

__all__ = [
    "FOLD_TOTALS",
    "PUT_TOTALS",
    "PUT_TOTALS_BASE",
    "TotalsBase",
    "compact_totals",
    "stale_replicas",
]

#: KEYS: totals, totals_seen, totals_base. ARGV: replica, version, payload, ack (the last fold
#: of this replica's totals it has accounted for; -1: none). Stores "version|payload" and when
#: (Redis's clock) when the version is newer than the held one. Returns 1 (stored), 0 (a newer or
#: equal version is held) or -1 (refused: a fold of this replica's totals the push does not
#: account for, or that already holds this version).
PUT_TOTALS = """
local folded = tonumber(redis.call('HGET', KEYS[3], 'f:' .. ARGV[1]) or '-1')
if folded >= 0 and (tonumber(ARGV[2]) <= folded or tonumber(ARGV[4]) < folded) then
  return -1
end
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local version = tonumber(string.match(held, '^(%d+)|'))
  if version and version >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], redis.call('TIME')[1])
return 1
"""

#: KEYS: totals, totals_seen, totals_base. ARGV: the base's seq as read, the new payload, then
#: replica, "version|payload" pairs (as read). When the base and those fields are unchanged,
#: removes the fields, records their versions as folded and writes the new base. Returns 1 or 0.
FOLD_TOTALS = """
if tonumber(redis.call('HGET', KEYS[3], 'seq') or '0') ~= tonumber(ARGV[1]) then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then return 0 end
end
for i = 3, #ARGV, 2 do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('HSET', KEYS[3], 'f:' .. ARGV[i], string.match(ARGV[i + 1], '^(%d+)|'))
end
redis.call('HSET', KEYS[3], 'seq', tonumber(ARGV[1]) + 1, 'payload', ARGV[2])
return 1
"""

#: KEYS: totals, totals_seen, totals_base. ARGV: seq, payload, then replica, version folded
#: pairs. Writes a base back (after Redis lost its data) unless one as recent is held, and drops
#: the totals it folded that were written back before it. Returns 1 when written.
PUT_TOTALS_BASE = """
if tonumber(redis.call('HGET', KEYS[3], 'seq') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'seq', ARGV[1], 'payload', ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[3], 'f:' .. ARGV[i], ARGV[i + 1])
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if held and tonumber(string.match(held, '^(%d+)|') or '0') <= tonumber(ARGV[i + 1]) then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return 1
"""


@dataclass
class TotalsBase:
    """The folded totals of one kind: ``seq`` folds so far (0: none), their sum (``payload``,
    JSON in the share's format) and replica → the version of its totals folded last."""

    seq: int = 0
    payload: str | None = None
    folded: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[Any, Any]) -> TotalsBase:
        """From the hash as read (unreadable fields are left out)."""
        out = cls()
        for key, value in raw.items():
            name, field_value = text(key), text(value)
            if name == "seq" and field_value.isdigit():
                out.seq = int(field_value)
            elif name == "payload":
                out.payload = field_value
            elif name.startswith("f:") and field_value.isdigit():
                out.folded[name[2:]] = int(field_value)
        return out

    def args(self) -> list[str | int]:
        """`PUT_TOTALS_BASE`'s ARGV."""
        out: list[str | int] = [self.seq, self.payload or ""]
        for replica, version in sorted(self.folded.items()):
            out += [replica, version]
        return out


def stale_replicas(seen: Mapping[str, float], now: float, retire_after_s: float) -> list[str]:
    """The replicas (sorted) whose totals were last written more than ``retire_after_s``
    before ``now``."""
    return sorted(r for r, written in seen.items() if now - written > retire_after_s)


def compact_totals(
    store: SumsStore, fold: Callable[[str | None, list[str]], str], retire_after_s: float
) -> list[str]:
    """Fold the totals of every replica silent for ``retire_after_s`` into the base (see the
    module); ``fold(base payload, payloads)`` is their sum. Returns the replicas folded."""
    client = store.link.slow
    pipe = client.pipeline(transaction=True)  # one consistent view
    pipe.time()
    pipe.hgetall(store.totals)
    pipe.hgetall(store.totals_seen)
    pipe.hget(store.totals_base, "seq")
    pipe.hget(store.totals_base, "payload")
    now, totals_raw, seen_raw, seq, payload = pipe.execute()
    totals = {text(k): text(v) for k, v in totals_raw.items()}
    seen = last_written(client, store.totals_seen, totals.keys(), seen_raw, int(now[0]))
    stale = [r for r in stale_replicas(seen, float(now[0]), retire_after_s) if r in totals]
    stale = [r for r in stale if totals[r].partition("|")[0].isdigit()]
    if not stale:
        return []
    base_payload = None if payload is None else text(payload)
    new = fold(base_payload, [totals[r].partition("|")[2] for r in stale])
    args: list[str | int] = [0 if seq is None else int(text(seq)), new]
    for replica in stale:
        args += [replica, totals[replica]]
    keys = [store.totals, store.totals_seen, store.totals_base]
    return stale if store.fold_totals_script(keys, args) == 1 else []
