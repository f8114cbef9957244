"""`banditroute serve` reads a saved state once per process, and refuses a custom encoder.

Every open of the state file is counted with an audit hook (``open`` events: `io.open`,
`os.open`, whatever library does the reading), so the count does not depend on which function
reads it. The services run in-process (Starlette's TestClient) over the fake provider.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import uvicorn
from starlette.testclient import TestClient

from banditroute import Engine, HashingEmbedder
from banditroute.cli import main as cli_main
from banditroute.engine_state import STATE_FILE
from banditroute.errors import InvalidInput, StateFileError
from banditroute.serve import ServeSettings, build_service, create_app
from banditroute.serve.run import _precheck
from banditroute.serve.saved_state import saved_engine
from banditroute.store.decision_store import DecisionStore
from tests.fake_provider import FakeProvider
from tests.serve_helpers import model_entry

PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


class OpenCounter:
    """Counts the opens of one path (any mode) while ``path`` is set."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.count = 0

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if self.path is None or event != "open" or not args:
            return
        target = args[0]
        named = isinstance(target, str | bytes | os.PathLike)
        if named and os.path.abspath(os.fsdecode(target)) == self.path:
            self.count += 1


_OPENS = OpenCounter()
sys.addaudithook(_OPENS)  # audit hooks cannot be removed: this one is idle unless a path is set


@pytest.fixture
def opens() -> Iterator[OpenCounter]:
    _OPENS.count = 0
    try:
        yield _OPENS
    finally:
        _OPENS.path = None


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


def write_config(path: Path, provider: FakeProvider, extra: Sequence[str] = ()) -> Path:
    """Two models on the fake provider (plus ``extra`` ones), no ``[serve]`` embedder."""
    url = provider.openai_base_url
    models = [model_entry(m, p, p, url, 5) for m, p in (("big", 10.0), ("small", 0.2))]
    models += [model_entry(m, 1.0, 1.0, url, 5) for m in extra]
    config = {
        "serve": {"health_check_interval_s": 0, "store_flush_interval_s": 0.2},
        "gateway": {"scorer": "none", "timeout_s": 10, "retry": {"max_attempts": 1}},
        "model": models,
    }
    path.write_text(tomli_w.dumps(config))
    return path


def saved_state(folder: Path, config: Path, embedder: object, learned: int = 6) -> Path:
    """An engine over ``config``'s models that learned ``learned`` outcomes, saved in
    ``folder``; returns the state file."""
    engine = Engine.from_registry(config, embedder=embedder, seed=0)
    for i in range(learned):
        decision = engine.choose(f"question number {i}")
        engine.feedback(decision, quality=0.5 + 0.05 * i, cost_usd=0.001, latency_ms=100.0)
    return engine.save(folder)


class Custom:
    """An encoder of the user's own: no name, so states record it as ``custom<dim>``."""

    dim = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[len(t) % 7 + 1.0] * self.dim for t in texts]) / self.dim


class NamedCustom(Custom):
    """A user's encoder with a name no built-in encoder has."""

    name = "acme-encoder-v2"


# -- one read per process -------------------------------------------------------------------------
@pytest.mark.parametrize("with_log", [False, True])
def test_building_a_service_from_a_saved_state_reads_the_file_once(
    tmp_path: Path, provider: FakeProvider, opens: OpenCounter, with_log: bool
) -> None:
    config = write_config(tmp_path / "models.toml", provider, extra=["newcomer"])
    state = saved_state(
        tmp_path / "state", write_config(tmp_path / "old.toml", provider), HashingEmbedder(16)
    )
    store = str(tmp_path / "log") if with_log else None
    settings = ServeSettings(config=str(config), state=str(state.parent), store=store)
    opens.path = str(state)
    service = build_service(settings)
    opens.path = None
    try:
        assert opens.count == 1
        engine = service.engine
        assert engine.embedder.name == "hashing16" and engine.feedback_count == 6
        assert engine.registry.ids == ["big", "small", "newcomer"]  # the file's new model added
        if with_log:  # the log is opened with the loaded engine's encoder
            assert engine.store is not None
            assert engine.store.embedder == "hashing16" and engine.store.embedding_dim == 16
        else:
            assert engine.store is None
    finally:
        service.close()


@pytest.mark.parametrize("with_log", [False, True])
def test_the_precheck_of_several_workers_reads_the_state_once_and_makes_the_log(
    tmp_path: Path, provider: FakeProvider, opens: OpenCounter, with_log: bool
) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    state = saved_state(tmp_path / "state", config, HashingEmbedder(24))
    log = tmp_path / "log"
    settings = ServeSettings(
        config=str(config),
        state=str(state.parent),
        store=str(log) if with_log else None,
        workers=2,
    )
    opens.path = str(state)
    _precheck(settings)
    opens.path = None
    assert opens.count == 1
    if with_log:  # the tables exist, for the saved state's encoder
        made = DecisionStore(log, embedding_dim=24, embedder="hashing24", read_only=True)
        assert made.embedder == "hashing24"
        made.close()
    else:
        assert not log.exists()


def test_without_a_saved_state_nothing_is_read_and_the_engine_starts_afresh(
    tmp_path: Path, provider: FakeProvider, opens: OpenCounter
) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    folder = tmp_path / "state"
    settings = ServeSettings(config=str(config), state=str(folder), embedder="hashing")
    assert saved_engine(settings) is None
    opens.path = str(folder / STATE_FILE)
    service = build_service(settings)
    opens.path = None
    assert opens.count == 0 and service.engine.feedback_count == 0
    service.close()
    assert (folder / STATE_FILE).is_file()  # saved at shutdown


# -- a custom encoder is refused at start-up ------------------------------------------------------
@pytest.mark.parametrize(("encoder", "name"), [(Custom(), "custom64"), (NamedCustom(), None)])
def test_a_state_saved_with_a_custom_encoder_is_refused_with_its_name(
    tmp_path: Path, provider: FakeProvider, encoder: Custom, name: str | None
) -> None:
    name = name or NamedCustom.name
    config = write_config(tmp_path / "models.toml", provider)
    state = saved_state(tmp_path / "state", config, encoder)
    for store in (None, str(tmp_path / "log")):
        settings = ServeSettings(config=str(config), state=str(state.parent), store=store)
        with pytest.raises(StateFileError) as refused:
            build_service(settings)
        message = str(refused.value)
        assert f"custom encoder {name!r}" in message and "--state" in message
        assert "embedder=" in message  # and how to use it from Python
        with pytest.raises(StateFileError, match=name):
            _precheck(settings.model_copy(update={"workers": 2}))
    assert not (tmp_path / "log").exists()  # refused before the decision log is opened


def test_the_cli_refuses_a_custom_encoder_state_in_one_line_before_uvicorn_starts(
    tmp_path: Path,
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("uvicorn started")

    monkeypatch.setattr(uvicorn, "run", never)
    config = write_config(tmp_path / "models.toml", provider)
    state = saved_state(tmp_path / "state", config, Custom())
    before = state.read_bytes()
    for workers in ("1", "2"):
        argv = ["serve", "--config", str(config), "--state", str(state.parent)]
        assert cli_main([*argv, "--workers", workers]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "'custom64'" in err
    assert state.read_bytes() == before  # the state is left as it was


def test_a_corrupt_state_keeps_its_own_error(tmp_path: Path, provider: FakeProvider) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / STATE_FILE).write_bytes(b"not a zip file")
    settings = ServeSettings(config=str(config), state=str(folder))
    with pytest.raises(StateFileError, match="not a readable engine state") as refused:
        build_service(settings)
    assert "custom encoder" not in str(refused.value)


# -- a normal saved state still serves ------------------------------------------------------------
def test_a_saved_state_serves_learns_and_is_saved_again(
    tmp_path: Path, provider: FakeProvider, opens: OpenCounter
) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    state = saved_state(tmp_path / "state", config, HashingEmbedder(32))
    settings = ServeSettings(
        config=str(config), state=str(state.parent), store=str(tmp_path / "log")
    )
    opens.path = str(state)
    app = create_app(build_service(settings))
    opens.path = None
    assert opens.count == 1
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert models == ["auto", "big", "small"]
        reply = client.post("/v1/chat/completions", json={"model": "auto", "messages": PROMPT})
        assert reply.status_code == 200
        body = reply.json()
        assert body["choices"][0]["message"]["content"] == "echo: What is the capital of France?"
        decision_id = reply.headers["x-banditroute-decision-id"]
        sent = {"decision_id": decision_id, "quality": 0.9, "latency_ms": 50.0}
        outcome = client.post("/v1/feedback", json=sent)
        assert outcome.status_code == 200 and outcome.json()["model"] == body["model"]
    again = Engine.load(state.parent)  # saved at shutdown with what it learned since
    assert again.feedback_count == 7 and again.embedder.name == "hashing32"


@pytest.mark.parametrize(
    ("dim", "name", "said"),
    [(8, "hashing8", r"8-dim embeddings \(hashing8\).*16-dim"), (16, "custom16", "'custom16'")],
)
def test_a_decision_log_of_another_encoder_is_refused(
    tmp_path: Path, provider: FakeProvider, dim: int, name: str, said: str
) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    state = saved_state(tmp_path / "state", config, HashingEmbedder(16))
    log = tmp_path / "log"
    DecisionStore(log, embedding_dim=dim, embedder=name, background=False).close()
    settings = ServeSettings(config=str(config), state=str(state.parent), store=str(log))
    with pytest.raises(InvalidInput, match=said):
        build_service(settings)
