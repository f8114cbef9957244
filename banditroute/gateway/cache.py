"""Exact response cache: a normalised request key and an in-memory LRU with a time-to-live.

`request_key` hashes what decides an answer (roles, contents with whitespace runs collapsed,
the model, the sorted parameters) so that requests that differ only in spacing or parameter
order share one key. Only deterministic requests should be cached: the gateway skips the cache
when `is_deterministic` is False (sampling, temperature > 0 or left to the provider's default)
unless the user opts in. The semantic cache is in `banditroute.gateway.semantic_cache`.

>>> from banditroute.gateway.cache import CachedResponse, ExactCache, request_key
>>> key = request_key([{"role": "user", "content": "Sort  a list "}], "m1", {"temperature": 0})
>>> key == request_key([{"role": "user", "content": "Sort a list"}], "m1", {"temperature": 0.0})
True
>>> cache = ExactCache(max_entries=100, ttl_s=60.0, clock=lambda: 0.0)
>>> cache.put(key, CachedResponse("sorted(xs)", "m1", 0.0, 9, 4))
>>> cache.get(key).text, cache.get("other"), cache.stats.hits, cache.stats.misses
('sorted(xs)', None, 1, 1)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import check_callable, check_number, invalid

__all__ = [
    "ANY_MODEL",
    "CacheStats",
    "CachedResponse",
    "ExactCache",
    "is_deterministic",
    "normalize_text",
    "request_key",
]

ANY_MODEL = "*"  #: the model part of a key made with ``model=None`` (an answer from any model)
_KEY_VERSION = "banditroute-request-key-v1"  # change when the normalisation changes
_SPACE_RUN = re.compile(r"\s+")
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """What a cache returns: the answer's text and usage, without the provider's full response.

    Attributes
    ----------
    text : str
        The answer.
    model : str
        The model that produced it.
    created : float
        When it was produced (the cache's clock, seconds).
    input_tokens, output_tokens : int or None
        Usage reported by the provider, if any.
    payload : str
        Opaque JSON the gateway may attach (tool calls, finish reason); the cache never reads it.
    """

    text: str
    model: str
    created: float
    input_tokens: int | None
    output_tokens: int | None
    payload: str = ""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of a cache since it was made (a snapshot)."""

    hits: int = 0
    misses: int = 0  #: lookups that found nothing, or only an expired entry
    evictions: int = 0  #: entries dropped to stay within ``max_entries``
    expirations: int = 0  #: entries found expired and dropped
    size: int = 0  #: entries held now

    @property
    def hit_rate(self) -> float:
        """hits / lookups (0 before any lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def normalize_text(text: str) -> str:
    r"""Unicode NFC, whitespace runs collapsed (to one newline when the run breaks a line, else
    to one space), ends stripped.

    >>> normalize_text("  Sort\t a   list \n\n  ascending. ")
    'Sort a list\nascending.'
    """
    text = unicodedata.normalize("NFC", text)
    return _SPACE_RUN.sub(_collapse, text).strip()


def _collapse(match: re.Match[str]) -> str:
    return "\n" if _LINE_BREAK.search(match.group()) else " "


def _canonical(value: object, where: str) -> object:
    """A JSON-ready copy of ``value``: strings normalised, integral floats as ints, keys sorted."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise invalid(where, value, "a finite number")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, bytes | bytearray):
        raise invalid(where, value, "text (str), not bytes")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(items)]
    raise invalid(where, value, "JSON-like (str, number, bool, None, list or mapping)")


def request_key(
    messages: Sequence[Mapping[str, object]],
    model: str | None,
    params: Mapping[str, object],
) -> str:
    """Stable hex key (blake2b, 32 characters) of a normalised chat request.

    Roles are stripped and lower-cased; every string in a message (its text content, text parts)
    has its whitespace runs collapsed (`normalize_text`); parameters are sorted, integral floats
    written as ints (``temperature=0`` and ``0.0`` match) and parameters set to None dropped;
    ``model=None`` gives an any-model key. The hash covers canonical JSON, so the key does not
    depend on dict order. Raises `InvalidInput` for values that are not JSON-like or not finite.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise invalid("messages", messages, "a sequence of message mappings")
    normal: list[object] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise invalid(f"messages[{i}]", message, "a mapping with role and content")
        entry = _canonical(message, f"messages[{i}]")
        assert isinstance(entry, dict)
        role = message.get("role")
        entry["role"] = role.strip().lower() if isinstance(role, str) else role
        normal.append(entry)
    if model is not None and not isinstance(model, str):
        raise invalid("model", model, "a str or None")
    kept = {str(k): v for k, v in params.items() if v is not None}
    body = {
        "v": _KEY_VERSION,
        "model": ANY_MODEL if model is None else model.strip(),
        "messages": normal,
        "params": _canonical(kept, "params"),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def is_deterministic(params: Mapping[str, object]) -> bool:
    """Whether a request asks for a reproducible answer: ``temperature`` given and 0, one choice.

    A missing temperature means the provider's default (1.0 for OpenAI, Anthropic and Gemini),
    so such requests are not deterministic. The gateway caches only deterministic requests unless
    the user opts in.

    >>> is_deterministic({"temperature": 0}), is_deterministic({}), is_deterministic(
    ...     {"temperature": 0.0, "n": 2})
    (True, False, False)
    """
    temperature = params.get("temperature")
    choices = params.get("n", 1)
    return (
        isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
        and temperature == 0
        and choices in (1, None)
    )


class ExactCache:
    """In-memory LRU of `CachedResponse` by `request_key`, with a time-to-live; thread-safe.

    Parameters
    ----------
    max_entries : int
        Size bound; the least recently used entry is evicted past it.
    ttl_s : float or None
        Seconds an entry stays valid after `put` (None: until evicted).
    clock : callable
        Seconds now (``time.time``); inject a fake one in tests.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_s: float | None = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise invalid("max_entries", max_entries, "an int >= 1")
        self.max_entries = max_entries
        self.ttl_s = None if ttl_s is None else check_number("ttl_s", ttl_s, 0, above=True)
        self.clock = check_callable("clock", clock)
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = self._expirations = 0

    def get(self, key: str) -> CachedResponse | None:
        """The response stored under ``key`` if present and not expired, else None."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            if entry[0] <= now:
                del self._entries[key]
                self._expirations += 1
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]

    def put(self, key: str, value: CachedResponse) -> None:
        """Store ``value`` under ``key`` (replacing any), evicting the least recently used."""
        if not isinstance(value, CachedResponse):
            raise invalid("value", value, "a CachedResponse")
        expires = math.inf if self.ttl_s is None else self.clock() + self.ttl_s
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evictions += 1

    def discard(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._evictions, self._expirations, len(self._entries)
            )

    def __repr__(self) -> str:
        return f"ExactCache(max_entries={self.max_entries}, ttl_s={self.ttl_s}, size={len(self)})"
