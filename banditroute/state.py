"""The engine's saved state: one ``.npz`` of plain arrays plus a JSON header, written atomically.

No pickle is ever written or read. A state file is untrusted input: it is read member by member
with every size checked against the file's own size before anything is allocated (a file
cannot make the reader allocate more than it holds), only plain numeric arrays are accepted,
and the header names a format and a version, so a foreign or future file is refused with a
clear `StateFileError`. Temporary files of killed writers are swept on the next save or load.

>>> import numpy as np, tempfile, pathlib
>>> from banditroute.state import write_state, read_state
>>> path = pathlib.Path(tempfile.mkdtemp()) / "engine.npz"
>>> write_state(path, {"hello": 1}, {"a": np.arange(3)})
>>> header, arrays = read_state(path)
>>> header["hello"], arrays["a"].tolist()
(1, [0, 1, 2])
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import socket
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from .errors import StateFileError
from .text import scrub
from .untrusted import check_depth

__all__ = ["FORMAT", "VERSION", "read_state", "write_arrays_atomically", "write_state"]

FORMAT = "banditroute-engine-state"
VERSION = 1
_HEADER_KEY = "__header__"
_MAX_MEMBERS = 256  # a state holds about 20 arrays
_NPY_HEADER_MAX = 10_000  # numpy's own limit on a .npy header
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: nothing else is ever saved
_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def write_state(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write the header and arrays atomically (see `write_arrays_atomically`)."""
    header = scrub(header)  # every string cleaned and redacted: no secret is saved
    blob = json.dumps({"format": FORMAT, "version": VERSION, **header}).encode("utf-8")
    write_arrays_atomically(path, {_HEADER_KEY: np.frombuffer(blob, dtype=np.uint8), **arrays})


def write_arrays_atomically(path: Path, payload: dict[str, np.ndarray]) -> None:
    """An ``.npz`` written to a temporary file in the same folder, fsynced, renamed over ``path``.

    A crash at any point leaves either the old file or the new one, never a torn file. The
    temporary file (``<name>.<host>-<pid>-<random>.tmp``) is removed on every failure this
    process survives; one left by a killed process is removed by the next save or load of
    ``path`` (see `_remove_stale_temporaries`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{path.name}.{_HOST}-{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **payload)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)  # gone already after the rename
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _writer_is_gone(host: str, pid: int) -> bool:
    """True when the writer ran on this machine and no process ``pid`` exists any more (POSIX;
    elsewhere, or for another machine sharing the folder: unknown, False)."""
    if host != _HOST or os.name != "posix" or pid == os.getpid():
        return False  # another thread of ours may be writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # it exists, owned by someone else (or the name is not a pid)
    return False


def _remove_stale_temporaries(path: Path, age_s: float = 60.0) -> None:
    """Delete temporary files a killed writer left beside ``path``: at once when the process
    that wrote one is gone, else once older than ``age_s`` (another writer may be at work)."""
    ours = re.compile(re.escape(path.name) + r"\.(?:([0-9a-f]{8})-(\d+)-)?[a-z0-9_]+\.tmp")
    cutoff = time.time() - age_s
    try:
        candidates = list(path.parent.glob(path.name + ".*.tmp"))
    except OSError:
        return
    for stale in candidates:
        match = ours.fullmatch(stale.name)
        if match is None:
            continue
        try:
            host, pid = match.groups()
            gone = pid is not None and _writer_is_gone(host, int(pid))
            if gone or stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # another process removed it, or it is not ours to remove


def read_state(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what `write_state` wrote; anything else raises `StateFileError`."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long, a folder we may not enter, ...
        raise StateFileError(f"cannot read the engine state {str(path)!r}: {exc}") from None
    if not found:
        raise StateFileError(f"no saved engine state at {str(path)!r}")
    _remove_stale_temporaries(path)
    try:
        arrays = _read_arrays(path)
    except StateFileError:
        raise
    except Exception as exc:  # any failure to parse untrusted bytes means the same thing
        raise StateFileError(f"{str(path)!r} is not a readable engine state: {exc}") from None
    blob = arrays.pop(_HEADER_KEY, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        raise StateFileError(f"{str(path)!r} has no banditroute header")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
        check_depth(header)
    except (ValueError, RecursionError) as exc:
        raise StateFileError(f"{str(path)!r} has a corrupt header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateFileError(f"{str(path)!r} is not a banditroute engine state")
    if header.get("version") != VERSION:
        raise StateFileError(
            f"{str(path)!r} has state version {header.get('version')!r}; this banditroute "
            f"reads version {VERSION}"
        )
    return header, arrays


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every member of the ``.npz``, each size checked before it is allocated."""
    size = path.stat().st_size
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > _MAX_MEMBERS:
            raise StateFileError(f"{str(path)!r} holds {len(members)} arrays, not an engine state")
        for member in members:
            if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                raise StateFileError(
                    f"{str(path)!r}: member {member.filename!r} is not a plain array"
                )
        if sum(m.file_size for m in members) > size:
            raise StateFileError(f"{str(path)!r} declares more data than it holds")
        for member in members:
            name = member.filename.removesuffix(".npy")
            if name in arrays:
                raise StateFileError(f"{str(path)!r}: array {name!r} appears twice")
            buffer = bytearray(member.file_size)
            with archive.open(member) as stream:
                if cast(io.BufferedIOBase, stream).readinto(
                    buffer
                ) != member.file_size or stream.read(1):
                    raise StateFileError(f"{str(path)!r}: array {name!r} is truncated")
            try:
                arrays[name] = _parse_npy(buffer, name)
            except StateFileError as exc:
                raise StateFileError(f"{str(path)!r}: {exc}") from None
    return arrays


def _parse_npy(buffer: bytearray, name: str) -> np.ndarray:
    """One ``.npy`` image as a writable array over ``buffer`` (numeric dtypes only)."""
    head = io.BytesIO(bytes(buffer[: _NPY_HEADER_MAX + 16]))
    version = np.lib.format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
    else:
        raise StateFileError(f"array {name!r} has .npy version {version}, not 1.0 or 2.0")
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise StateFileError(f"array {name!r} has dtype {dtype.str!r}, not a plain number type")
    count = math.prod(shape)
    offset = head.tell()
    if count * dtype.itemsize != len(buffer) - offset:
        raise StateFileError(f"array {name!r} of shape {shape} does not match its stored size")
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")
