"""A real ``redis-server`` process for tests: a free 127.0.0.1 port, its own folder, no service.

`RedisServer` starts Debian's ``redis-server`` (installed by ``make setup``) with nothing saved
(``--save '' --appendonly no``) or, with ``persistent=True``, with an append-only file in its
folder, waits until PING answers, and kills it on `stop`. `restart` stops and starts it again on
the same port (an outage; without persistence Redis comes back empty). The ``redis_server``
fixture yields a running server per test, ``redis_url`` its URL. No test skips for lack of
Redis: a missing binary is an error that says to run ``make setup``.

Example
-------
>>> import redis
>>> with RedisServer() as server:
...     client = redis.Redis.from_url(server.url)
...     client.set("k", "v"), client.get("k")
(True, b'v')
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["RedisServer", "redis_server", "redis_url"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1.

    Parameters
    ----------
    folder : Path, optional
        Its working folder (default: a new temporary folder, removed by `stop`).
    persistent : bool
        Keep an append-only file (fsync always), so a `restart` finds the data again.
    """

    def __init__(self, folder: Path | None = None, *, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make setup`")
        self._binary = binary
        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="redis-")) if folder is None else folder
        self.persistent = persistent
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the process and wait until it answers PING."""
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        command = [
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *persistence,
            "--dir",
            str(self.folder),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while not _answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        """Kill the process (SIGKILL: nothing is written on the way out) and wait for it."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, down_s: float = 0.0) -> None:
        """An outage: kill, stay down ``down_s`` seconds, start again on the same port."""
        self.kill()
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        """Kill the process and remove the folder made for it."""
        self.kill()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running, empty, non-persistent Redis on a free port; killed after the test."""
    server = RedisServer(tmp_path / "redis")
    server.folder.mkdir()
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a running, empty Redis (``redis_server``'s)."""
    return redis_server.url
