"""Reading a question's parameters out of its text: a time range, the model ids it names and
the kind of prompt it is about. No LLM: regular expressions over the lower-cased text.

>>> from datetime import datetime, timezone
>>> now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
>>> since, until, rest = time_range("best model for code last month", now)
>>> datetime.fromtimestamp(since, timezone.utc).date(), rest.split()
(datetime.date(2026, 10, 1), ['best', 'model', 'for', 'code'])
>>> named_models("claude-v2 vs gpt-3.5 on math", ["gpt-3.5-turbo-1106", "claude-v2", "math-s"])[0]
('claude-v2', 'gpt-3.5-turbo-1106')
>>> topic("which model is best for python code?")
'python code'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

__all__ = ["named_models", "time_range", "topic"]

_UNITS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_STOP = re.compile(
    r"\b(which|what|who|how|is|are|was|were|the|a|an|did|do|does|we|our|model|models|best|top|"
    r"decisions?|spend|spent|compare[sd]?|with|and|to|of|in|for|on|about|like|similar|show|me|"
    r"vs\.?|versus|against|degraded|cost|costs|router|routed|prompts? like|total|by|per|all|"
    r"overall|much|many)\b"
)
_DATE = r"(\d{4}-\d{2}-\d{2})"


def _month_start(day: datetime, back: int = 0) -> datetime:
    month = day.month - 1 - back
    return day.replace(
        year=day.year + month // 12, month=month % 12 + 1, day=1, hour=0, minute=0, second=0,
        microsecond=0,
    )  # fmt: skip


def time_range(text: str, now: datetime) -> tuple[float | None, float | None, str]:
    """(since, until, text without the time phrase)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = midnight - timedelta(days=midnight.weekday())
    fixed = {
        r"\btoday\b": (midnight, now),
        r"\byesterday\b": (midnight - timedelta(days=1), midnight),
        r"\bthis week\b": (monday, now),
        r"\blast week\b": (monday - timedelta(days=7), monday),
        r"\bthis month\b": (_month_start(now), now),
        r"\blast month\b": (_month_start(now, 1), _month_start(now)),
        r"\bthis year\b": (now.replace(month=1, day=1, hour=0, minute=0, second=0), now),
    }
    for pattern, (start, end) in fixed.items():
        if re.search(pattern, text):
            return start.timestamp(), end.timestamp(), re.sub(pattern, " ", text)
    span = re.search(r"\b(?:last|past|previous)\s+(\d+)\s+(hour|day|week|month|year)s?\b", text)
    if span:
        days = int(span.group(1)) * _UNITS[span.group(2)]
        return (
            (now - timedelta(days=days)).timestamp(),
            now.timestamp(),
            text.replace(span.group(0), " "),
        )
    between = re.search(rf"\bbetween\s+{_DATE}\s+and\s+{_DATE}", text)
    if between:
        start, end = (datetime.fromisoformat(g).replace(tzinfo=UTC) for g in between.groups())
        return (
            start.timestamp(),
            (end + timedelta(days=1)).timestamp(),
            text.replace(between.group(0), " "),
        )
    since = re.search(rf"\bsince\s+{_DATE}", text)
    if since:
        start = datetime.fromisoformat(since.group(1)).replace(tzinfo=UTC)
        return start.timestamp(), now.timestamp(), text.replace(since.group(0), " ")
    return None, None, text


def named_models(text: str, known: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """Known model ids named in the text, in order of mention.

    A mention is a whole id, the part after a provider prefix ("llama-2-70b-chat"), or a
    versioned prefix of an id ("gpt-3.5" for "gpt-3.5-turbo-1106"); a plain word such as
    "math" never stands for "math-s".
    """
    found: list[tuple[int, str]] = []
    rest = text
    tokens = set(re.findall(r"[a-z0-9][a-z0-9._/:-]*[a-z0-9]", text))
    for token in sorted(tokens, key=len, reverse=True):
        exact = [m for m in known if token in (m.lower(), m.lower().rsplit("/", 1)[-1])]
        versioned = bool(re.search(r"[-.:/]|\d", token)) and any(ch.isalpha() for ch in token)
        prefixed = sorted(
            (m for m in known if versioned and re.match(re.escape(token) + r"[-_./:]", m.lower())),
            key=len,
        )
        match = exact or prefixed
        if match:
            if match[0] not in (m for _, m in found):
                found.append((text.find(token), match[0]))
            rest = rest.replace(token, " ")
    return tuple(m for _, m in sorted(found)), rest


def topic(text: str) -> str | None:
    """The kind of prompt asked about: the words after the last 'for/on/about/like'."""
    preferred = re.search(r"\b(?:like|similar to)\s+(.+)$", text)
    match = preferred or re.search(r".*\b(?:for|on|about|in)\s+(.+)$", text)
    phrase = match.group(1) if match else text
    words = _STOP.sub(" ", re.sub(r"[?!.,;\"']", " ", phrase)).split()
    return " ".join(words) or None
