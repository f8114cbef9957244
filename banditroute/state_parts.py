"""Each part of a saved engine state, checked and rebuilt (used by `banditroute.engine_state`).

Every function takes the values read from the file, checks their types, ranges and sizes
(against the registry, the embedder and the saved configuration) and returns the rebuilt part,
or raises `StateFileError` naming the field. Nothing is allocated from a saved size before
it is bounded: the embedder and its projection, the context length and every array's shape.

>>> from banditroute.state_parts import load_context
>>> load_context({"embedding_dim": 16, "n_components": 8, "seed": 0}, 16).dim
10
>>> load_context({"embedding_dim": 10**9, "n_components": 8, "seed": 0}, 16)
... # doctest: +ELLIPSIS
Traceback (most recent call last):
...
banditroute.errors.StateFileError: saved context.embedding_dim == 1000000000, must be an int ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .drift import DriftEvent, DriftMonitor
from .embedders import (
    MAX_EMBEDDING_DIM,
    Embedder,
    check_embedder,
    embedder_name,
    make_embedder,
    same_embedder,
)
from .errors import InvalidInput, StateFileError
from .evaluation.evaluator import Evaluator
from .features import MAX_CONTEXT_DIM, MAX_PROJECTION, ContextBuilder
from .pending import PendingDecision
from .policies import POLICIES, Policy, PolicyState
from .registry import Registry, RegistryChange
from .untrusted import (
    as_float,
    as_int,
    as_list,
    as_str,
    as_table,
    exact_table,
    float_array,
    state_field,
)

__all__ = [
    "MAX_CONTEXT_DIM",
    "MAX_EMBEDDING_DIM",
    "MAX_PROJECTION",
    "CustomEncoderState",
    "check_dim",
    "load_context",
    "load_drift",
    "load_drift_events",
    "load_embedder",
    "load_evaluator",
    "load_pending",
    "load_policy",
    "load_registry",
]

_LEGACY_KINDS = {"minilm": "minilm-clip200-500"}
_SIGNALS = ("quality", "latency", "errors")


def check_dim(array: str, learned: int | None, expected: int) -> None:
    """A learned context length must be the context builder's."""
    if learned is not None and learned != expected:
        raise StateFileError(
            f"saved array {array!r} is for contexts of length {learned}, but the saved context "
            f"makes vectors of length {expected}"
        )


def load_registry(records: object, history: object) -> Registry:
    """The registry (at least one model) and its change history (`RegistryChange.from_record`;
    a history saved before profiles were kept, with one ``time``, follows the models' adds)."""
    with state_field("registry"):
        registry = Registry.from_records(records, origin="registry")
    if len(registry) == 0:
        raise StateFileError("saved registry holds no model (an engine needs one)")
    changes, legacy = [], False
    for i, item in enumerate(as_list("registry_history", history)):
        where = f"registry_history[{i}]"
        if isinstance(item, dict) and "time" in item:  # saved before profiles were kept
            legacy = True
            item = dict(exact_table(where, item, ("time", "action", "model_id", "detail")))
            item["valid_from"] = item["recorded_at"] = item.pop("time")
        with state_field(where):
            changes.append(RegistryChange.from_record(item, where))
    registry.history = [*registry.history, *changes] if legacy else changes
    return registry


class CustomEncoderState(StateFileError):
    """The state names an encoder no built-in one has (the user's own): ``encoder`` is its
    name (cut to 60 characters); load it with ``embedder=`` that encoder."""

    def __init__(self, message: str, encoder: object) -> None:
        super().__init__(message)
        self.encoder = f"{encoder:.60}"


def load_embedder(spec: object, given: Embedder | None) -> Embedder:
    """The embedder passed to `Engine.load`, else the built-in one the state names
    (`CustomEncoderState` when no built-in encoder has its name)."""
    saved = as_table("embedder", spec)
    name = label = saved.get("name")
    if name is None:  # written before embedders had names
        kind = label = as_str("embedder.kind", saved.get("kind"))
        dim = (
            as_int("embedder.dim", saved.get("dim"), 2, MAX_EMBEDDING_DIM)
            if kind == "hashing"
            else 0
        )
        name = f"hashing{dim}" if kind == "hashing" else _LEGACY_KINDS.get(kind)
    if given is not None:
        given = check_embedder(given)
        _check_same(name, embedder_name(given))
        return given
    if name is None or str(name).startswith("custom"):
        raise CustomEncoderState(
            "this state used a custom embedder: pass embedder=... to load", label
        )
    name = as_str("embedder.name", name)
    try:
        embedder = make_embedder(name)
    except InvalidInput as exc:  # a name no built-in encoder has
        raise CustomEncoderState(f"saved embedder.name is invalid: {exc}", name) from None
    if embedder.dim > MAX_EMBEDDING_DIM:
        raise StateFileError(f"saved embedder {name!r} is larger than {MAX_EMBEDDING_DIM} dims")
    return embedder


def _check_same(saved: object, given: str) -> None:
    """Refuse an encoder other than the one the state learned with (both known by name)."""
    if not isinstance(saved, str) or saved.startswith("custom") or given.startswith("custom"):
        return  # an encoder of the user's own: only its size can be checked
    if not same_embedder(saved, given):
        raise StateFileError(
            f"this state was learned on the encoder {saved!r}, not {given!r}: its posteriors "
            "mean nothing for other vectors; load it with that encoder (or no embedder=) "
            "or start a new state"
        )


def load_context(spec: object, embedding_dim: int) -> ContextBuilder:
    """The context builder; its sizes are bounded before its projection is drawn."""
    saved = as_table("context", spec, ("embedding_dim", "n_components", "seed"))
    dim = as_int("context.embedding_dim", saved["embedding_dim"], 1, MAX_EMBEDDING_DIM)
    if dim != embedding_dim:
        raise StateFileError(
            f"saved context.embedding_dim == {dim}, must be {embedding_dim} (the embedder's dim)"
        )
    n = saved["n_components"]
    if n is not None:
        n = as_int("context.n_components", n, 1, MAX_EMBEDDING_DIM)
    projected = dim if n is None or n >= dim else n
    if projected + 2 > MAX_CONTEXT_DIM or (projected < dim and dim * projected > MAX_PROJECTION):
        raise StateFileError(
            f"saved context (embedding_dim {dim}, n_components {n}) is too large: contexts are "
            f"at most {MAX_CONTEXT_DIM} long and projections at most {MAX_PROJECTION} numbers"
        )
    seed = as_int("context.seed", saved["seed"])
    with state_field("context"):
        return ContextBuilder(**{**saved, "embedding_dim": dim, "n_components": n, "seed": seed})


def load_policy(
    spec: object, arms: object, rng_state: object, arrays: dict[str, np.ndarray]
) -> Policy:
    """The policy with its posteriors (`Policy.set_state` checks the arrays)."""
    info = exact_table("policy", spec, ("name", "params"))
    name = as_str("policy.name", info["name"])
    if name not in POLICIES:
        raise StateFileError(f"unknown policy {name!r:.60} in saved state")
    with state_field("policy.params"):
        policy = POLICIES[name](**as_table("policy.params", info["params"]))
    policy.set_state(PolicyState(as_list("policy_arms", arms), arrays, rng_state))  # type: ignore[arg-type]
    return policy


def load_drift(spec: object) -> DriftMonitor | None:
    """The drift monitor's settings (its detectors start afresh)."""
    if spec is None:
        return None
    with state_field("drift"):
        return DriftMonitor(**as_table("drift", spec))


def load_drift_events(items: object) -> list[DriftEvent]:
    """The drift events detected so far (a mean may be NaN: not known at detection)."""
    events = []
    fields = ("model", "signal", "step", "mean_before", "mean_after", "time")
    for i, item in enumerate(as_list("drift_events", items)):
        where = f"drift_events[{i}]"
        e = exact_table(where, item, fields)
        if e["signal"] not in _SIGNALS:
            raise StateFileError(
                f"saved {where}.signal == {e['signal']!r:.40}, must be quality, latency or errors"
            )
        events.append(
            DriftEvent(
                as_str(f"{where}.model", e["model"]),
                e["signal"],
                as_int(f"{where}.step", e["step"]),
                as_float(f"{where}.mean_before", e["mean_before"], nan=True),
                as_float(f"{where}.mean_after", e["mean_after"], nan=True),
                as_float(f"{where}.time", e["time"], 0.0),
            )
        )
    return events


class _Blank:
    """A one-dimensional embedder of zeros: measures the evaluator's own feature count."""

    dim = 1

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), 1))


def load_evaluator(spec: object, arrays: dict[str, np.ndarray], embedder: Embedder) -> Evaluator:
    """The evaluator's settings and its calibration (sized by the embedder)."""
    saved = as_table("evaluator", spec, ("weights", "response_chars", "penalty"))
    as_table("evaluator.weights", saved["weights"])
    chars = as_int("evaluator.response_chars", saved["response_chars"], 1)
    penalty = as_float("evaluator.penalty", saved["penalty"], 0.0, above=True)
    with state_field("evaluator"):
        evaluator = Evaluator.from_params(
            {**saved, "response_chars": chars, "penalty": penalty}, embedder
        )
        evaluator.load_text_arrays(arrays, "evaluator_")  # its text model, when it has one
    count = float_array("evaluator_count", arrays, (1,), low=0.0)
    if count[0] != math.floor(count[0]):
        raise StateFileError("saved array 'evaluator_count' must hold an int >= 0")
    if count[0] > 0:
        own = Evaluator(embedder=_Blank()).features(["a"], ["b"]).shape[1] - _Blank.dim
        d = own + embedder.dim + evaluator.text_columns
        checked = {"evaluator_count": count.astype(np.int64)}
        for part, shape in (("gram", (d, d)), ("moment", (d,)), ("raw_sum", (d,))):
            checked[f"evaluator_{part}"] = float_array(f"evaluator_{part}", arrays, shape)
        checked["evaluator_raw_gram"] = float_array("evaluator_raw_gram", arrays, (d, d))
        with state_field("evaluator calibration"):
            evaluator.calibration.load_arrays(checked, "evaluator_")
    return evaluator


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise StateFileError(f"saved {name} == {value!r:.40}, must be true or false")
    return value


def load_pending(
    items: object, arrays: dict[str, np.ndarray], context_dim: int, max_pending: int
) -> list[tuple[str, PendingDecision]]:
    """Decisions awaiting feedback, with their context vectors and predicted qualities."""
    rows = as_list("pending", items)
    if len(rows) > max_pending:
        raise StateFileError(f"saved pending holds {len(rows)} decisions, more than max_pending")
    n = len(rows)
    contexts = float_array("pending_contexts", arrays, (n, context_dim))
    predicted = (
        float_array("pending_predicted", arrays, (n,), nan=True)
        if "pending_predicted" in arrays
        else np.full(n, np.nan)
    )
    pending: dict[str, PendingDecision] = {}
    for i, (item, row, q) in enumerate(zip(rows, contexts, predicted, strict=True)):
        where = f"pending[{i}]"
        fields = ("id", "model", "prompt_tokens", "probe")
        p = exact_table(
            where, item, fields if isinstance(item, dict) and "probe" in item else fields[:3]
        )
        key = as_str(f"{where}.id", p["id"])
        if key in pending:
            raise StateFileError(f"saved {where}.id == {key!r:.60} appears twice")
        pending[key] = PendingDecision(
            as_str(f"{where}.model", p["model"]),
            row,
            as_int(f"{where}.prompt_tokens", p["prompt_tokens"]),
            None if np.isnan(q) else float(q),
            probe=_flag(f"{where}.probe", p.get("probe", False)),
        )
    return list(pending.items())
