"""Questions in plain English about the decision log, answered with a table and its evidence.

Five intents are recognised by keywords (no LLM): the best model for a kind of prompt, models
that degraded, spend (by model, optionally on a kind of prompt), a comparison of two models,
and decisions on prompts like a given text. Parameters come from the text: a time range
("today", "last month", "past 3 weeks", "since 2026-10-01"), model ids the log knows, and the
kind of prompt, which is embedded and matched to decisions by vector search. User text never
enters a filter string: filters hold only numbers and model ids taken from the log itself.

>>> from datetime import datetime, timezone
>>> from banditroute.store.ask import parse_question
>>> q = parse_question("How does claude-v2 compare with gpt-3.5 on code last month?",
...                    ["claude-v2", "gpt-3.5-turbo-1106", "gpt-4-1106-preview"],
...                    now=datetime(2026, 11, 22, tzinfo=timezone.utc))
>>> q.intent, q.models, q.topic, datetime.fromtimestamp(q.since, timezone.utc).date()
('compare', ('claude-v2', 'gpt-3.5-turbo-1106'), 'code', datetime.date(2026, 10, 1))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

import pandas as pd

from ..errors import invalid
from ..features import Embedder
from .decision_store import DecisionStore, quote
from .search import filtered_decisions, nearest_decisions, search_prompts

__all__ = ["Answer", "Question", "ask", "parse_question"]

Intent = Literal["best_model", "degraded", "spend", "compare", "similar"]

MAX_ROWS = 1_000_000  #: most rows aggregated by a question that names no kind of prompt

_INTENTS: list[tuple[Intent, re.Pattern[str]]] = [
    ("degraded", re.compile(r"\b(degrad\w*|drift\w*|got worse|regress\w*|deteriorat\w*)")),
    ("spend", re.compile(r"\b(spen[dt]\w*|costs?|paid|pay|bill\w*|budget)\b")),
    ("compare", re.compile(r"\b(compare[sd]?|comparison|versus|vs\.?|against|better than)\b")),
    ("best_model", re.compile(r"\b(best|top|strongest|recommend\w*|which models?|what model)\b")),
    ("similar", re.compile(r"\b(like|similar|about|decisions on)\b")),
]
_UNITS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_STOP = re.compile(
    r"\b(which|what|who|how|is|are|was|were|the|a|an|did|do|does|we|our|model|models|best|top|"
    r"decisions?|spend|spent|compare[sd]?|with|and|to|of|in|for|on|about|like|similar|show|me|"
    r"vs\.?|versus|against|degraded|cost|costs|router|routed|prompts? like|total|by|per|all|"
    r"overall|much|many)\b"
)
_DATE = r"(\d{4}-\d{2}-\d{2})"


class Question(NamedTuple):
    """A parsed question: what is asked and its parameters (times in seconds since the epoch)."""

    intent: Intent
    topic: str | None
    models: tuple[str, ...]
    since: float | None
    until: float | None


@dataclass(frozen=True)
class Answer:
    """A one-line summary, the table behind it, and the ids of the rows used as evidence."""

    question: Question
    summary: str
    table: pd.DataFrame = field(repr=False)
    evidence_ids: tuple[str, ...] = field(repr=False)

    def __str__(self) -> str:
        body = self.table.to_string(index=False) if len(self.table) else "(no rows)"
        return f"{self.summary}\n\n{body}\n\nevidence: {len(self.evidence_ids)} rows"


def _month_start(day: datetime, back: int = 0) -> datetime:
    month = day.month - 1 - back
    return day.replace(
        year=day.year + month // 12, month=month % 12 + 1, day=1, hour=0, minute=0, second=0,
        microsecond=0,
    )  # fmt: skip


def _time_range(text: str, now: datetime) -> tuple[float | None, float | None, str]:
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


def _models(text: str, known: Sequence[str]) -> tuple[tuple[str, ...], str]:
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


def _topic(text: str) -> str | None:
    """The kind of prompt asked about: the words after the last 'for/on/about/like'."""
    preferred = re.search(r"\b(?:like|similar to)\s+(.+)$", text)
    match = preferred or re.search(r".*\b(?:for|on|about|in)\s+(.+)$", text)
    phrase = match.group(1) if match else text
    words = _STOP.sub(" ", re.sub(r"[?!.,;\"']", " ", phrase)).split()
    return " ".join(words) or None


def parse_question(text: str, known_models: Sequence[str], now: datetime | None = None) -> Question:
    """Recognise the intent and extract its parameters."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("question", text, "a non-blank question")
    now = now or datetime.now(UTC)
    lowered = " ".join(text.lower().split())[:500]
    since, until, rest = _time_range(lowered, now)
    models, rest = _models(rest, known_models)
    intent: Intent = "similar"
    for name, pattern in _INTENTS:
        if pattern.search(rest) and (name != "compare" or len(models) >= 2):
            intent = name
            break
    if intent == "similar" and len(models) >= 2:
        intent = "compare"
    return Question(intent, _topic(rest), models, since, until)


def _where(q: Question, models: Sequence[str] = (), outcome: bool = True) -> str | None:
    parts = ["has_outcome = true"] if outcome else []
    if q.since is not None:
        parts.append(f"time >= {float(q.since)!r}")
    if q.until is not None:
        parts.append(f"time < {float(q.until)!r}")
    if models:
        parts.append(f"model IN ({', '.join(quote(m) for m in models)})")
    return " AND ".join(parts) or None


def _per_model(rows: pd.DataFrame, z: float = 1.645) -> pd.DataFrame:
    """n, mean quality, cost and latency per model, ranked by the lower 90% bound of the mean.

    The bound (mean − z·sd/√n, the sd shrunk toward the pooled one) keeps a model seen on a
    handful of lucky prompts from outranking one measured on hundreds: the log holds only the
    chosen model's outcome, so rarely chosen models have little evidence.
    """
    if rows.empty:
        return pd.DataFrame(columns=["model", "n", "quality", "quality_lower_90", "cost_usd"])
    pooled_var = float(rows["quality"].var(ddof=0)) if len(rows) > 1 else 0.25
    deviation = rows["quality"] - rows.groupby("model")["quality"].transform("mean")
    table = (
        rows.assign(squares=deviation**2)
        .groupby("model")
        .agg(
            n=("id", "size"),
            quality=("quality", "mean"),
            squares=("squares", "sum"),
            cost_usd=("cost_usd", "mean"),
            latency_ms=("latency_ms", "mean"),
        )
        .reset_index()
    )
    variance = (table["squares"] + 2 * pooled_var) / (table["n"] - 1 + 2)
    table["quality_lower_90"] = table["quality"] - z * (variance / table["n"]) ** 0.5
    table = table.drop(columns="squares")[
        ["model", "n", "quality", "quality_lower_90", "cost_usd", "latency_ms"]
    ]
    return table.sort_values("quality_lower_90", ascending=False).reset_index(drop=True)


def _span(q: Question) -> str:
    if q.since is None:
        return "over the whole log"
    start = datetime.fromtimestamp(q.since, UTC).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(q.until or q.since, UTC).strftime("%Y-%m-%d %H:%M")
    return f"from {start} to {end} UTC"


def ask(
    store: DecisionStore,
    question: str,
    embedder: Embedder,
    *,
    now: datetime | None = None,
    evidence: int = 300,
) -> Answer:
    """Answer a question from the decision log (see the module docstring for what is understood).

    ``evidence`` is how many decisions nearest to the asked-about kind of prompt are used.
    """
    store.flush()
    q = parse_question(question, store.models(), now)
    topic_vector = None if q.topic is None else embedder.embed([q.topic])[0]
    on = f" on '{q.topic}'" if q.topic else ""

    if q.intent == "degraded":
        return _degraded(store, q)
    if q.intent == "similar":
        if q.topic is None:
            return Answer(q, "Say what the prompts are like.", pd.DataFrame(), ())
        rows = search_prompts(
            store,
            q.topic,
            embedder,
            "hybrid" if _has_fts(store) else "vector",
            20,
            _where(q, outcome=False),
        )
        return Answer(
            q, f"{len(rows)} decisions on prompts like '{q.topic}' {_span(q)}.", rows,
            tuple(rows["id"]),
        )  # fmt: skip
    if q.intent == "compare" and len(q.models) < 2:
        known = ", ".join(store.models()) or "none yet"
        return Answer(q, f"Name two models to compare (known: {known}).", pd.DataFrame(), ())

    models = q.models if q.intent == "compare" else ()
    where = _where(q, models)
    if topic_vector is not None:
        rows = nearest_decisions(store, topic_vector, evidence, where)
    else:
        rows = filtered_decisions(store, where, limit=MAX_ROWS)  # no kind of prompt: all rows
    table = _per_model(rows)
    ids = tuple(rows["id"])
    if table.empty:
        return Answer(q, f"No decisions with outcomes{on} {_span(q)}.", table, ids)
    if q.intent == "spend":
        spend = rows.groupby("model")["cost_usd"].agg(["size", "sum"]).reset_index()
        spend.columns = ["model", "n", "spend_usd"]
        spend = spend.sort_values("spend_usd", ascending=False)
        scope = f"the {len(rows)} decisions nearest to '{q.topic}'" if q.topic else "all decisions"
        total = float(spend["spend_usd"].sum())
        return Answer(q, f"Spend on {scope} {_span(q)}: ${total:.4f}.", spend, ids)
    top = table.iloc[0]
    if q.intent == "compare":
        a, b = (table[table["model"] == m] for m in q.models[:2])
        parts = [
            f"{m}: quality {t['quality'].iloc[0]:.3f} over {int(t['n'].iloc[0])} decisions"
            if len(t)
            else f"{m}: no decisions"
            for m, t in zip(q.models[:2], (a, b), strict=True)
        ]
        return Answer(q, f"{'; '.join(parts)}{on} {_span(q)}.", table, ids)
    return Answer(
        q,
        f"Best{on}: {top['model']} (quality {top['quality']:.3f}, lower 90% bound "
        f"{top['quality_lower_90']:.3f}, over {int(top['n'])} of the {len(rows)} nearest "
        f"decisions) {_span(q)}.",
        table,
        ids,
    )


def _has_fts(store: DecisionStore) -> bool:
    return any(i.index_type == "FTS" for i in store.table("decisions").list_indices())


def _degraded(store: DecisionStore, q: Question) -> Answer:
    if not store.has_table("drift"):
        return Answer(q, f"No drift events recorded {_span(q)}.", pd.DataFrame(), ())
    where = _where(q, q.models, outcome=False)
    query = store.table("drift").search().limit(10_000)
    events = (query.where(where) if where else query).to_pandas()
    if events.empty:
        return Answer(q, f"No model degraded {_span(q)}.", events, ())
    events = events.sort_values("time")
    events["when"] = pd.to_datetime(events["time"], unit="s", utc=True).dt.strftime(
        "%Y-%m-%d %H:%M"
    )
    names = ", ".join(
        f"{m} ({', '.join(sorted(set(g['signal'])))})" for m, g in events.groupby("model")
    )
    table = events[["when", "model", "signal", "mean_before", "mean_after", "step", "id"]]
    return Answer(q, f"Degraded {_span(q)}: {names}.", table, tuple(events["id"]))
