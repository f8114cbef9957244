"""Bytes for Redis: a `Part` or `Base` as a one-line JSON header and the float64 sums after it.

What comes back from Redis is checked like any untrusted file: the header's fields and types,
the array's length against the header's dimension, finite values. `CodecError` says what is
wrong (the caller skips that value and reports it in the shared state's status). `text` reads a
reply as text; `last_written` reads (and keeps up to date) a hash of last-write times, the
clock both compactions judge a replica's silence by.

>>> import numpy as np
>>> from banditroute.policies.tracking import ArmStatistics
>>> from banditroute.shared.sums import Part
>>> part = Part((1, "a"), 7, 3, ArmStatistics(np.eye(2), np.ones(2), 3.0, 0.5))
>>> back = decode_part(encode_part(part))
>>> back.epoch, back.version, back.n, back.stats.gram.tolist(), back.stats.sse
((1, 'a'), 7, 3, [[1.0, 0.0], [0.0, 1.0]], 0.5)
>>> decode_part(b'{"k": "part"}\\n')
Traceback (most recent call last):
...
banditroute.shared.codec.CodecError: shared part: header lacks 'e'
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from ..errors import BanditRouteError
from ..policies.tracking import ArmStatistics
from .sums import Base, Epoch, Part

__all__ = [
    "CodecError",
    "decode_base",
    "decode_part",
    "encode_base",
    "encode_part",
    "last_written",
    "text",
]

MAX_DIM = 4096  #: largest context dimension accepted from the store


class CodecError(BanditRouteError, ValueError):
    """A value read from Redis is not what this version of banditroute writes."""


def text(value: object) -> str:
    """A Redis reply as text (bytes decoded as UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def last_written(
    client: Any, seen_key: str, present: Collection[str], seen_raw: Mapping[Any, Any], now: int
) -> dict[str, float]:
    """The last-write times (Redis's clock) of the fields in ``present``, read from the hash
    ``seen_key``: an entry written by an older version (no time) starts its clock at ``now``,
    a time whose entry is gone is removed."""
    seen: dict[str, float] = {}
    for k, v in seen_raw.items():
        try:
            seen[text(k)] = float(text(v))
        except ValueError:
            continue
    pipe = client.pipeline(transaction=False)
    for key in set(present) - seen.keys():
        pipe.hsetnx(seen_key, key, now)
    for key in seen.keys() - set(present):
        pipe.hdel(seen_key, key)
    pipe.execute()
    return seen


def _pack(header: dict[str, Any], stats: ArmStatistics) -> bytes:
    values = np.concatenate(
        [stats.gram.ravel(), stats.targets, np.array([stats.counts, stats.sse])]
    )
    head = json.dumps({**header, "d": int(stats.targets.size)}, separators=(",", ":"))
    return head.encode() + b"\n" + values.astype("<f8").tobytes()


def _unpack(kind: str, blob: object) -> tuple[dict[str, Any], ArmStatistics]:
    where = f"shared {kind}"
    if not isinstance(blob, bytes) or b"\n" not in blob:
        raise CodecError(f"{where}: not a banditroute value")
    head, body = blob.split(b"\n", 1)
    try:
        header = json.loads(head)
    except ValueError:
        raise CodecError(f"{where}: unreadable header") from None
    if not isinstance(header, dict) or header.get("k") != kind:
        raise CodecError(f"{where}: header is not a {kind}'s")
    for name in ("e", "d"):
        if name not in header:
            raise CodecError(f"{where}: header lacks {name!r}")
    d = header["d"]
    if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= MAX_DIM:
        raise CodecError(f"{where}: dimension {d!r:.20} out of range")
    if len(body) != 8 * (d * d + d + 2):
        raise CodecError(f"{where}: {len(body)} bytes of sums, expected {8 * (d * d + d + 2)}")
    values = np.frombuffer(body, dtype="<f8").astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise CodecError(f"{where}: sums that are not finite")
    gram = values[: d * d].reshape(d, d).copy()
    tail = values[d * d :]
    stats = ArmStatistics(gram, tail[:d].copy(), float(tail[d]), float(tail[d + 1]))
    return header, stats


def _epoch(kind: str, value: object) -> Epoch:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and value[0] >= 0
        and isinstance(value[1], str)
    ):
        return (value[0], value[1])
    raise CodecError(f"shared {kind}: epoch {value!r:.40} is not [sequence, replica]")


def _count(kind: str, name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise CodecError(f"shared {kind}: {name} {value!r:.20} is not an int >= 0")


def encode_part(part: Part) -> bytes:
    header = {"k": "part", "e": list(part.epoch), "v": part.version, "n": part.n}
    return _pack(header, part.stats)


def decode_part(blob: object) -> Part:
    header, stats = _unpack("part", blob)
    epoch = _epoch("part", header["e"])
    version = _count("part", "version", header.get("v"))
    return Part(epoch, version, _count("part", "n", header.get("n")), stats)


def encode_base(base: Base) -> bytes:
    header: dict[str, Any] = {"k": "base", "e": list(base.epoch), "pi": base.prior_intercept}
    if base.folded_from is not None:
        header["from"], header["f"] = list(base.folded_from), base.folded
        header["s"] = list(base.chain_start or base.folded_from)
    return _pack(header, base.stats)


def decode_base(blob: object) -> Base:
    header, stats = _unpack("base", blob)
    prior = header.get("pi")
    if not isinstance(prior, int | float) or isinstance(prior, bool) or not math.isfinite(prior):
        raise CodecError(f"shared base: prior intercept {prior!r:.20} is not a finite number")
    base = Base(_epoch("base", header["e"]), stats, float(prior))
    if "from" in header:  # a compaction's base
        base.folded_from = _epoch("base", header["from"])
        folded = header.get("f")
        if not isinstance(folded, dict):
            raise CodecError("shared base: folded parts are not a table")
        base.folded = {str(r): _count("base", "folded version", v) for r, v in folded.items()}
        base.chain_start = _epoch("base", header.get("s", header["from"]))
        if base.chain_start > base.folded_from:
            raise CodecError("shared base: compactions start after the epoch merged")
    return base
