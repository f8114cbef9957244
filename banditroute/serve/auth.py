"""Service keys: callers send ``Authorization: Bearer <key>``; only SHA-256 digests of the keys
are configured, compared in constant time; a key is never logged or kept.

A server bound to a loopback address with no keys configured lets every caller in; a server
bound elsewhere refuses to start without keys (`check_exposure`).

>>> keys = ServiceKeys([hash_key("s3cret")])
>>> keys.allows("Bearer s3cret"), keys.allows("Bearer guess"), keys.allows(None)
(True, False, False)
>>> ServiceKeys([]).allows(None), is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
(True, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

from ..errors import InvalidInput

__all__ = ["ServiceKeys", "check_exposure", "hash_key", "is_loopback"]


def hash_key(key: str) -> str:
    """The SHA-256 hex digest of a service key: what the configuration holds.

    >>> hash_key("test")
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, hashes: Iterable[str]) -> None:
    """`InvalidInput` when a server would listen beyond loopback with no service key."""
    if not is_loopback(host) and not list(hashes):
        raise InvalidInput(
            f"serving on {host} needs service keys: set [serve] service_key_hashes or "
            "BANDITROUTE_SERVICE_KEYS (SHA-256 hex digests), or bind 127.0.0.1"
        )


class ServiceKeys:
    """The configured digests; `allows` checks an ``Authorization`` header against them.

    Parameters
    ----------
    hashes : iterable of str
        SHA-256 hex digests; none means no key is required (loopback only, see
        `check_exposure`).
    """

    def __init__(self, hashes: Iterable[str]) -> None:
        self._digests = tuple(bytes.fromhex(h) for h in hashes)

    def __repr__(self) -> str:
        return f"ServiceKeys({len(self._digests)} key(s))"

    @property
    def required(self) -> bool:
        """True when callers must present a key."""
        return bool(self._digests)

    def allows(self, authorization: str | None) -> bool:
        """True when no key is required, or the header carries one of the keys."""
        if not self._digests:
            return True
        if not authorization:
            return False
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        presented = hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).digest()
        found = False
        for digest in self._digests:  # every digest compared: time does not tell which matched
            found |= hmac.compare_digest(presented, digest)
        return found
