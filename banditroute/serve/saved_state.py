"""The saved engine a replica starts from, read once, and the decision log opened to match it.

`saved_engine` loads the engine saved in ``settings.state`` with `Engine.load`, which reads the
state file once; the encoder is the one the state was saved with (or ``settings.embedder``
when it is set). `open_decision_log` then opens the decision log with that engine's encoder,
for `Engine.attach_store`. A state saved with a custom encoder (one `make_embedder` cannot
build by name) is refused with a `StateFileError` naming it: serving it with another encoder
would apply what was learned to vectors it was not learned on.

>>> import tempfile
>>> from banditroute import Engine, HashingEmbedder, ModelProfile
>>> folder = tempfile.mkdtemp()
>>> _ = Engine([ModelProfile(id="m", provider="p", input_usd_per_mtok=1,
...                          output_usd_per_mtok=1)], embedder=HashingEmbedder(16)).save(folder)
>>> engine = saved_engine(ServeSettings(config="models.toml", state=folder))
>>> engine.embedder.name, engine.registry.ids
('hashing16', ['m'])
>>> saved_engine(ServeSettings(config="models.toml")) is None
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..embedders import Embedder, embedder_name, make_embedder
from ..engine import Engine
from ..engine_state import STATE_FILE
from ..errors import StateFileError
from ..state_parts import CustomEncoderState
from .settings import ServeSettings

if TYPE_CHECKING:
    from ..store.decision_store import DecisionStore

__all__ = ["open_decision_log", "saved_engine", "state_file", "warm"]


def state_file(settings: ServeSettings) -> Path | None:
    """The saved engine's file in ``settings.state``, or None when there is none (yet)."""
    if settings.state is None:
        return None
    path = Path(settings.state) / STATE_FILE
    return path if path.is_file() else None


def warm(embedder: Embedder) -> Embedder:
    """``embedder``, with a static encoder's files read (or built, once) now rather than on the
    first request; MiniLM still loads on first use."""
    from ..static_embedder import StaticEmbedder

    if isinstance(embedder, StaticEmbedder):
        embedder.load()
    return embedder


def saved_engine(settings: ServeSettings) -> Engine | None:
    """The engine saved in ``settings.state`` (None when that folder holds none), read once.

    Raises
    ------
    StateFileError
        The state is unreadable or inconsistent, or was saved with a custom encoder that
        ``banditroute serve`` cannot rebuild (the message names it and says what to do).
    """
    path = state_file(settings)
    if path is None:
        return None
    given = None
    if settings.embedder is not None:
        from ..static_embedder import EMBEDDER_CHOICES

        given = make_embedder(EMBEDDER_CHOICES[settings.embedder])
    try:
        engine = Engine.load(path.parent, embedder=given)
    except CustomEncoderState as exc:
        raise StateFileError(
            f"the saved state {str(path)!r} was written with the custom encoder "
            f"{exc.encoder!r}, "
            "which banditroute serve cannot rebuild (it builds the static, minilm and hashing "
            "encoders by name): give --state a new folder to start afresh with a built-in "
            "encoder, or use this state from Python with "
            "Engine.load(folder, embedder=<that encoder>)"
        ) from exc
    warm(engine.embedder)
    return engine


def open_decision_log(
    settings: ServeSettings, embedder: Embedder, *, background: bool = True
) -> DecisionStore | None:
    """The decision log ``settings.store`` for an engine encoding with ``embedder`` (None: no
    log); a log written with another encoder is refused when the engine attaches it."""
    if settings.store is None:
        return None
    from ..store.decision_store import DecisionStore  # lazy: lancedb

    return DecisionStore(
        settings.store,
        embedding_dim=embedder.dim,
        embedder=embedder_name(embedder),
        flush_interval_s=settings.store_flush_interval_s,
        outcome_wait_s=settings.store_outcome_wait_s,
        background=background,
    )
