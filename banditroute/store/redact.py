"""What of a prompt may be written to disk: the default hook masks things that look like secrets.

>>> from banditroute.store.redact import redact_secrets
>>> redact_secrets("use key sk-abcdefghijklmnopqrstuvwx and Bearer eyJhbGciOiJIUzI1NiJ9.abc")
'use key [REDACTED] and Bearer [REDACTED]'
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["Redactor", "drop_prompts", "redact_secrets"]

Redactor = Callable[[str], "str | None"]

_SECRET = re.compile(
    r"(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"  # OpenAI-style and similar keys
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]{16,}"  # bearer tokens
    r"|\b[A-Fa-f0-9]{40,}\b"  # long hex secrets
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
)


def redact_secrets(prompt: str) -> str:
    """The prompt with API keys, tokens and private keys replaced by ``[REDACTED]``."""
    return _SECRET.sub("[REDACTED]", prompt)


def drop_prompts(prompt: str) -> None:
    """A redactor that stores no prompt text at all (search then works on embeddings only)."""
    return None
