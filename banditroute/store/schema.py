"""The decision log's tables as Arrow schemas, and the schema version written beside them.

>>> from banditroute.store.schema import decision_schema, SCHEMA_VERSION
>>> decision_schema(384).field("embedding").type
FixedSizeListType(fixed_size_list<item: float>[384])
>>> SCHEMA_VERSION
1
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["SCHEMA_VERSION", "calls_schema", "decision_schema", "drift_schema", "registry_schema"]

SCHEMA_VERSION = 1


def decision_schema(embedding_dim: int) -> pa.Schema:
    """One row per decision, with its outcome once feedback arrived (nulls before)."""
    return pa.schema(
        [
            ("id", pa.string()),
            ("time", pa.float64()),  # seconds since the epoch, UTC
            ("prompt", pa.string()),  # null when prompts are not stored (redact hook)
            ("embedding", pa.list_(pa.float32(), embedding_dim)),
            ("constraints", pa.string()),  # JSON of the non-default constraints
            ("model", pa.string()),
            ("fallbacks", pa.list_(pa.string())),
            ("propensity", pa.float64()),
            ("policy", pa.string()),
            ("prompt_tokens", pa.int64()),
            ("expected_quality", pa.float64()),
            ("expected_cost_usd", pa.float64()),
            ("expected_latency_ms", pa.float64()),
            ("candidates", pa.list_(pa.string())),  # every feasible model, best first
            ("candidate_quality", pa.list_(pa.float64())),  # their expected quality, same order
            ("has_outcome", pa.bool_()),
            ("quality", pa.float64()),
            ("cost_usd", pa.float64()),
            ("latency_ms", pa.float64()),
            ("reward", pa.float64()),
            ("error", pa.string()),
        ]
    )


def registry_schema() -> pa.Schema:
    """One row per model per snapshot (the registry's state after each change)."""
    return pa.schema(
        [
            ("time", pa.float64()),
            ("snapshot", pa.int64()),
            ("model", pa.string()),
            ("profile", pa.string()),  # JSON of the ModelProfile
            ("change", pa.string()),  # what triggered the snapshot
        ]
    )


def drift_schema() -> pa.Schema:
    """One row per drift event."""
    return pa.schema(
        [
            ("id", pa.string()),
            ("time", pa.float64()),
            ("step", pa.int64()),
            ("model", pa.string()),
            ("signal", pa.string()),
            ("mean_before", pa.float64()),
            ("mean_after", pa.float64()),
        ]
    )


def calls_schema() -> pa.Schema:
    """One row per gateway call that ended: served, failed or a cache hit (see `CallRecord`)."""
    return pa.schema(
        [
            ("call_id", pa.string()),
            ("ts", pa.float64()),  # seconds since the epoch, UTC
            ("decision_id", pa.string()),  # "" for a cache hit
            ("model", pa.string()),  # the model served, "" when none answered
            ("cache", pa.string()),  # "", "exact" or "semantic"
            ("ok", pa.bool_()),
            ("cost_usd", pa.float64()),
            ("latency_ms", pa.float64()),
            ("n_attempts", pa.int64()),
            ("attempts", pa.string()),  # JSON list of {model, error, latency_ms, status}
            ("tags", pa.string()),  # JSON list
        ]
    )
