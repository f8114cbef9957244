"""`FakeProvider`: the fake's uvicorn server on a background thread, its scripting and lifecycle.

See the package docstring for an example.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import uvicorn

from .app import App
from .connections import tracking_protocol
from .faults import Fault, FaultRates
from .state import ModelScript, RecordedRequest, State

__all__ = ["FakeProvider"]


class FakeProvider:
    """A fake OpenAI / Anthropic / Gemini server on ``127.0.0.1``, on a free port.

    Starts at once (uvicorn on a background daemon thread) and returns when the port accepts
    connections; ``stop()`` (or leaving the ``with`` block) ends it within about a second and
    frees the port. Everything below is thread-safe and may be called while it runs.

    Parameters
    ----------
    api_key : str or None
        When set, requests must carry exactly this key (``Authorization: Bearer``,
        ``x-api-key`` or ``x-goog-api-key`` / ``?key=``), else they get 401. Never shown.
    start_timeout_s : float
        How long to wait for the server to listen before raising ``RuntimeError``.
    """

    def __init__(self, *, api_key: str | None = None, start_timeout_s: float = 10.0) -> None:
        self._state = State()
        self._app = App(self._state, api_key)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._app,
            http=tracking_protocol(self._app.conns),
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_level="warning",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(sock,),
            name=f"fake-provider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the fake provider did not start within {start_timeout_s} s")

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    # -- addresses

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI-compatible clients: ``base_url + "/v1"``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (they append ``/v1/messages``)."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """Base URL for Gemini clients: ``base_url + "/v1beta"``."""
        return self.base_url + "/v1beta"

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    # -- scripting

    def set_model(
        self,
        model: str,
        *,
        latency_s: float = 0.0,
        text: str | None = None,
        usage: bool = True,
        tool_call: Mapping[str, Any] | None = None,
        chunk_chars: int = 8,
        chunk_delay_s: float = 0.0,
    ) -> None:
        """Script how ``model`` answers (see `ModelScript`)."""
        script = ModelScript(latency_s, text, usage, tool_call, chunk_chars, chunk_delay_s)
        with self._state.lock:
            self._state.scripts[model] = script

    def set_faults(self, model: str, faults: Iterable[Fault], *, append: bool = False) -> None:
        """Queue faults for ``model``'s next requests, one per request, in order."""
        faults = list(faults)
        with self._state.lock:
            queue = self._state.faults.setdefault(model, deque())
            if not append:
                queue.clear()
            queue.extend(faults)

    def faults_left(self, model: str) -> int:
        """How many scripted faults ``model`` has not consumed yet."""
        with self._state.lock:
            return len(self._state.faults.get(model, ()))

    def set_fault_rates(self, model: str, rates: FaultRates | None) -> None:
        """Give ``model`` a random fault mix (restarting its seed), or remove it with None."""
        with self._state.lock:
            if rates is None:
                self._state.rates.pop(model, None)
            else:
                self._state.rates[model] = (rates, random.Random(rates.seed))

    def clear(self, model: str | None = None) -> None:
        """Forget ``model``'s script, faults, rates and recorded requests (all models if None)."""
        with self._state.lock:
            for table in (self._state.scripts, self._state.faults, self._state.rates):
                if model is None:
                    table.clear()
                else:
                    table.pop(model, None)
            if model is None:
                self._state.records.clear()
            else:
                self._state.records.pop(model, None)

    def requests(self, model: str | None = None) -> list[RecordedRequest]:
        """The requests received for ``model`` (every model if None), oldest first."""
        with self._state.lock:
            if model is not None:
                return list(self._state.records.get(model, ()))
            return [r for rs in self._state.records.values() for r in rs]

    # -- lifecycle

    def stop(self) -> None:
        """Stop serving: requests in flight are reset, the port is freed. Idempotent."""
        loop = self._loop
        if loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have just closed
                loop.call_soon_threadsafe(self._app.shut_down)
        self._server.should_exit = True
        self._thread.join(timeout=1.5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=1.5)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"FakeProvider(base_url={self.base_url!r}, {state})"
