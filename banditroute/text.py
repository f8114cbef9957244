"""Text at the boundary: one policy for odd Unicode (`clean_text`) and one redactor for secrets.

Unicode: every text the library takes in (prompts, responses, error strings, questions, chat
messages) goes through `clean_text`, which raises `InvalidInput` for a non-string and otherwise
*replaces* what cannot be encoded as UTF-8 (lone UTF-16 surrogates) by U+FFFD, after joining
surrogate pairs into the character they encode. NUL and other control characters are valid
Unicode and are kept as they are.

Secrets: every free text the library writes (decision-log rows, state files, error messages,
log records) goes through `redact_secrets` (`scrub` for nested values), which replaces API keys,
tokens, private keys and passwords by ``[REDACTED]`` (see `SECRET_FORMATS`).

>>> from banditroute.text import clean_text, redact_secrets
>>> clean_text("caf\\u00e9 \\ud800!", "prompt")
'café �!'
>>> redact_secrets("export OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t and go")
'export OPENAI_API_KEY=[REDACTED] and go'
>>> redact_secrets("postgres://app:hunter2@db.internal:5432/main")
'postgres://app:[REDACTED]@db.internal:5432/main'
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any, NamedTuple, TypeVar

from .errors import invalid

__all__ = [
    "REDACTED",
    "SECRET_FORMATS",
    "SecretFormat",
    "SecretsFilter",
    "clean_text",
    "library_logger",
    "redact_secrets",
    "scrub",
]

REDACTED = "[REDACTED]"

_T = TypeVar("_T")


def clean_text(value: object, name: str) -> str:
    """``value`` as a plain ``str`` that encodes as UTF-8; `InvalidInput` naming ``name`` if it
    is not a string.

    Surrogate pairs become the character they encode; lone surrogates become U+FFFD.

    >>> clean_text("\\ud83d\\ude00 ok", "response") == "\\U0001F600 ok"
    True
    >>> clean_text(b"bytes", "prompt")
    Traceback (most recent call last):
    ...
    banditroute.errors.InvalidInput: prompt == b'bytes', must be a str
    """
    if not isinstance(value, str):
        raise invalid(name, value, "a str")
    text = str.__str__(value)  # a plain str, whatever subclass came in
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        utf16 = text.encode("utf-16-le", "surrogatepass")
        return utf16.decode("utf-16-le", "replace")
    return text


# -- secrets --------------------------------------------------------------------------------
_WORD_START = r"(?:(?<![A-Za-z0-9])|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]))"
_KEY_NAMES = (
    r"api[_-]?(?:key|token|secret)|apikey|access[_-]?(?:key(?:[_-]?id)?|token)"
    r"|secret(?:[_-]?(?:access[_-]?)?key)?|client[_-]?secret"
    r"|(?:account|shared[_-]?access|subscription|master|private|signing|encryption)[_-]?key"
    r"(?:[_-]?id)?|shared[_-]?access[_-]?signature|(?:auth|refresh|id|session|security)[_-]?token"
    r"|token|passw(?:or)?d|pwd|credentials?|sig(?:nature)?"
)
_VALUE = r"[^\s\"',;&<>(){}\[\]\\]"  # an unquoted value runs to a separator
_B64 = r"[A-Za-z0-9/+]"
_SEP = r"(?:\s|\\++[nr])"  # a line break, also escaped (JSON, repr)
_PREFIXED = (
    r"(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), ...
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}"  # Stripe
    r"|(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA|A3T[A-Z0-9])[A-Z0-9]{16}"
    r"|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[A-Za-z0-9_-]{20,}"  # Google
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?=[A-Za-z0-9_-]*[0-9])(?:gsk|hf|r8|glpat|npm|pplx|xai|nvapi|sk_or|shp(?:at|ca|pa|ss))"
    r"[_-][A-Za-z0-9_-]{20,}"  # Groq, Hugging Face, Replicate, GitLab, npm, Perplexity, xAI, ...
    r"|key-[0-9a-f]{32}"  # Mailgun
)


class SecretFormat(NamedTuple):
    """One kind of secret: what it is, words one of which the text must hold (lower-case; a
    cheap test before the pattern runs) and the pattern (its ``keep`` group is kept)."""

    what: str
    triggers: tuple[str, ...]
    pattern: re.Pattern[str]


_TRIGGERS = {
    "PEM": ("-----begin",),
    "password in a URL": ("://",),
    "JWT": ("eyj",),
    "provider key": (
        *("sk-", "sk_", "rk-", "rk_", "pk-", "pk_", "whsec_", "a3t", "akia", "asia", "abia"),
        *("acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka", "asca", "aiza"),
        *("ya29.", "gocspx-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox"),
        *("xapp-", "gsk", "hf", "r8", "glpat", "npm", "pplx", "xai", "nvapi", "shp", "key-"),
    ),
    "Slack or Discord": ("hooks.slack.com/", "/api/webhooks/"),
    "value of a key": ("key", "token", "secret", "pass", "pwd", "credential", "sig"),
    "40-character": ("=", ":"),
    "Authorization": ("authorization",),
    "bearer": ("bearer",),
    "basic": ("basic",),
}

#: The formats in the order applied.
SECRET_FORMATS: tuple[SecretFormat, ...] = tuple(
    SecretFormat(what, next(t for k, t in _TRIGGERS.items() if what.startswith(k)), re.compile(p))
    for what, p in (
        (
            "PEM private key (to its END line; unterminated: its header and key lines)",
            rf"-----BEGIN[A-Z0-9 ]{{0,40}}PRIVATE KEY(?: BLOCK)?-----"
            rf"(?:{_SEP}*+(?:{_B64}{{16,}}+=*+|[A-Za-z-]{{1,40}}:[^\n\\\"]*+"
            rf"|[A-Za-z0-9+/=]{{1,15}}+(?={_SEP}*-----END)))*+{_SEP}*+"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
        ),
        (
            "password in a URL (scheme://user:password@host)",
            r"(?P<keep>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\"']{0,256}:)"
            r"[^\s/?#@\"']{1,256}(?=@)",
        ),
        ("JWT", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{6,}+\.[A-Za-z0-9_-]{6,}+\.[A-Za-z0-9_-]*+"),
        ("provider key or token", rf"(?<![A-Za-z0-9_-])(?:{_PREFIXED})(?![A-Za-z0-9])"),
        (
            "Slack or Discord webhook URL",
            r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"|discord(?:app)?\.com/api/webhooks/)[A-Za-z0-9/_-]+",
        ),
        (
            'value of a key, token, secret or password field (key=..., "api_key": "...")',
            rf"(?P<keep>{_WORD_START}(?i:{_KEY_NAMES})[\"']?\s*(?:=>|[:=])\s*)"
            rf"(?P<value>\"[^\"\s]{{6,}}\"|'[^'\s]{{6,}}'|(?={_VALUE}{{0,256}}?[0-9]){_VALUE}{{6,}}+)",
        ),
        (
            "40-character secret (AWS secret access key) as a value after = or :",
            rf"(?P<keep>[=:]\s*[\"']?)(?<!{_B64})(?={_B64}{{0,39}}[A-Z])(?={_B64}{{0,39}}[a-z])"
            rf"(?={_B64}{{0,39}}[0-9]){_B64}{{40}}(?![A-Za-z0-9/+=])",
        ),
        (
            "Authorization header value",
            r"(?P<keep>(?i:\b(?:proxy-)?authorization)[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?i:bearer|basic|digest|token|negotiate|ntlm|apikey|sso-key|key)\s+)?)"
            r"(?!(?i:bearer|basic|digest|token)\b)[^\s\"',;]{8,}",
        ),
        (
            "bearer token",
            r"(?P<keep>(?i:\bbearer)\s+)"
            r"(?:(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{12,}|[A-Za-z]{24,})",
        ),
        ("basic auth credentials", r"(?P<keep>(?i:\bbasic)\s+)(?P<basic>[A-Za-z0-9+/]{6,}={0,2})"),
    )
)


def _looks_like_basic(token: str) -> bool:
    """Whether a word after ``Basic`` is credentials (base64 of ``user:password``)."""
    if re.search(r"[0-9+/=]", token):
        return True
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and decoded.isascii()


def _replace(match: re.Match[str]) -> str:
    groups = match.groupdict()
    keep = groups.get("keep") or ""
    if groups.get("basic") is not None and not _looks_like_basic(groups["basic"]):
        return match.group(0)
    value = groups.get("value")
    if value and value[0] in "\"'":
        return keep + value[0] + REDACTED + value[0]
    return keep + REDACTED


def redact_secrets(text: str) -> str:
    """``text`` with API keys, tokens, private keys and passwords replaced by ``[REDACTED]``.

    Covered: OpenAI / Anthropic / Stripe / GitHub / Slack / Google / AWS / Groq / Hugging Face
    and similar prefixed keys, AWS secret keys after ``=`` or ``:``, JWTs, bearer and basic
    credentials, ``Authorization`` headers, PEM private keys (with or without their END line),
    passwords in URLs, Slack and Discord webhooks, and the value of any field named like a key,
    token, secret or password (``api-key: ...``, ``AccountKey=...``, ``"password": "..."``).

    >>> redact_secrets("authorization: bearer abc123def456ghi789; the bearer of bad news")
    'authorization: bearer [REDACTED]; the bearer of bad news'
    """
    if len(text) < 7:  # "a://:p@" is the shortest text any pattern matches
        return text
    lowered = text.lower()  # "[REDACTED]" holds no trigger: one lower-casing serves every rule
    for _, triggers, pattern in SECRET_FORMATS:
        for trigger in triggers:
            if trigger in lowered:
                text = pattern.sub(_replace, text)
                break
    return text


def scrub(value: _T) -> _T:
    """``value`` with every string in it (nested in lists, tuples, sets and dicts, keys too) cleaned
    (`clean_text`) and redacted (`redact_secrets`); other values are returned as they are.

    >>> scrub({"deny_models": ["gpt-x", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm"], "n": 2})
    {'deny_models': ['gpt-x', '[REDACTED]'], 'n': 2}
    """
    return _scrub(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(clean_text(value, "text"))
    if type(value) in (list, tuple, set, frozenset):  # exact types: subclasses are left alone
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


# -- logging --------------------------------------------------------------------------------
class SecretsFilter(logging.Filter):
    """A logging filter that redacts each record's message and traceback (and cleans their
    Unicode) before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is logging's to report, not ours
            return True
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:  # handlers reuse exc_text when it is set
            record.exc_text = scrub(_FORMATTER.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FORMATTER = logging.Formatter()


_FILTER = SecretsFilter()


def library_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with `SecretsFilter` attached: what banditroute logs through.

    >>> library_logger("banditroute.example").filters[0].__class__.__name__
    'SecretsFilter'
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
