"""What of a prompt may be written to disk: the default hook masks things that look like secrets.

`redact_secrets` lives in `banditroute.text` (errors, state files and log records use it too);
see `banditroute.text.SECRET_FORMATS` for what it recognises.

>>> from banditroute.store.redact import redact_secrets
>>> redact_secrets("use key sk-abcdefghijklmnopqrstuvwx and Bearer eyJhbGciOiJIUzI1NiJ9.abc")
'use key [REDACTED] and Bearer [REDACTED]'
"""

from __future__ import annotations

from collections.abc import Callable

from ..text import redact_secrets

__all__ = ["Redactor", "drop_prompts", "redact_secrets"]

Redactor = Callable[[str], "str | None"]


def drop_prompts(prompt: str) -> None:
    """A redactor that stores no prompt text at all (search then works on embeddings only)."""
    return None
