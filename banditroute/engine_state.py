"""Saving and loading an `Engine`: each part's parameters and learned arrays, one file.

Every stateful part follows one convention: ``get_params()`` (its constructor arguments, see
`banditroute.params.Configurable`) plus its learned arrays under a prefix; `banditroute.state`
writes them atomically as one ``.npz`` with a JSON header, and validates what it reads. Files
written by earlier versions load (their embedder is recorded by kind rather than by name).

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

from .drift import DriftEvent, DriftMonitor
from .embedders import Embedder, embedder_name, make_embedder
from .errors import InvalidInput, StateFileError
from .estimates import CallEstimator
from .evaluation.evaluator import Evaluator
from .features import ContextBuilder
from .pending import PendingDecision
from .policies import POLICIES, PolicyState
from .registry import Registry, RegistryChange
from .reward import Tradeoff
from .state import read_state, write_state

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["STATE_FILE", "load", "save"]

STATE_FILE = "engine.npz"
_LEGACY_KINDS = {"minilm": "minilm-clip200-500"}


def save(engine: Engine, folder: Path) -> Path:
    """Write ``engine`` into ``folder`` (the caller holds its lock); return the file."""
    learner = engine.learner
    state = learner.policy.get_state()
    pending = engine._pending.snapshot()
    header = {
        "registry": learner.registry.to_records(),
        "registry_history": [vars(c) for c in learner.registry.history],
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
            {"id": i, "model": p.model, "prompt_tokens": p.prompt_tokens} for i, p in pending
        ],
    }
    contexts = [p.context for _, p in pending]
    arrays = {
        **state.arrays,
        **learner.estimator.arrays(),
        **engine.evaluator.calibration.arrays("evaluator_"),
        "pending_contexts": np.array(contexts) if contexts else np.zeros((0, engine.context.dim)),
        "pending_predicted": np.array(
            [np.nan if p.predicted_quality is None else p.predicted_quality for _, p in pending]
        ),
    }
    target = folder / STATE_FILE
    write_state(target, header, arrays)
    return target


def load(cls: type[Engine], folder: Path, embedder: Embedder | None) -> Engine:
    """Rebuild an engine from what `save` wrote; `StateFileError` when it is inconsistent."""
    header, arrays = read_state(folder / STATE_FILE)
    try:
        return _from_state(cls, header, arrays, embedder)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, StateFileError):
            raise
        raise StateFileError(f"saved engine state is inconsistent: {exc!r}") from None


def _embedder(spec: dict[str, Any], given: Embedder | None) -> Embedder:
    if given is not None:
        return given
    name = spec.get("name")
    if name is None:  # written before embedders had names
        kind = spec["kind"]
        name = f"hashing{int(spec['dim'])}" if kind == "hashing" else _LEGACY_KINDS.get(kind)
    if name is None or str(name).startswith("custom"):
        raise StateFileError("this state used a custom embedder: pass embedder=... to load")
    try:
        return make_embedder(str(name))
    except InvalidInput as exc:
        raise StateFileError(f"saved embedder name is not usable: {exc}") from None


def _from_state(
    cls: type[Engine],
    header: dict[str, Any],
    arrays: dict[str, np.ndarray],
    embedder: Embedder | None,
) -> Engine:
    policy_info = header["policy"]
    if policy_info["name"] not in POLICIES:
        raise StateFileError(f"unknown policy {policy_info['name']!r} in saved state")
    policy = POLICIES[policy_info["name"]](**policy_info["params"])
    policy.set_state(PolicyState(list(header["policy_arms"]), arrays, header["rng_state"]))
    registry = Registry.from_records(header["registry"], origin="saved state")
    registry.history = [RegistryChange(**c) for c in header["registry_history"]]
    engine = cls(
        registry,
        policy=policy,
        embedder=_embedder(header["embedder"], embedder),
        context=ContextBuilder(**header["context"]),
        tradeoff=Tradeoff(**header["tradeoff"]),
        estimator=CallEstimator.from_records(header["estimator"], arrays),
        max_pending=int(header["max_pending"]),
        drift=None if header["drift"] is None else DriftMonitor(**header["drift"]),
    )
    if "evaluator" in header:  # states from before the evaluator keep the default
        engine.evaluator = Evaluator.from_params(header["evaluator"], engine.embedder)
        engine.evaluator.calibration.load_arrays(arrays, "evaluator_")
    engine.learner.restore_counts(int(header["feedback_count"]))
    engine.drift_events.extend(DriftEvent(**e) for e in header["drift_events"])
    contexts = arrays["pending_contexts"]
    predicted = arrays.get("pending_predicted", np.full(len(contexts), np.nan))
    for row, q, item in zip(contexts, predicted, header["pending"], strict=True):
        pending = PendingDecision(
            item["model"], row, int(item["prompt_tokens"]), None if np.isnan(q) else float(q)
        )
        engine._pending.add(item["id"], pending)
    return engine
