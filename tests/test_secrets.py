"""Secrets never reach disk, error messages or log records; ordinary text is left alone.

Every fake secret below is generated (deterministic, random-looking) in the shape a provider
issues; each must vanish from `redact_secrets`, from decision-log rows (prompt, constraints,
outcome error, drift event, gateway call), from `InvalidInput` messages, from a saved state file
and from log records. Non-secrets (code, hashes, UUIDs, prose) must come out unchanged; the few
known false positives are listed and pinned so that a change in them is noticed.
"""

from __future__ import annotations

import base64
import logging
import random
import string
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import banditroute.evaluation.judge
import banditroute.gateway.budget
import banditroute.store.retry  # noqa: F401  (modules with the library's loggers)
from banditroute import Constraints, Engine, HashingEmbedder
from banditroute.drift import DriftEvent
from banditroute.errors import BanditRouteError, InvalidInput, invalid
from banditroute.feedback_input import FeedbackInput
from banditroute.state import read_state
from banditroute.store import DecisionStore, redact_secrets
from banditroute.store.call_record import CallAttempt, CallRecord
from banditroute.text import library_logger, scrub
from tests.conftest import make_model

_rng = random.Random(20261122)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    """Random characters that contain at least one digit, one upper and one lower letter when
    the alphabet has them (as real keys practically always do)."""
    while True:
        text = "".join(_rng.choice(alphabet) for _ in range(n))
        kinds = [set(k) & set(alphabet) for k in (string.digits, string.ascii_uppercase)]
        kinds.append(set(string.ascii_lowercase) & set(alphabet))
        if all(not k or set(text) & k for k in kinds):
            return text


class Fake(NamedTuple):
    name: str
    text: str  #: how it appears in a prompt, an error or a header
    secret: str  #: what must vanish
    keep: tuple[str, ...] = ()  #: what must remain (user, host, header name)


def _pem(kind: str, end: bool, escaped: bool = False) -> tuple[str, str]:
    body = [rand(64, B64) for _ in range(6)]
    lines = [f"-----BEGIN {kind}PRIVATE KEY-----", *body]
    if end:
        lines.append(f"-----END {kind}PRIVATE KEY-----")
    return ("\\n" if escaped else "\n").join(lines), body[2]


def _fakes() -> list[Fake]:
    aws_secret = rand(40, B64)
    azure_account = rand(86, B64) + "=="
    jwt = ".".join(
        [
            base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("="),
            base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"Jo"}').decode().rstrip("="),
            rand(43, URLSAFE),
        ]
    )
    basic = base64.b64encode(f"deploy:{rand(14)}".encode()).decode()
    pem, pem_line = _pem("RSA ", end=True)
    pem_open, pem_open_line = _pem("OPENSSH ", end=False)
    gcp_pem, gcp_line = _pem("", end=True, escaped=True)
    slack_hook = f"T{rand(8, UPPER)}/B{rand(10, UPPER)}/{rand(24)}"
    db_password, redis_password = rand(16), rand(12)
    hex32, sig, bearer, curl, code = rand(32, HEX), rand(43), rand(40, URLSAFE), rand(32), rand(12)
    fakes = [
        ("OpenAI legacy key", "sk-" + rand(48)),
        ("OpenAI project key", "sk-proj-" + rand(74, URLSAFE) + "T3BlbkFJ" + rand(74, URLSAFE)),
        ("OpenAI service account key", "sk-svcacct-" + rand(60, URLSAFE)),
        ("Anthropic key", "sk-ant-api03-" + rand(93, URLSAFE) + "AA"),
        ("AWS access key id", "AKIA" + rand(16, UPPER)),
        ("AWS temporary key id", "ASIA" + rand(16, UPPER)),
        ("Google API key", "AIza" + rand(35, URLSAFE)),
        ("Stripe secret live", "sk_live_" + rand(24)),
        ("Stripe secret test", "sk_test_" + rand(24)),
        ("Stripe restricted", "rk_live_" + rand(24)),
        ("Stripe publishable", "pk_live_" + rand(24)),
        ("GitHub personal", "ghp_" + rand(36)),
        ("GitHub OAuth", "gho_" + rand(36)),
        ("GitHub user-to-server", "ghu_" + rand(36)),
        ("GitHub server-to-server", "ghs_" + rand(36)),
        ("GitHub refresh", "ghr_" + rand(36)),
        ("GitHub fine-grained", "github_pat_" + rand(22) + "_" + rand(59)),
        ("Slack bot", f"xoxb-{rand(11, string.digits)}-{rand(13, string.digits)}-{rand(24)}"),
        ("Slack user", f"xoxp-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(32)}"),
        ("Slack app-level", f"xoxa-2-{rand(11, string.digits)}-{rand(30)}"),
        ("Slack app token", f"xapp-1-A{rand(10, UPPER)}-{rand(13, string.digits)}-{rand(64)}"),
        ("JWT", jwt),
        ("Groq key", "gsk_" + rand(52)),
        ("Hugging Face token", "hf_" + rand(34)),
    ]
    out = [Fake(name, text, text) for name, text in fakes]
    out += [
        Fake("AWS secret key (named)", f"aws_secret_access_key = {aws_secret}", aws_secret),
        Fake("AWS secret key (env)", f"export AWS_SECRET_ACCESS_KEY={aws_secret}", aws_secret),
        Fake("AWS secret key (bare after =)", f"CREDS={aws_secret}", aws_secret),
        Fake("AWS secret key (bare after :)", f"the pair: {aws_secret}", aws_secret),
        Fake("PEM with END", pem, pem_line),
        Fake("PEM without END", "my key:\n" + pem_open, pem_open_line, ("my key:",)),
        Fake(
            "GCP service account",
            f'{{"type": "service_account", "private_key": "{gcp_pem}", "client_email": "a@b.c"}}',
            gcp_line,
            ("client_email",),
        ),
        Fake(
            "Azure connection string",
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure_account};"
            "EndpointSuffix=core.windows.net",
            azure_account[:40],
            ("AccountName=acct", "EndpointSuffix"),
        ),
        Fake("Azure api-key header", f"api-key: {hex32}", hex32, ("api-key",)),
        Fake(
            "Azure SAS URL",
            f"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig={sig}%3D",
            sig,
            ("acct.blob.core.windows.net",),
        ),
        Fake("lowercase bearer", f"authorization: bearer {bearer}", bearer, ("bearer",)),
        Fake("bearer in curl", f"curl -H 'Bearer {curl}' https://api.x", curl, ("https://api.x",)),
        Fake("basic auth header", f"Authorization: Basic {basic}", basic, ("Basic",)),
        Fake(
            "URL with password",
            f"postgresql://admin:{db_password}@db.example.com:5432/prod",
            db_password,
            ("admin", "db.example.com:5432/prod"),
        ),
        Fake("URL with password only", f"redis://:{redis_password}@cache:6379", redis_password),
        Fake(
            "Slack webhook",
            f"https://hooks.slack.com/services/{slack_hook}",
            slack_hook,
            ("hooks.slack.com",),
        ),
        Fake("password in code", f'password = "{code}"', code, ("password =",)),
    ]
    return out


FAKES = _fakes()
IDS = [f.name for f in FAKES]

NON_SECRETS = [
    "def merge(a: list[int], b: list[int]) -> list[int]:\n    return sorted(a + b)",
    "for token in tokenizer(text):\n    counts[token] += 1",
    "password = getpass.getpass()\nsecret = os.environ['APP_SECRET']",
    'headers = {"Authorization": f"Bearer {token}"}',
    'headers = {"Authorization": "Bearer " + token}',
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "max_tokens=4096, temperature=0.2, top_p=0.95",
    "the fix landed in commit 3f786850e387550fdab836ed7e6dc881de23001b yesterday",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
    "I am the bearer of bad news, and bearer bonds are out of fashion.",
    "A basic understanding of basic 101 algebra is enough.",
    "Authorization is required for admins only.",
    "see https://example.com:8080/path?q=1&page=2#top or mail admin@example.com",
    "gpt-4o-2024-08-06, claude-3-5-sonnet-20240620 and meta/llama-2-70b-chat",
    "task-scheduler-pipeline-v2 and disk-0123456789abcdef01234",
    "/usr/local/lib/python3.11/site-packages/numpy/core/__init__.py",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA",
    "arXiv:2404.12345v2, ISBN 978-3-16-148410-0, call +1 (555) 010-9999",
    "SELECT id, token_count FROM usage WHERE api_calls > 100 ORDER BY ts DESC",
    "The secret of a good sauce: patience. The key: 2 spoons of butter.",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ\n-----END CERTIFICATE-----",
    "hash: AbCdEf0123456789AbCdEf0123456789AbCdEf0",  # 39 characters: not a 40-char key
]

#: Non-secrets that ARE redacted (known false positives, kept here so any change is seen).
KNOWN_FALSE_POSITIVES = [
    "use the sk-learn-compatible-estimator-interface",  # "sk-" + 16 chars looks like a key
    "Bearer abcdefghijklmnopqrstuvwxyz words",  # 24+ letters after Bearer: taken for a token
    "checksum: AbCdEf0123456789AbCdEf0123456789AbCdEf01",  # 40 mixed chars after ':': AWS-like
    "token: 1234567890",  # a value with a digit after a key-like name
]


@pytest.mark.parametrize("fake", FAKES, ids=IDS)
def test_redact_secrets_removes_every_format(fake: Fake) -> None:
    redacted = redact_secrets(f"before {fake.text} after")
    assert fake.secret not in redacted
    assert "[REDACTED]" in redacted
    assert redacted.startswith("before ")
    for kept in fake.keep:
        assert kept in redacted
    assert redact_secrets(redacted) == redacted  # idempotent


@pytest.mark.parametrize("text", NON_SECRETS)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_secrets(text) == text


@pytest.mark.parametrize("text", KNOWN_FALSE_POSITIVES)
def test_known_false_positives_are_pinned(text: str) -> None:
    assert "[REDACTED]" in redact_secrets(text)


def test_false_positive_rate_on_this_corpus() -> None:
    everything = NON_SECRETS + KNOWN_FALSE_POSITIVES
    changed = [t for t in everything if redact_secrets(t) != t]
    assert len(changed) == len(KNOWN_FALSE_POSITIVES)
    assert len(changed) / len(everything) < 0.2


FRAGMENTS = [
    *("sk-", "sk_live_", "AKIA", "eyJ", "hf_", "xoxb-", "ghp_", "key-", "token", "password"),
    *("api_key", "ApiKey", "Authorization: ", "bearer ", "Basic ", "://", "@", "hooks.slack.com/"),
    *("-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "\\n", "\n", " ", "\t"),
    *(".", "=", ":", '"', "'", "/", "+", "_", "-", "a", "B", "1", "Ab1", "0123456789abcdef"),
    "[REDACTED]",
]
CONTEXT = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
@settings(max_examples=300, deadline=None)
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_secrets(text)
    assert redact_secrets(once) == once


@given(CONTEXT, st.sampled_from(FAKES), CONTEXT, st.sampled_from([" ", "\n", "\t", " (", ") "]))
@settings(max_examples=300, deadline=None)
def test_a_secret_vanishes_whatever_surrounds_it(
    before: str, fake: Fake, after: str, sep: str
) -> None:
    assert fake.secret not in redact_secrets(before + sep + fake.text + sep + after)


ADVERSARIAL = ["a.", "a+", "eyJ-", "eyJaaaaaaa.", "token=", "password: ", "http://x", "sk-sk-"]
ADVERSARIAL += ['-----BEGIN PRIVATE KEY-----"', "authorization:", "= ", "Ab1/"]


@pytest.mark.parametrize("fragment", [f for f in FRAGMENTS if f.strip()] + ADVERSARIAL)
def test_redaction_time_is_linear_in_adversarial_text(fragment: str) -> None:
    text = fragment * (100_000 // len(fragment))
    started = time.perf_counter()
    redact_secrets(text)
    assert time.perf_counter() - started < 1.0  # quadratic patterns take minutes here


def _engine(store: DecisionStore | None, source: str = "") -> Engine:
    models = [make_model("small", source=source), make_model("big")]
    return Engine(models, embedder=HashingEmbedder(dim=64), store=store, seed=0)


def _table_text(store: DecisionStore, name: str) -> str:
    frame = store.table(name).search().limit(100_000).to_pandas()
    return frame.drop(columns=["embedding"], errors="ignore").to_csv()


def test_no_secret_reaches_the_decision_log(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "log", embedding_dim=64, background=False)
    engine = _engine(store)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")  # deny_models naming unknown ids warns
        for n, fake in enumerate(FAKES):
            decision = engine.choose(
                f"Why does this fail? {fake.text}\nThanks",
                Constraints(deny_models={fake.text}),
            )
            if n % 2:  # half the outcomes arrive after the decision was written (an update)
                store.flush()
            engine.feedback(decision, error=f"401 Incorrect API key provided: {fake.text}")
            store.record_drift(DriftEvent(f"m {fake.text}", "quality", n, 0.5, 0.4), f"d-{n}")
            attempt = CallAttempt("small", "failed", 1.0, f"ProviderAuthError: {fake.text}")
            record = CallRecord(f"c{n}", 0.0, decision.id, "", "", False, 0.0, 1.0, (attempt,))
            store.record_call(record)
    store.flush()
    assert store.count() == len(FAKES)
    shown = " ".join(str(w.message) for w in warned)
    assert "deny_models" in shown and not [f.name for f in FAKES if f.secret in shown]
    written = {name: _table_text(store, name) for name in ("decisions", "drift", "calls")}
    assert written["decisions"].count("401 Incorrect API key provided: ") == len(FAKES)
    for fake in FAKES:
        for name, text in written.items():
            assert fake.secret not in text, (fake.name, name)
    assert "[REDACTED]" in written["calls"] and "[REDACTED]" in written["drift"]
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "log").rglob("*") if p.is_file())
    leaked = [f.name for f in FAKES if f.secret.encode() in on_disk]
    assert not leaked


def test_a_custom_prompt_hook_is_respected_but_other_fields_are_redacted(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path, 64, redact=lambda prompt: prompt, background=False)
    engine = _engine(store)
    key = FAKES[0].secret
    engine.feedback(engine.choose(f"raw {key}"), error=f"bad key {key}")
    store.flush()
    row = store.table("decisions").search().limit(10).to_pandas().iloc[0]
    assert key in row["prompt"]  # the caller asked for raw prompts
    assert key not in row["error"] and "[REDACTED]" in row["error"]


def test_a_failing_prompt_hook_does_not_block_the_log(tmp_path: Path) -> None:
    def hook(prompt: str) -> str:
        if "boom" in prompt:
            raise RuntimeError("hook failed")
        return prompt

    store = DecisionStore(tmp_path, 64, redact=hook, background=False)
    engine = _engine(store)
    for prompt in ("first", "boom", "last"):
        engine.choose(prompt)
    store.flush()
    prompts = set(store.table("decisions").search().limit(10).to_pandas()["prompt"])
    assert store.count() == 3 and {"first", "last"} <= prompts


@pytest.mark.parametrize("fake", FAKES, ids=IDS)
def test_no_secret_in_error_messages(fake: Fake) -> None:
    errors: list[BanditRouteError] = [invalid("api_key", fake.text, "a model id")]
    for call in (
        lambda: FeedbackInput.check(quality=fake.text),
        lambda: Constraints(max_cost_usd=fake.text),  # type: ignore[arg-type]
        lambda: _engine(None).registry[fake.text],
    ):
        with pytest.raises(BanditRouteError) as caught:
            call()
        errors.append(caught.value)
    for error in errors:
        assert fake.secret not in str(error) and fake.secret not in repr(error)
        assert all(fake.secret not in str(a) for a in error.args)
    assert "[REDACTED]" in str(errors[0])
    assert isinstance(errors[1], InvalidInput)


def test_no_secret_in_a_saved_state_file(tmp_path: Path) -> None:
    pasted = " ".join(f.text for f in FAKES)
    engine = _engine(None, source=f"copied from the wiki: {pasted}")
    engine.feedback(engine.choose("hello there"), quality=0.5)
    saved = engine.save(tmp_path)
    raw = saved.read_bytes()
    leaked = [f.name for f in FAKES if f.secret.encode() in raw]
    assert not leaked
    header, _ = read_state(saved)
    source = header["registry"]["model"][0]["source"]
    assert source.startswith("copied from the wiki: ") and "[REDACTED]" in source
    assert Engine.load(tmp_path).registry.ids == ["small", "big"]


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = library_logger("banditroute.test_secrets")
    with caplog.at_level(logging.WARNING, logger="banditroute.test_secrets"):
        for fake in FAKES:
            logger.warning("call to %s failed: %s", "https://api.example", fake.text)
        try:
            raise RuntimeError(f"callback failed for {FAKES[0].text}")
        except RuntimeError:
            logger.exception("on_alert failed")
    assert FAKES[0].secret not in caplog.text and "callback failed for [REDACTED]" in caplog.text
    warned = caplog.records[:-1]
    assert len(warned) == len(FAKES)
    for fake, record in zip(FAKES, warned, strict=True):
        assert fake.secret not in record.getMessage()
        assert record.getMessage().startswith("call to https://api.example failed: ")
    for name in ("banditroute.store", "banditroute.budget", "banditroute.evaluation.judge"):
        assert any(type(f).__name__ == "SecretsFilter" for f in logging.getLogger(name).filters)


def test_scrub_walks_nested_values() -> None:
    key = FAKES[0].secret
    value = {"a": [key, 1.5, None], (key,): ("x", {"b": key})}
    assert key not in repr(scrub(value))
    assert scrub({"n": 3, "s": "plain"}) == {"n": 3, "s": "plain"}
