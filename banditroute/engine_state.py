"""Saving and loading an `Engine`: each part's parameters and learned arrays, one file.

Every stateful part follows one convention: ``get_params()`` (its constructor arguments, see
`banditroute.params.Configurable`) plus its learned arrays under a prefix; `banditroute.state`
writes them atomically as one ``.npz`` with a JSON header. A state file is untrusted input:
every field is checked on load (type, finiteness, range, and sizes against what the registry,
the embedder and the saved configuration imply) and the first bad one is named in a
`StateFileError`; the part-by-part checks live in `banditroute.state_parts` (the drift
handling's running state, probations and kept posteriors, in `banditroute.drift_state`). Files
written by earlier versions load (their embedder is recorded by kind rather than by name; with
no saved drift state, no model is on probation).

>>> import tempfile
>>> from banditroute import Engine, ModelProfile, HashingEmbedder
>>> engine = Engine([ModelProfile(id="m", provider="p", input_usd_per_mtok=1,
...                               output_usd_per_mtok=1)], embedder=HashingEmbedder(16), seed=0)
>>> folder = tempfile.mkdtemp()
>>> _ = engine.save(folder)
>>> Engine.load(folder).embedder.name
'hashing16'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .drift_state import drift_state, load_drift_state
from .embedders import Embedder, embedder_name
from .errors import InvalidInput, StateFileError, check_path
from .estimates import CallEstimator
from .reward import Tradeoff
from .state import read_state, write_state
from .state_parts import (
    check_dim,
    load_context,
    load_drift,
    load_drift_events,
    load_embedder,
    load_evaluator,
    load_pending,
    load_policy,
    load_registry,
)
from .untrusted import as_int, as_table, state_field

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["STATE_FILE", "load", "save"]

STATE_FILE = "engine.npz"
_REQUIRED = (
    "registry",
    "registry_history",
    "policy",
    "policy_arms",
    "rng_state",
    "estimator",
    "embedder",
    "context",
    "tradeoff",
    "max_pending",
    "feedback_count",
    "drift",
    "drift_events",
    "pending",
)


def state_folder(path: object) -> Path:
    """``path`` as the folder of a saved engine, or `InvalidInput` for anything not a path.

    >>> state_folder("models/engine").name
    'engine'
    >>> state_folder(3)
    Traceback (most recent call last):
    ...
    banditroute.errors.InvalidInput: path == 3, must be a folder path (str or os.PathLike)
    """
    return check_path("path", path, "a folder path (str or os.PathLike)")


def save(engine: Engine, folder: Path) -> Path:
    """Write ``engine`` into ``folder`` (the caller holds its lock); return the file."""
    learner = engine.learner
    if len(learner.registry) == 0:  # emptied behind the engine's back: it could not be loaded
        raise InvalidInput("an engine without models cannot be saved: add a model first")
    state = learner.policy.get_state()
    pending = engine._pending.snapshot()
    header = {
        "registry": learner.registry.to_records(),
        "registry_history": [c.to_record() for c in learner.registry.history],
        "policy": {"name": learner.policy.name, "params": learner.policy.get_params()},
        "policy_arms": state.arms,
        "rng_state": state.rng_state,
        "estimator": learner.estimator.to_records(),
        "embedder": {"name": embedder_name(engine.embedder)},
        "context": engine.context.get_params(),
        "tradeoff": learner.tradeoff.model_dump(),
        "max_pending": engine.max_pending,
        "feedback_count": learner.feedback_count,
        "drift": None if learner.drift is None else learner.drift.get_params(),
        "drift_events": [vars(e) for e in learner.drift_events],
        "evaluator": engine.evaluator.get_params(),
        "pending": [
            {"id": i, "model": p.model, "prompt_tokens": p.prompt_tokens}
            | ({"probe": True} if p.probe else {})
            for i, p in pending
        ],
    }
    running = None if learner.drift is None else drift_state(learner, engine.context.dim)
    if running is not None:  # probations, kept posteriors, detector tracks
        header["drift_state"] = running.header
    contexts = [p.context for _, p in pending]
    arrays = {
        **state.arrays,
        **learner.estimator.arrays(),
        **engine.evaluator.state_arrays("evaluator_"),
        "pending_contexts": np.array(contexts) if contexts else np.zeros((0, engine.context.dim)),
        "pending_predicted": np.array(
            [np.nan if p.predicted_quality is None else p.predicted_quality for _, p in pending]
        ),
        **({} if running is None else running.arrays),
    }
    target = folder / STATE_FILE
    try:
        write_state(target, header, arrays)
    except OSError as exc:  # full disk, read-only folder, ...: the previous state is intact
        raise StateFileError(f"cannot write the engine state {str(target)!r}: {exc}") from exc
    return target


def load(cls: type[Engine], folder: Path, embedder: Embedder | None) -> Engine:
    """Rebuild an engine from what `save` wrote; `StateFileError` names the first bad field."""
    header, arrays = read_state(folder / STATE_FILE)
    try:
        return _from_state(cls, as_table("header", header, _REQUIRED), arrays, embedder)
    except StateFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:  # a safety net
        raise StateFileError(f"saved engine state is inconsistent: {exc!r}") from None


def _from_state(
    cls: type[Engine],
    header: dict[str, Any],
    arrays: dict[str, np.ndarray],
    embedder: Embedder | None,
) -> Engine:
    registry = load_registry(header["registry"], header["registry_history"])
    embedder = load_embedder(header["embedder"], embedder)
    context = load_context(header["context"], embedder.dim)
    policy = load_policy(header["policy"], header["policy_arms"], header["rng_state"], arrays)
    check_dim("quality_inv_gram", policy.context_dim, context.dim)
    with state_field("estimator"):
        estimator = CallEstimator.from_records(header["estimator"], arrays)
    check_dim("answer_tokens_inv_gram", estimator.answer_tokens.dim, context.dim)
    with state_field("tradeoff"):
        tradeoff = Tradeoff(**as_table("tradeoff", header["tradeoff"]))
    max_pending = as_int("max_pending", header["max_pending"], 1)
    feedback_count = as_int("feedback_count", header["feedback_count"])
    events = load_drift_events(header["drift_events"])
    pending = load_pending(header["pending"], arrays, context.dim, max_pending)
    with state_field("engine"):
        engine = cls(
            registry,
            policy=policy,
            embedder=embedder,
            context=context,
            tradeoff=tradeoff,
            estimator=estimator,
            max_pending=max_pending,
            drift=load_drift(header["drift"]),
        )
    if "evaluator" in header:  # states from before the evaluator keep the default
        engine.evaluator = load_evaluator(header["evaluator"], arrays, engine.embedder)
    engine.learner.restore_counts(feedback_count)
    if "drift_state" in header:  # states from before it was saved: no probation
        load_drift_state(engine.learner, header["drift_state"], arrays, context.dim)
    engine.drift_events.extend(events)
    for key, item in pending:
        engine._pending.add(key, item)
    return engine
