"""`Service`: what one replica serves with (engine, gateway, keys, recent decisions, metrics,
shared state), built from `ServeSettings` by `build_service`, and its shutdown.

`build_service` makes the engine from the registry file (or from ``state`` when that folder
holds a saved engine: the models and what was learned come from there, models only in the file
are added, and the file's gateway tables apply; the state file is read once, see
`banditroute.serve.saved_state`), opens the decision log with the engine's encoder, builds the
gateway from the file's tables and, with ``redis``, attaches the shared state
(`banditroute.shared`).

>>> import tempfile, pathlib
>>> config = pathlib.Path(tempfile.mkdtemp()) / "models.toml"
>>> _ = config.write_text('[[model]]\\nid = "m"\\nprovider = "p"\\n'
...                       'input_usd_per_mtok = 1\\noutput_usd_per_mtok = 1\\n')
>>> service = build_service(ServeSettings(config=str(config), embedder="hashing"))
>>> service.engine.registry.ids, service.keys.required
(['m'], False)
>>> service.close()
"""

from __future__ import annotations

import importlib
import os
import socket
from dataclasses import dataclass
from typing import Any, Protocol

from ..embedders import Embedder, make_embedder
from ..engine import Engine
from ..errors import BanditRouteError, InvalidInput, StoreError
from ..gateway.client import Gateway
from ..gateway.config import GatewayConfig
from ..registry import Registry
from .auth import ServiceKeys, check_exposure
from .failures import LOGGER
from .metrics import ServeMetrics
from .recent import RecentDecisions
from .saved_state import open_decision_log, saved_engine, state_file, warm
from .settings import ServeSettings

__all__ = ["Service", "SharedLike", "attach_shared", "build_service", "serve_embedder"]


class SharedLike(Protocol):
    """What the service uses of `banditroute.shared.SharedState`."""

    @property
    def connected(self) -> bool: ...

    def status(self) -> Any: ...

    def close(self) -> None: ...


@dataclass
class Service:
    """One replica's parts (see `build_service`)."""

    settings: ServeSettings
    engine: Engine
    gateway: Gateway
    keys: ServiceKeys
    recent: RecentDecisions
    metrics: ServeMetrics
    shared: SharedLike | None
    replica_id: str

    async def aclose(self) -> None:
        """Close the gateway's clients, then everything `close` closes."""
        await self.gateway.aclose()
        self.close()

    def close(self) -> None:
        """Write the decision log, save the state (``settings.state``), stop the shared state."""
        self.gateway.close()
        store = self.engine.store
        if store is not None:
            try:
                store.flush()  # waits for a write in flight, unlike close's bounded wait
            except StoreError as exc:
                LOGGER.warning("closing: the decision log could not be written: %s", exc)
        if self.settings.state is not None:
            try:
                self.engine.save(self.settings.state)
            except (OSError, InvalidInput) as exc:
                LOGGER.warning("closing: the engine state could not be saved: %s", exc)
        self.engine.close()
        if self.shared is not None:
            self.shared.close()


def _replica_id(settings: ServeSettings) -> str:
    return settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"


def serve_embedder(settings: ServeSettings) -> Embedder:
    """The prompt encoder ``settings.embedder`` names; unset: the one the saved state (else the
    decision log) was written with, else the static default. A static encoder is read (or
    built, once) now rather than on the first request; MiniLM still loads on first use.

    `build_service` calls it only when there is no saved state: with one, the encoder is the
    loaded engine's (`saved_engine`), so the state file is read once."""
    return warm(_named_embedder(settings))


def _named_embedder(settings: ServeSettings) -> Embedder:
    from ..static_embedder import EMBEDDER_CHOICES, default_embedder, logged_embedder

    if settings.embedder is not None:
        return make_embedder(EMBEDDER_CHOICES[settings.embedder])
    state = state_file(settings)
    if state is not None:
        from ..state import read_state
        from ..state_parts import load_embedder

        try:
            return load_embedder(read_state(state)[0].get("embedder"), None)
        except BanditRouteError:
            pass  # a custom or unreadable one: `saved_engine` says what is wrong
    return default_embedder(logged_embedder(settings.store))


def _engine(settings: ServeSettings) -> Engine:
    engine = saved_engine(settings)  # the one read of the state file
    if engine is None:
        embedder = serve_embedder(settings)
        store = open_decision_log(settings, embedder)
        try:
            return Engine.from_registry(
                settings.config, embedder=embedder, store=store, seed=settings.seed
            )
        except BaseException:
            if store is not None:
                store.close()
            raise
    store = None
    try:
        store = open_decision_log(settings, engine.embedder)
        engine.attach_store(store, "engine loaded")  # refuses a log of another encoder
        _add_registry_models(engine, settings.config)
    except BaseException:
        engine.close()
        if store is not None and engine.store is None:
            store.close()
        raise
    return engine


def _add_registry_models(engine: Engine, config: str) -> None:
    """Add the models only in the registry file to a loaded engine; warn about those that
    differ from the saved profiles (the saved ones are kept)."""
    engine.config_path = config
    differ = []
    for model in Registry.load(config):
        if model.id not in engine.registry:
            engine.add_model(model)
        elif engine.registry[model.id] != model:
            differ.append(model.id)
    if differ:
        LOGGER.warning(
            "models %s differ between %s and the saved state; the saved profiles are used",
            differ,
            config,
        )


def attach_shared(
    engine: Engine, gateway: Gateway, url: str, replica_id: str, retire_after_s: float = 3600.0
) -> SharedLike:
    """`banditroute.shared.attach` (imported only when asked for)."""
    try:
        shared = importlib.import_module("banditroute.shared")
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("banditroute.shared"):
            raise InvalidInput(
                "--redis needs banditroute.shared, which this installation does not have"
            ) from None
        raise
    attach = getattr(shared, "attach", None)
    if attach is None:
        raise InvalidInput("--redis needs banditroute.shared.attach, which is not available here")
    state: SharedLike = attach(
        engine, gateway, url, replica_id=replica_id, retire_after_s=retire_after_s
    )
    return state


def build_service(settings: ServeSettings) -> Service:
    """A replica's `Service` (raises `InvalidInput` / `RegistryError` for a bad setting)."""
    check_exposure(settings.host, settings.service_key_hashes)
    engine = _engine(settings)
    try:
        gateway = GatewayConfig.load(settings.config).build(engine)
        engine.gateway = gateway
        replica = _replica_id(settings)
        shared = None
        if settings.redis is not None:
            shared = attach_shared(
                engine, gateway, settings.redis, replica, settings.redis_retire_after_s
            )
    except BaseException:
        engine.close()
        raise
    service = Service(
        settings=settings,
        engine=engine,
        gateway=gateway,
        keys=ServiceKeys(settings.service_key_hashes),
        recent=RecentDecisions(settings.decisions_kept),
        metrics=ServeMetrics(None, replica),
        shared=shared,
        replica_id=replica,
    )
    service.metrics.bind(service)
    return service
