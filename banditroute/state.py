"""The engine's saved state: one ``.npz`` of plain arrays plus a JSON header, written atomically.

No pickle is ever written or read (``allow_pickle=False``); the header names a format and a
version, so a foreign or future file is refused with a clear `StateFileError`.

>>> import numpy as np, tempfile, pathlib
>>> from banditroute.state import write_state, read_state
>>> path = pathlib.Path(tempfile.mkdtemp()) / "engine.npz"
>>> write_state(path, {"hello": 1}, {"a": np.arange(3)})
>>> header, arrays = read_state(path)
>>> header["hello"], arrays["a"].tolist()
(1, [0, 1, 2])
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StateFileError

__all__ = ["FORMAT", "VERSION", "read_state", "write_arrays_atomically", "write_state"]

FORMAT = "banditroute-engine-state"
VERSION = 1
_HEADER_KEY = "__header__"


def write_state(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write the header and arrays atomically (see `write_arrays_atomically`)."""
    blob = json.dumps({"format": FORMAT, "version": VERSION, **header}).encode("utf-8")
    write_arrays_atomically(path, {_HEADER_KEY: np.frombuffer(blob, dtype=np.uint8), **arrays})


def write_arrays_atomically(path: Path, payload: dict[str, np.ndarray]) -> None:
    """An ``.npz`` written to a temporary file in the same folder, fsynced, renamed over ``path``.

    A crash at any point leaves either the old file or the new one, never a torn file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **payload)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    _remove_stale_temporaries(path)


def _remove_stale_temporaries(path: Path, age_s: float = 60.0) -> None:
    """Delete temporary files a killed writer left beside ``path`` (older than ``age_s``)."""
    cutoff = time.time() - age_s
    for stale in path.parent.glob(path.name + ".*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # another process removed it, or it is not ours to remove


def read_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what `write_state` wrote; anything else raises `StateFileError`."""
    if not path.is_file():
        raise StateFileError(f"no saved engine state at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise StateFileError(f"{str(path)!r} is not a readable engine state: {exc}") from None
    blob = arrays.pop(_HEADER_KEY, None)
    if blob is None or blob.dtype != np.uint8:
        raise StateFileError(f"{str(path)!r} has no banditroute header")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFileError(f"{str(path)!r} has a corrupt header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateFileError(f"{str(path)!r} is not a banditroute engine state")
    if header.get("version") != VERSION:
        raise StateFileError(
            f"{str(path)!r} has state version {header.get('version')!r}; this banditroute "
            f"reads version {VERSION}"
        )
    return header, arrays
