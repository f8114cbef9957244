"""The decision log in a broken environment: folder deleted, unwritable, full disk, lance errors,
rows whose data cannot be stored, and questions asked of a log that does not exist.

Real LanceDB folders in tmp_path. An unwritable folder is simulated by replacing it with a plain
file (this works as root, where a read-only chmod does not stop writes), by chmod where the
tests do not run as root, and a full disk by making the Arrow append raise ``ENOSPC``.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from banditroute import Engine, HashingEmbedder
from banditroute.errors import BanditRouteError, StoreError
from banditroute.store import DecisionStore, ask
from banditroute.store.tables import META_FILE, Tables
from tests.conftest import make_model

LOGGER = "banditroute.store"


def engine_for(store: DecisionStore) -> Engine:
    models = [make_model("small"), make_model("big")]
    return Engine(models, embedder=HashingEmbedder(dim=64), store=store, seed=0)


def answered(engine: Engine, n: int, start: int = 0) -> list[str]:
    """``n`` decisions with their feedback; their ids."""
    ids = []
    for k in range(start, start + n):
        decision = engine.choose(f"question number {k}")
        engine.feedback(decision, quality=0.5)
        ids.append(decision.id)
    return ids


def stored_ids(path: Path) -> set[str]:
    store = DecisionStore(path, embedding_dim=64, background=False, read_only=True)
    if not store.has_table("decisions"):
        return set()
    return set(store.table("decisions").search().limit(100_000).to_pandas()["id"])


def replace_by_file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("not a folder any more")


def restore_folder(path: Path) -> None:
    if path.is_file():
        path.unlink()
    path.mkdir()


def break_by_chmod(path: Path) -> None:
    os.chmod(path, 0o555)
    for child in path.rglob("*"):
        if child.is_dir():
            os.chmod(child, 0o555)


def unbreak_chmod(path: Path) -> None:
    for child in [path, *path.rglob("*")]:
        if child.is_dir():
            os.chmod(child, 0o755)


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Every append fails as on a full disk until the returned function is called."""
    real = Tables.append

    def full(self: Tables, name: str, batch: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Tables, "append", full)
    return lambda: monkeypatch.setattr(Tables, "append", real)


def test_folder_deleted_then_recreated_keeps_every_queued_row(tmp_path: Path) -> None:
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False)
    engine = engine_for(store)
    answered(engine, 3)
    store.flush()
    shutil.rmtree(path)
    later = answered(engine, 5, start=3)
    with pytest.raises(StoreError, match="gone"):
        store.flush()
    assert not path.exists()  # nothing half-written in a folder lance would recreate
    assert store.stats().queued_rows == 5
    path.mkdir()
    store.flush()
    assert stored_ids(path) == set(later)
    assert (path / META_FILE).is_file()
    assert store.stats().queued_rows == 0 and store.dropped_rows == 0


@pytest.mark.parametrize("breakage", ["file", "chmod", "full_disk"])
def test_unwritable_store_raises_store_error_and_never_slows_the_engine(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
) -> None:
    if breakage == "chmod" and os.geteuid() == 0:
        pytest.skip("root ignores a read-only chmod (the 'file' case covers it)")
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False)
    engine = engine_for(store)
    answered(engine, 2)
    store.flush()
    repair: Callable[[], None]
    if breakage == "file":
        replace_by_file(path)
        repair = lambda: restore_folder(path)  # noqa: E731
    elif breakage == "chmod":
        break_by_chmod(path)
        repair = lambda: unbreak_chmod(path)  # noqa: E731
    else:
        repair = fill_disk(monkeypatch)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    started = time.perf_counter()
    kept = answered(engine, 200, start=2)
    assert time.perf_counter() - started < 5.0  # memory only: no disk, no retries inline
    with pytest.raises(StoreError) as info:
        store.flush()
    assert isinstance(info.value, BanditRouteError) and str(path) in str(info.value)
    assert any(r.name == LOGGER and r.levelno == logging.WARNING for r in caplog.records)
    assert store.stats().failures == 1 and store.stats().queued_rows == 200
    answered(engine, 1, start=500)  # still fine after the failure
    repair()
    store.flush()
    assert set(kept) <= stored_ids(path)
    assert store.stats().failures == 0 and store.stats().last_error is None


def test_lance_runtime_errors_become_store_errors(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "log", embedding_dim=64, background=False)
    engine = engine_for(store)
    answered(engine, 2)
    store.flush()
    table = store.table("decisions")

    def broken_add(data: object) -> None:
        raise RuntimeError("lance error: LanceError(IO): simulated")

    table.add = broken_add
    answered(engine, 3, start=2)
    with pytest.raises(StoreError, match="simulated"):
        store.flush()
    store.flush()  # a failed write reconnects: fresh table handles
    assert store.count() == 5


def test_background_writer_backs_off_and_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    store = DecisionStore(
        path, embedding_dim=64, flush_interval_s=0.05, outcome_wait_s=0.0, retry_max_s=0.2
    )
    engine = engine_for(store)
    attempts: list[float] = []
    check = Tables.check_writable

    def counted(self: Tables) -> None:
        attempts.append(time.monotonic())
        check(self)

    monkeypatch.setattr(Tables, "check_writable", counted)
    replace_by_file(path)
    ids = answered(engine, 30)
    time.sleep(1.0)
    assert 2 <= len(attempts) <= 12  # back-off 0.05, 0.1, 0.2, 0.2, ...: no busy loop
    restore_folder(path)
    deadline = time.monotonic() + 5.0
    while store.stats().queued_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.stats().queued_rows == 0
    store.close()
    assert stored_ids(path) == set(ids)


def test_the_queue_is_bounded_and_drops_the_oldest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False, max_queued=10)
    engine = engine_for(store)
    store.flush()  # the registry snapshot of the engine's start
    repair = fill_disk(monkeypatch)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    ids = answered(engine, 25)
    assert store.stats().queued_rows == 10 and store.dropped_rows == 15
    assert "max_queued=10" in caplog.text
    with pytest.raises(StoreError):
        store.flush()
    assert store.stats().queued_rows == 10  # a failed flush neither loses nor grows the queue
    repair()
    store.flush()
    assert stored_ids(path) == set(ids[-10:])


def test_an_unwritable_row_does_not_block_the_others(tmp_path: Path) -> None:
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False)
    engine = engine_for(store)
    good = answered(engine, 3)
    poisoned = engine.choose("this one gets a broken embedding")
    store.record_decision(poisoned, np.zeros(3), "wrong size", at=time.time())
    good += answered(engine, 3, start=3)
    store.flush()
    assert stored_ids(path) == set(good)
    assert store.unwritable_rows == 1 and store.stats().queued_rows == 0
    answered(engine, 1, start=9)
    store.flush()  # nothing is left behind to fail again
    assert store.count() == 7


def test_a_late_outcome_survives_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False)
    engine = engine_for(store)
    decision = engine.choose("answered late")
    store.flush()  # written without its outcome
    repair = fill_disk(monkeypatch)
    engine.feedback(decision, quality=0.9)
    pending = engine.choose("not answered yet")
    with pytest.raises(StoreError):
        store.flush()
    engine.feedback(pending, quality=0.2)  # its decision was put back: the outcome joins it
    repair()
    store.flush()
    rows = store.table("decisions").search().limit(10).to_pandas().set_index("id")
    assert rows.loc[decision.id, "quality"] == pytest.approx(0.9)
    assert rows.loc[pending.id, "quality"] == pytest.approx(0.2)


def test_close_gives_up_in_bounded_time_and_says_what_was_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log"
    store = DecisionStore(path, embedding_dim=64, background=False, close_timeout_s=0.3)
    engine = engine_for(store)
    store.flush()  # the registry snapshot of the engine's start
    replace_by_file(path)
    answered(engine, 7)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    started = time.perf_counter()
    store.close()
    assert time.perf_counter() - started < 2.0
    assert store.lost_rows == 7
    assert "7 queued rows are lost" in caplog.text
    store.close()  # idempotent


def test_asking_a_missing_log_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "log"
    with pytest.raises(StoreError, match="no decision log"):
        DecisionStore(missing, embedding_dim=64, read_only=True)
    assert not missing.exists() and not missing.parent.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match="no decision log"):
        DecisionStore(empty, embedding_dim=64, read_only=True)
    assert list(empty.iterdir()) == []
    new = tmp_path / "new" / "log"  # writing still creates the folder
    DecisionStore(new, embedding_dim=64, background=False).close()
    assert (new / META_FILE).is_file()
    reader = DecisionStore(new, embedding_dim=64, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        engine_for(reader)
    answer = ask(reader, "which model is best for code?", HashingEmbedder(dim=64))
    assert answer.evidence_ids == ()


def test_creating_a_store_where_a_file_is_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        DecisionStore(blocker / "log", embedding_dim=64, background=False)
