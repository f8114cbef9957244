"""Cheap, language-agnostic measurements of one (prompt, response) pair.

Every signal is a float; the evaluator turns them into completeness, relevance and coherence.
Long responses are measured on their first ``MAX_CHARS`` characters (a 1 MB response costs the
same as a 40 kB one), except the length itself.

>>> from banditroute.evaluation.signals import measure
>>> s = measure("List two prime numbers.", "Two prime numbers are 2 and 3.")
>>> s.words, s.ends_cleanly, s.refusal, round(s.coverage, 2)
(7, 1.0, 0.0, 1.0)
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import NamedTuple

__all__ = ["MAX_CHARS", "Signals", "measure"]

MAX_CHARS = 40_000

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。！？]+(?:\s|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_HEADER = re.compile(r"^#+ ", re.MULTILINE)
_SUMMARY = re.compile(r"\b(?:in summary|in conclusion|overall,|to summari[sz]e)", re.IGNORECASE)
_OPENER = re.compile(r"^(?:certainly|sure|of course|absolutely|great question)\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) (?:sorry|unable|not able)|i can(?:not|'t) (?:help|assist|provide|do)"
    r"|as an ai(?: language model)?|i(?: do not|'m not| am not) (?:able|comfortable))",
    re.IGNORECASE,
)
_BREVITY = re.compile(
    r"\b(?:brief(?:ly)?|short|concise(?:ly)?|one (?:word|sentence|line)|in \d+ words"
    r"|yes or no|single (?:word|sentence))\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    " ".join(
        [
            "about above after again also been before being below between both could does",
            "doing down during each from further have having here into itself just more most",
            "much must only other ought over same shall should some such than that their",
            "theirs them then there these they this those through under until very were what",
            "when where which while whom whose with would your yours please write give tell",
            "make explain describe provide list",
        ]
    ).split()
)


class Signals(NamedTuple):
    """Raw measurements; see `measure`."""

    words: int  #: words in the whole response
    brevity_asked: float  #: 1 if the prompt asks for a short answer
    ends_cleanly: float  #: 1 if the response ends like a finished text (not cut off)
    list_items: int  #: lines that start a list item
    paragraphs: int  #: blank-line separated blocks
    code_blocks: int  #: fenced code blocks
    coverage: float  #: share of the prompt's content words found in the response
    refusal: float  #: 1 if the response declines or talks about being an AI
    script_match: float  #: share of the response's letters in the prompt's main script
    distinct_trigrams: float  #: distinct / total word trigrams (1 = no repetition)
    clean_chars: float  #: share of printable, non-replacement characters
    words_per_sentence: float  #: mean sentence length in words
    chars: int  #: characters in the whole response
    numbered_items: int  #: lines that start a numbered item
    headers: int  #: markdown headers
    bold_spans: int  #: markdown ``**bold**`` spans
    line_breaks: int  #: newlines
    colons: int  #: colons (definitions, labelled steps)
    digit_share: float  #: share of characters that are digits
    closing_summary: float  #: 1 if it ends with a summary ("In conclusion", "Overall, ...")
    eager_opener: float  #: 1 if it opens with "Certainly", "Sure", "Of course", ...


_EMPTY = Signals(
    0, 0.0, 0.0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0
)


def _script(ch: str) -> str:
    """Coarse writing system of a letter (LATIN, CYRILLIC, CJK, ...)."""
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else "?"


def _main_script(text: str) -> tuple[str | None, dict[str, int]]:
    counts: dict[str, int] = {}
    for ch in text[:2000]:
        if ch.isalpha():
            script = _script(ch)
            counts[script] = counts.get(script, 0) + 1
    return (max(counts, key=counts.__getitem__) if counts else None), counts


def _content_words(text: str) -> set[str]:
    """Lower-cased words of ≥ 4 characters that are not stop words, cut to 6 characters (stems)."""
    return {w[:6] for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP}


def measure(prompt: str, response: str) -> Signals:
    """Measure a response to a prompt (both already validated as strings)."""
    words_all = _WORD.findall(response[:MAX_CHARS])
    n_words = len(words_all) if len(response) <= MAX_CHARS else len(_WORD.findall(response))
    text = response[:MAX_CHARS].strip()
    if not text:
        return _EMPTY._replace(
            brevity_asked=float(bool(_BREVITY.search(prompt))), chars=len(response)
        )
    wanted = _content_words(prompt)
    coverage = len(wanted & _content_words(text)) / len(wanted) if wanted else 1.0
    prompt_script, _ = _main_script(prompt)
    _, counts = _main_script(text)
    letters = sum(counts.values())
    script_match = (
        1.0 if prompt_script is None or not letters else counts.get(prompt_script, 0) / letters
    )
    lowered = [w.lower() for w in words_all]
    trigrams = list(zip(lowered, lowered[1:], lowered[2:], strict=False))
    distinct = len(set(trigrams)) / len(trigrams) if len(trigrams) >= 10 else 1.0
    clean = sum(ch.isprintable() or ch in "\n\t" for ch in text if ch != "\ufffd") / len(text)
    sentences = max(1, len(_SENTENCE_END.findall(text)))
    tail = text[-1]
    finished = tail in ".!?)]}\"'`*:;。！？»”’" or text.endswith("```") or len(words_all) < 4
    return Signals(
        words=n_words,
        brevity_asked=float(bool(_BREVITY.search(prompt))),
        ends_cleanly=float(finished),
        list_items=len(_LIST_ITEM.findall(text)),
        paragraphs=len([p for p in re.split(r"\n\s*\n", text) if p.strip()]),
        code_blocks=text.count("```") // 2,
        coverage=coverage,
        refusal=float(bool(_REFUSAL.search(text[:600]))),
        script_match=script_match,
        distinct_trigrams=distinct,
        clean_chars=clean,
        words_per_sentence=len(words_all) / sentences,
        chars=len(response),
        numbered_items=len(_NUMBERED.findall(text)),
        headers=len(_HEADER.findall(text)),
        bold_spans=text.count("**") // 2,
        line_breaks=text.count("\n"),
        colons=text.count(":"),
        digit_share=sum(ch.isdigit() for ch in text) / len(text),
        closing_summary=float(bool(_SUMMARY.search(text[-1500:]))),
        eager_opener=float(bool(_OPENER.match(text))),
    )


def sentence_shape(words_per_sentence: float) -> float:
    """1 for sentences of 4–40 words, falling off outside (run-ons, word salad, fragments)."""
    if words_per_sentence <= 0:
        return 0.0
    if words_per_sentence < 4:
        return words_per_sentence / 4
    return 1.0 if words_per_sentence <= 40 else math.exp(-(words_per_sentence - 40) / 60)
