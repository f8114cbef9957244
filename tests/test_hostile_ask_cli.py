"""Hostile input to `ask`, to the ``banditroute`` command and to `LLMJudge`'s server.

`ask`: any question text and any ``evidence`` value give an answer or `InvalidInput`, never
another exception. The command: whatever a user can fix ends with exit status 2 and one line
on stderr, never a traceback. The judge: a server trickling bytes cannot hold a call past its
deadline.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banditroute import Engine, HashingEmbedder
from banditroute.cli import main
from banditroute.errors import InvalidInput, JudgeError
from banditroute.evaluation import LLMJudge
from banditroute.store import DecisionStore, ask, parse_question
from tests.conftest import make_model

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
MODELS = ["small", "big-2"]
EMBEDDER = HashingEmbedder(dim=64)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DecisionStore:
    """30 answered decisions with a full-text index (so hybrid search meets the text too)."""
    log = DecisionStore(tmp_path_factory.mktemp("log"), 64, "hashing64", background=False)
    engine = Engine([make_model(m) for m in MODELS], embedder=EMBEDDER, store=log, seed=0)
    for k in range(30):
        engine.feedback(engine.choose(f"write python code number {k}"), quality=0.5)
    log.build_indexes()
    return log


# -- ask: dates, spans and evidence ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("since 2026-13-45", "2026-13-45"),
        ("since 0000-01-01", "0000-01-01"),
        ("before 9999-99-99", "9999-99-99"),
        ("between 2026-02-30 and 2026-03-01", "2026-02-30"),
        ("since 12026-01-01", "12026-01-01"),
        ("last 99999999999 days", "before the year 1"),
        ("last 3000 years", "before the year 1"),
        ("past 0 weeks", "from 1 on"),
        ("since 2030-01-01", "starts after it ends"),
        ("between 2026-05-01 and 2026-01-01", "starts after it ends"),
    ],
)
def test_bad_dates_are_invalid_input_that_says_what_is_wrong(phrase: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_question(f"what did we spend {phrase}?", MODELS, now=NOW)


@pytest.mark.parametrize(
    ("phrase", "since", "until"),
    [
        ("before 2026-11-01", None, "2026-11-01"),
        ("after 2026-11-01", "2026-11-02", "2026-11-22"),
        ("since 2026-11-01 until 2026-11-10", "2026-11-01", "2026-11-10"),
        ("between 9999-12-31 and 9999-12-31", "9999-12-31", "9999-12-31"),
    ],
)
def test_good_dates_still_parse(phrase: str, since: str | None, until: str) -> None:
    q = parse_question(f"spend {phrase}", MODELS, now=NOW)
    assert (None if q.since is None else _day(q.since)) == since
    assert q.until is not None and _day(q.until) == until


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize("evidence", [0, -1, 10**9, "300", True, 2.5, None, float("nan")])
def test_bad_evidence_is_invalid_input(store: DecisionStore, evidence: object) -> None:
    with pytest.raises(InvalidInput, match="evidence"):
        ask(store, "best model for code?", EMBEDDER, evidence=evidence)  # type: ignore[arg-type]


_PHRASES = st.sampled_from(["since", "before", "after", "until", "between", "last", "past"])
_DATES = st.from_regex(r"[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}", fullmatch=True)
_TEMPLATED = st.builds(
    lambda intent, phrase, a, b, n, unit: f"{intent} {phrase} {a} and {b} {n} {unit}",
    st.sampled_from(["best model for code", "spend", "compare small vs big-2", "prompts like"]),
    _PHRASES,
    _DATES,
    _DATES,
    st.integers(-(10**20), 10**20),
    st.sampled_from(["hours", "days", "weeks", "months", "years"]),
)
_ODD_TEXT = st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zs", "P", "S", "Lo"]), max_size=80)
_QUESTIONS = st.one_of(
    st.text(max_size=300),
    _ODD_TEXT.map(lambda t: f"prompts like {t}"),  # lone surrogates, controls, punctuation
    _TEMPLATED,
    st.binary(max_size=20),
    st.none(),
)
_EVIDENCE = st.one_of(
    st.integers(-(10**12), 10**12), st.floats(), st.text(max_size=5), st.booleans(), st.none()
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(question=_QUESTIONS, evidence=_EVIDENCE)
def test_any_question_and_evidence_answer_or_raise_invalid_input(
    store: DecisionStore, question: object, evidence: object
) -> None:
    try:
        answer = ask(store, question, EMBEDDER, now=NOW, evidence=evidence)  # type: ignore[arg-type]
    except InvalidInput as exc:
        assert str(exc)
        return
    assert isinstance(answer.summary, str) and len(answer.evidence_ids) <= 100_000


# -- the command --------------------------------------------------------------------------------
def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("banditroute")
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("prompt_id,prompt,model,quality,cost_usd\n")
    rows = "1,a,m1,good,0.1\n1,a,m2,0.5,0.1\n"
    (tmp_path / "words.csv").write_text("prompt_id,prompt,model,quality,cost_usd\n" + rows)
    (tmp_path / "columns.csv").write_text("a,b\n1,2\n")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    pd.DataFrame({"prompt": ["p"], "response": ["r"], "quality": ["high"]}).to_csv(
        tmp_path / "judged.csv", index=False
    )
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["replay", "{d}/empty.csv"], "empty"),
        (["replay", "{d}/header.csv"], "no prompt"),
        (["replay", "{d}/words.csv"], "'quality' must hold numbers"),
        (["replay", "{d}/missing.csv"], "does not exist"),
        (["replay", "{d}/folder.csv"], "is a folder"),
        (["replay", "{d}/columns.csv"], "needs columns"),
        (["replay", "{d}/binary.csv"], "cannot be read as CSV"),
        (["replay", "{d}/notes.txt"], "must end in"),
        (["replay", "--warm-start", "{d}/empty.csv"], "empty"),
        (["replay", "--seeds", "0"], "--seeds"),
        (["replay", "--seeds", "many"], "--seeds"),
        (["replay", "--lambdas", "nan"], "--lambdas"),
        (["replay", "--lambdas", "-1"], "--lambdas"),
        (["replay", "--synthetic-prompts", "-3"], "--synthetic-prompts"),
        (["replay", "--policies", "nope"], "policies"),
        (["replay", "--drift", "garbage"], "drift"),
        (["replay", "--registry", "{d}/missing.toml"], "registry"),
        (["replay", "--json", "{d}/folder.csv"], "is a folder"),
        (["replay", "--store", "{d}/notes.txt/log", "--synthetic-prompts", "5"], "cannot create"),
        (["evaluate", "{d}/empty.csv"], "empty"),
        (["evaluate", "{d}/folder.csv"], "is a folder"),
        (["evaluate", "{d}/missing.csv"], "existing"),
        (["evaluate", "{d}/judged.csv"], "quality"),
        (["evaluate", "{d}/binary.csv"], "cannot be read"),
        (["evaluate", "{d}/judged.csv", "--penalty", "inf"], "--penalty"),
        (["ask", "best model?", "--store", "{d}/no-log"], "no decision log"),
        (["ask", "best model?", "--store", "{d}/folder.csv"], "no decision log"),
        (["ask", "best model?"], "--store"),
        (["demo", "--prompts", "-5"], "--prompts"),
        (["demo", "--prompts", "10**9"], "--prompts"),
        (["demo", "--cost-weight", "inf"], "--cost-weight"),
        (["demo", "--seed", "-1"], "--seed"),
        (["demo", "--embedder", "word2vec"], "--embedder"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], files: Path, argv: list[str], says: str
) -> None:
    args = [a.replace("{d}", str(files)) for a in argv]
    if args and args[0] in ("replay", "evaluate", "ask"):
        args += ["--embedder", "hashing"]
    if args and args[0] in ("replay", "evaluate"):
        args += ["--quiet", "--cache-dir", str(files / "cache")]
    assert says in _error_line(capsys, args)
    assert not (files / "no-log").exists()  # asking never creates a log


@pytest.mark.parametrize(
    ("question", "evidence", "says"),
    [
        ("what did we spend since 2026-13-45?", "300", "2026-13-45"),
        ("spend in the last 99999999999 days", "300", "year 1"),
        ("best model for code", "0", "evidence"),
        ("best model for code", "-4", "evidence"),
        ("best model for code", "lots", "--evidence"),
        ("   ", "300", "question"),
    ],
)
def test_ask_command_refuses_bad_questions(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    question: str,
    evidence: str,
    says: str,
) -> None:
    folder = tmp_path / "log"
    DecisionStore(folder, 384, "hashing384", background=False).close()
    argv = ["ask", question, "--store", str(folder), "--embedder", "hashing"]
    assert says in _error_line(capsys, [*argv, "--evidence", evidence])


def test_ask_command_refuses_a_log_of_another_embedder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    DecisionStore(tmp_path / "log", 384, "minilm-clip200-500", background=False).close()
    line = _error_line(
        capsys, ["ask", "best model?", "--store", str(tmp_path / "log"), "--embedder", "hashing"]
    )
    assert "--embedder" in line


# -- the judge against a server that trickles -----------------------------------------------------
class _Trickle(socketserver.BaseRequestHandler):
    """Reads the request, then sends the answer one byte every 0.25 s (headers or body)."""

    server: _TrickleServer

    def handle(self) -> None:
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
        data = head + b" " * 400
        try:
            if self.server.mode == "body":
                self.request.sendall(head)
                data = data[len(head) :]
            for i in range(len(data)):
                if self.server.stopping.is_set():
                    return
                self.request.sendall(data[i : i + 1])
                time.sleep(0.25)
        except OSError:  # the client hung up: what we want
            return


class _TrickleServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Trickle)
        self.mode = mode
        self.stopping = threading.Event()


@pytest.fixture(params=["body", "headers"])
def trickle(request: pytest.FixtureRequest) -> Iterator[str]:
    server = _TrickleServer(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.stopping.set()
    server.shutdown()
    server.server_close()


def test_a_trickling_judge_server_cannot_hold_a_call(trickle: str) -> None:
    with LLMJudge(trickle, "judge", api_key_env="NO_SUCH_KEY_VAR", timeout_s=0.5) as judge:
        started = time.perf_counter()
        with pytest.raises(JudgeError, match="timed out"):
            judge.evaluate("p", "r")
        assert time.perf_counter() - started < 1.3


def test_the_judge_deadline_covers_retries(trickle: str) -> None:
    judge = LLMJudge(trickle, "judge", timeout_s=0.4, max_retries=10, backoff_s=0.0, deadline_s=0.9)
    with judge:
        started = time.perf_counter()
        with pytest.raises(JudgeError, match="timed out"):
            judge.evaluate("p", "r")
        assert time.perf_counter() - started < 1.4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_s": 0},
        {"timeout_s": float("nan")},
        {"timeout_s": "5"},
        {"deadline_s": -1},
        {"backoff_s": float("inf")},
        {"max_retries": True},
        {"max_retries": 10**6},
        {"api_key_env": "NOT A NAME"},
    ],
)
def test_bad_judge_settings_are_invalid_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        LLMJudge("http://127.0.0.1:9/v1", "judge", **kwargs)  # type: ignore[arg-type]
