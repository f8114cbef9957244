"""Untrusted state and registry files: only the library's own errors, naming the bad field.

Arbitrary bytes, damaged files, hand-edited headers and arrays, crafted archives and deeply
nested JSON, as engine states and as registries; the last model of an engine; the temporary
files that killed saves leave.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from banditroute import Engine, HashingEmbedder, ModelProfile
from banditroute.drift import DriftMonitor
from banditroute.engine_state import STATE_FILE
from banditroute.errors import (
    InvalidInput,
    NoFeasibleModel,
    RegistryError,
    StateFileError,
)
from banditroute.registry import Registry
from banditroute.state import read_state, write_state

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _models() -> list[ModelProfile]:
    return [
        ModelProfile(id=f"m{i}", provider="p", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)
        for i in range(3)
    ]


def _trained(drift: bool = True) -> Engine:
    engine = Engine(
        _models(),
        embedder=HashingEmbedder(16),
        seed=0,
        drift=DriftMonitor(min_observations=2) if drift else None,
    )
    for i in range(12):
        d = engine.choose(f"prompt number {i} about lists")
        if i % 4 == 1:
            engine.feedback(d, quality=0.7, response="an answer", prompt="a question")
        elif i % 4 == 2:
            engine.feedback(d, quality=0.4, cost_usd=0.001, latency_ms=300.0)
        # the others stay pending
    return engine


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("saved")
    _trained().save(folder)
    header, arrays = read_state(folder / STATE_FILE)
    header = {k: v for k, v in header.items() if k not in ("format", "version")}
    return header, arrays


def _write(folder: Path, header: dict[str, Any], arrays: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_state(folder / STATE_FILE, header, arrays)
    return folder


def _use(engine: Engine) -> None:
    """A loaded engine must work: choose, answer every pending decision, save, load."""
    ids = [key for key, _ in engine._pending.snapshot()]
    for key in ids:
        engine.feedback(key, quality=0.5, latency_ms=100.0)
    try:
        d = engine.choose("a prompt after loading")
        engine.feedback(d, quality=0.5, cost_usd=0.001, latency_ms=10.0)
    except NoFeasibleModel:
        pass  # an edited registry may deprecate every model: a typed, explained refusal


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    edited = copy.deepcopy(document)
    target = edited
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return edited


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**400, -1, 0, 1, 2**63, 10**9])
    | st.floats()
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


# -- arbitrary bytes -------------------------------------------------------------------------
@SETTINGS
@given(blob=st.binary(max_size=2000))
def test_arbitrary_bytes_as_a_state_file(tmp_path: Path, blob: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(blob)
    with pytest.raises(StateFileError):
        Engine.load(tmp_path)


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("bytes")
    _trained(drift=False).save(folder)
    return (folder / STATE_FILE).read_bytes()


@SETTINGS
@given(data=st.data())
def test_damaged_state_files_fail_typed(
    tmp_path: Path, saved_bytes: bytes, data: st.DataObject
) -> None:
    raw = bytearray(saved_bytes)
    how = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    if how == "truncate":
        raw = raw[:at]
    elif how == "flip":
        raw[at] ^= data.draw(st.integers(1, 255))
    else:
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    folder = tmp_path / f"d{time.monotonic_ns()}"
    folder.mkdir()
    (folder / STATE_FILE).write_bytes(bytes(raw))
    try:
        engine = Engine.load(folder)
    except StateFileError:
        return
    _use(engine)  # a change the archive cannot see (e.g. in padding) must still load cleanly


@SETTINGS
@given(blob=st.binary(max_size=1000), suffix=st.sampled_from([".json", ".toml"]))
def test_arbitrary_bytes_as_a_registry_file(tmp_path: Path, blob: bytes, suffix: str) -> None:
    path = tmp_path / f"models{suffix}"
    path.write_bytes(blob)
    with contextlib.suppress(RegistryError):  # loads, or fails with the library's error
        Registry.load(path)


@SETTINGS
@given(document=json_values)
def test_arbitrary_json_as_a_registry(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"model": [document]}))
    with contextlib.suppress(RegistryError):  # loads, or fails with the library's error
        Registry.load(path)


@pytest.mark.parametrize(
    ("suffix", "text", "field"),
    [
        (".toml", "input_usd_per_mtok = inf\noutput_usd_per_mtok = 1", "input_usd_per_mtok"),
        (".toml", "input_usd_per_mtok = 1\noutput_usd_per_mtok = nan", "output_usd_per_mtok"),
        (".toml", "input_usd_per_mtok = -1\noutput_usd_per_mtok = 1", "input_usd_per_mtok"),
        (".toml", "input_usd_per_mtok = 1\noutput_usd_per_mtok = '1'", "output_usd_per_mtok"),
        (
            ".toml",
            "input_usd_per_mtok = 1\noutput_usd_per_mtok = 1\ntypical_latency_ms = inf",
            "typical_latency_ms",
        ),
        (".json", '"input_usd_per_mtok": Infinity, "output_usd_per_mtok": 1', "input_usd_per_mtok"),
        (".json", '"input_usd_per_mtok": 1, "output_usd_per_mtok": NaN', "output_usd_per_mtok"),
        (".json", '"input_usd_per_mtok": 1e999, "output_usd_per_mtok": 1', "input_usd_per_mtok"),
        (".json", '"input_usd_per_mtok": true, "output_usd_per_mtok": 1', "input_usd_per_mtok"),
        (
            ".json",
            '"input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "typical_latency_ms": -1e400',
            "typical_latency_ms",
        ),
    ],
)
def test_registry_files_with_absurd_numbers_are_refused(
    tmp_path: Path, suffix: str, text: str, field: str
) -> None:
    path = tmp_path / f"models{suffix}"
    if suffix == ".toml":
        path.write_text(f'[[model]]\nid = "a"\nprovider = "p"\n{text}\n')
    else:
        path.write_text(f'{{"model": [{{"id": "a", "provider": "p", {text}}}]}}')
    with pytest.raises(RegistryError, match=field):
        Registry.load(path)
    with pytest.raises(RegistryError, match=field):
        Engine.from_registry(path, embedder=HashingEmbedder(16))


@pytest.mark.parametrize("path", [123, None, "a\0b.json", "missing.toml", "models.yaml"])
def test_registry_paths_that_are_not_files_are_refused(path: Any) -> None:
    with pytest.raises(RegistryError):
        Registry.load(path)


def test_deeply_nested_files_are_refused(tmp_path: Path, saved: tuple) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "a.json").write_text('{"model": ' + deep + "}")
    with pytest.raises(RegistryError, match="not valid"):
        Registry.load(tmp_path / "a.json")
    (tmp_path / "a.toml").write_text("x = " + deep)
    with pytest.raises(RegistryError, match="not valid"):
        Registry.load(tmp_path / "a.toml")
    (tmp_path / "b.json").write_text('{"model": ' + "[" * 40 + "]" * 40 + "}")
    with pytest.raises(RegistryError, match="nested deeper"):
        Registry.load(tmp_path / "b.json")
    header, arrays = saved
    for nested in ("[" * 100_000 + "]" * 100_000, "[" * 50 + "]" * 50):
        blob = json.dumps({"format": "banditroute-engine-state", "version": 1, **header})
        blob = blob[:-1] + ', "deep": ' + nested + "}"
        payload = {"__header__": np.frombuffer(blob.encode(), np.uint8), **arrays}
        np.savez(tmp_path / STATE_FILE, **payload)
        with pytest.raises(StateFileError, match="corrupt header"):
            Engine.load(tmp_path)


# -- crafted archives ------------------------------------------------------------------------
def _npy(array: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    """An ``.npy`` image; with ``shape``, its header claims that shape over the same data."""
    stream = io.BytesIO()
    if shape is None:
        np.lib.format.write_array(stream, array, allow_pickle=False)
    else:
        fields = np.lib.format.header_data_from_array_1_0(array)
        np.lib.format.write_array_header_1_0(stream, {**fields, "shape": shape})
        stream.write(array.tobytes())
    return stream.getvalue()


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)


def test_crafted_archives_never_allocate_what_they_claim(tmp_path: Path, saved: tuple) -> None:
    header, arrays = saved
    good = tmp_path / "good"
    _write(good, header, arrays)
    members = {}
    with zipfile.ZipFile(good / STATE_FILE) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    cases = {
        "huge shape": {**members, "quality_sse.npy": _npy(np.zeros(3), (10**12,))},
        "object dtype": {**members, "quality_sse.npy": _npy(np.array(["a", "b", "c"]))},
        "not npy": {**members, "quality_sse.npy": b"\x93NUMPY\x09\x00garbage"},
        "not an array name": {**members, "quality_sse.txt": b"hello"},
        "too many members": {f"a{i}.npy": _npy(np.zeros(1)) for i in range(300)},
    }
    messages = {
        "huge shape": "does not match its stored size",
        "object dtype": "not a plain number type",
        "not npy": "npy version",
        "not an array name": "not a plain array",
        "too many members": "holds 300 arrays",
    }
    for label, content in cases.items():
        folder = tmp_path / label.replace(" ", "_")
        folder.mkdir()
        _zip(folder / STATE_FILE, content)
        started = time.perf_counter()
        with pytest.raises(StateFileError, match=messages[label]):
            Engine.load(folder)
        assert time.perf_counter() - started < 2.0, label
    folder = tmp_path / "deflated"
    folder.mkdir()
    _zip(folder / STATE_FILE, members, zipfile.ZIP_DEFLATED)  # a zip bomb needs compression
    with pytest.raises(StateFileError, match="not a plain array"):
        Engine.load(folder)


# -- hand-edited states ----------------------------------------------------------------------
EDITS: list[tuple[str, tuple[Any, ...], Any]] = [
    ("latency_ewma_ms", ("estimator", "stats", "m1", "latency_ewma_ms"), "fast"),
    ("latency_ewma_ms", ("estimator", "stats", "m1", "latency_ewma_ms"), float("nan")),
    ("latency_ewma_ms", ("estimator", "stats", "m1", "latency_ewma_ms"), -5.0),
    ("calls", ("estimator", "stats", "m1", "calls"), -1),
    ("embedding_dim", ("context", "embedding_dim"), 10**9),
    ("embedding_dim", ("context", "embedding_dim"), 17),
    ("n_components", ("context", "n_components"), "8"),
    ("max_pending", ("max_pending",), "100"),
    ("max_pending", ("max_pending",), 0),
    ("feedback_count", ("feedback_count",), 1.5),
    ("input_usd_per_mtok", ("registry", "model", 0, "input_usd_per_mtok"), float("inf")),
    ("typical_latency_ms", ("registry", "model", 1, "typical_latency_ms"), "fast"),
    ("registry", ("registry", "model"), []),
    ("exploration", ("policy", "params", "exploration"), float("nan")),
    ("seed", ("policy", "params", "seed"), -1),
    ("policy_arms", ("policy_arms",), ["m0", "m0", "m1"]),
    ("rng_state", ("rng_state", "state", "state"), 2**300),
    ("cost_weight", ("tradeoff", "cost_weight"), True),
    ("delta", ("drift", "delta"), "0.1"),
    ("drift_events", ("drift_events",), [{"model": "m0"}]),
    ("pending", ("pending", 0, "prompt_tokens"), "12"),
    ("penalty", ("evaluator", "penalty"), 0),
    ("registry_history", ("registry_history", 0, "action"), "explode"),
    ("embedder", ("embedder", "name"), "hashing99x"),
]


@pytest.mark.parametrize(("field", "path", "value"), EDITS, ids=[e[0] for e in EDITS])
def test_hand_edited_fields_are_named(
    tmp_path: Path, saved: tuple, field: str, path: tuple[Any, ...], value: Any
) -> None:
    header, arrays = saved
    _write(tmp_path, _replace(header, path, value), arrays)
    with pytest.raises(StateFileError, match=field):
        Engine.load(tmp_path)


ARRAY_EDITS: list[tuple[str, Any]] = [
    ("quality_weights", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, a)),
    ("quality_weights", lambda a: a[:, :3]),
    ("quality_inv_gram", lambda a: a.astype(str)),
    ("quality_inv_gram", lambda a: -a),
    ("quality_counts", lambda a: a - 100),
    ("quality_sse", lambda a: np.full(a.shape, np.inf)),
    ("quality_pooled", lambda a: a[:2]),
    ("answer_tokens_targets", lambda a: a * 1e300),
    ("evaluator_gram", lambda a: np.zeros((3, 3))),
    ("pending_contexts", lambda a: a[:, :4]),
    ("pending_predicted", lambda a: np.full(a.shape, np.inf)),
]


@pytest.mark.parametrize(("name", "edit"), ARRAY_EDITS, ids=[e[0] for e in ARRAY_EDITS])
def test_hand_edited_arrays_are_named(tmp_path: Path, saved: tuple, name: str, edit: Any) -> None:
    header, arrays = saved
    _write(tmp_path, header, {**arrays, name: edit(arrays[name])})
    with pytest.raises(StateFileError, match=name):
        Engine.load(tmp_path)


@pytest.mark.parametrize("name", ["quality_sse", "answer_tokens_weights", "pending_contexts"])
def test_missing_arrays_are_named(tmp_path: Path, saved: tuple, name: str) -> None:
    header, arrays = saved
    _write(tmp_path, header, {k: v for k, v in arrays.items() if k != name})
    with pytest.raises(StateFileError, match=name):
        Engine.load(tmp_path)


@SETTINGS
@given(data=st.data(), value=json_values)
def test_any_header_edit_loads_cleanly_or_fails_typed(
    tmp_path: Path, saved: tuple, data: st.DataObject, value: Any
) -> None:
    header, arrays = saved
    path = data.draw(st.sampled_from(_paths(header)))
    folder = _write(tmp_path / f"h{time.monotonic_ns()}", _replace(header, path, value), arrays)
    try:
        engine = Engine.load(folder)
    except StateFileError:
        return
    _use(engine)  # what loads must work: no failure later inside choose or feedback


@SETTINGS
@given(data=st.data())
def test_any_array_edit_loads_cleanly_or_fails_typed(
    tmp_path: Path, saved: tuple, data: st.DataObject
) -> None:
    header, arrays = saved
    name = data.draw(st.sampled_from(sorted(arrays)))
    original = arrays[name]
    shape = data.draw(st.sampled_from([original.shape, (), (0,), (2, 2), original.shape[:1]]))
    dtype = data.draw(st.sampled_from(["f8", "f4", "i8", "u1", "?", "c16", "<U2"]))
    edited = data.draw(hnp.arrays(np.dtype(dtype), shape))
    folder = _write(tmp_path / f"a{time.monotonic_ns()}", header, {**arrays, name: edited})
    try:
        engine = Engine.load(folder)
    except StateFileError:
        return
    _use(engine)


# -- round trip ------------------------------------------------------------------------------
def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    engine = _trained()
    engine.save(tmp_path / "a")
    loaded = Engine.load(tmp_path / "a")
    loaded.save(tmp_path / "b")
    header_a, arrays_a = read_state(tmp_path / "a" / STATE_FILE)
    header_b, arrays_b = read_state(tmp_path / "b" / STATE_FILE)
    assert header_a == header_b
    assert sorted(arrays_a) == sorted(arrays_b)
    for name, values in arrays_a.items():
        np.testing.assert_array_equal(values, arrays_b[name], err_msg=name)
    for i in range(5):  # the same random stream: the same decisions
        a, b = engine.choose(f"next {i}"), loaded.choose(f"next {i}")
        assert (a.model, a.propensity) == (b.model, b.propensity)


# -- the last model --------------------------------------------------------------------------
def test_the_last_model_cannot_be_removed(tmp_path: Path) -> None:
    engine = Engine(_models()[:2], embedder=HashingEmbedder(16), seed=0)
    engine.remove_model("m0")
    with pytest.raises(InvalidInput, match="last model"):
        engine.remove_model("m1")
    assert engine.registry.ids == ["m1"]
    engine.save(tmp_path)
    assert Engine.load(tmp_path).choose("still works").model == "m1"
    engine.registry.remove("m1")  # behind the engine's back: refused at save, not at load
    with pytest.raises(InvalidInput, match="without models"):
        engine.save(tmp_path)
    assert Engine.load(tmp_path).registry.ids == ["m1"]  # the previous state is untouched


# -- leftovers -------------------------------------------------------------------------------
def _killed_mid_save(folder: Path) -> Path:
    """Kill (SIGKILL) a process in the middle of `Engine.save`; return the file it left."""
    script = f"""
import os, time
from banditroute import Engine, HashingEmbedder, ModelProfile
def hang(*args, **kwargs):
    print("writing", flush=True)
    time.sleep(60)
os.replace = hang  # the rename never comes: killed with the temporary file written
models = [ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)]
Engine(models, embedder=HashingEmbedder(16), seed=0).save({str(folder)!r})
"""
    before = set(folder.iterdir())
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "writing\n"
    process.kill()
    process.wait()
    (left,) = set(folder.iterdir()) - before
    assert left.name.startswith(STATE_FILE) and left.name.endswith(".tmp")
    return left


def test_temporaries_of_killed_saves_are_swept_on_load_and_save(tmp_path: Path) -> None:
    engine = Engine(_models(), embedder=HashingEmbedder(16), seed=0)
    engine.save(tmp_path)
    orphan = _killed_mid_save(tmp_path)
    live = tmp_path / f"{STATE_FILE}.0b5e55ed.tmp"  # another writer's, just now (no pid)
    live.write_bytes(b"another writer, right now")
    foreign = tmp_path / "notes.1234-abc.tmp"  # not ours: never touched
    foreign.write_bytes(b"x")
    Engine.load(tmp_path)  # the writer is gone: its file goes at once
    assert not orphan.exists() and live.exists() and foreign.exists()
    orphan = _killed_mid_save(tmp_path)
    engine.save(tmp_path)
    assert not orphan.exists() and live.exists() and foreign.exists()
    os.utime(live, (0, 0))  # old enough: whoever wrote it is not writing any more
    Engine.load(tmp_path)
    assert not live.exists() and foreign.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([STATE_FILE, foreign.name])


def test_a_failed_save_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    engine = Engine(_models(), embedder=HashingEmbedder(16), seed=0)
    engine.save(tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StateFileError, match=r"cannot write .*No space") as caught:
        engine.save(tmp_path)
    monkeypatch.undo()
    assert isinstance(caught.value.__cause__, OSError)  # the errno stays available
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]
    assert Engine.load(tmp_path).registry.ids == ["m0", "m1", "m2"]
