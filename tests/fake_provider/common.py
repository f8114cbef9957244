"""Names shared by the fake provider's modules: the API names, finish kinds and token count.

>>> fake_tokens("abcdefgh"), ECHO_LIMIT
(2, 200)
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CREATED", "ECHO_LIMIT", "Api", "Events", "Finish", "fake_tokens"]

Api = Literal["openai", "anthropic", "gemini"]
Finish = Literal["stop", "length", "tool"]
Events = list[tuple[str | None, str]]  # (SSE event name or None, data line)

ECHO_LIMIT = 200  # characters of the last user message echoed back
CREATED = 1_700_000_000  # fixed "created" timestamp, so answers are deterministic


def fake_tokens(text: str) -> int:
    """Tokens the fake provider counts for ``text``: ceil(characters / 4).

    >>> fake_tokens(""), fake_tokens("abcd"), fake_tokens("abcde")
    (0, 1, 2)
    """
    return (len(text) + 3) // 4
