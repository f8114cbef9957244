"""Model profiles and the registry that holds them (TOML / JSON, validated, with change history).

>>> from banditroute.registry import ModelProfile, Registry
>>> reg = Registry([ModelProfile(id="small", provider="acme", input_usd_per_mtok=0.2,
...                              output_usd_per_mtok=0.2)])
>>> reg.add(ModelProfile(id="big", provider="acme", input_usd_per_mtok=10, output_usd_per_mtok=30))
>>> reg.deprecate("small", replacement="big")
>>> [m.id for m in reg.active()], [c.action for c in reg.history]
(['big'], ['add', 'add', 'deprecate'])
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from pydantic import Field, field_validator

from ._validation import StrictModel
from .errors import InvalidInput, RegistryError, UnknownModel, check_path, check_real, shown
from .gateway.connection import Connection
from .untrusted import check_depth

#: Top-level tables of a registry file that configure the gateway (`GatewayConfig`), not models.
GATEWAY_TABLES = frozenset({"gateway", "preset", "budget", "pacing"})
#: Top-level tables read by other parts: ``[serve]`` (`banditroute.serve.ServeSettings`).
SERVICE_TABLES = frozenset({"serve"})

__all__ = [
    "MAX_LATENCY_MS",
    "MAX_USD_PER_MTOK",
    "ModelProfile",
    "Registry",
    "RegistryChange",
    "example_registry_path",
    "read_config",
]

MAX_USD_PER_MTOK = 1_000_000.0  #: highest price accepted (USD per million tokens): $1 a token
MAX_LATENCY_MS = 86_400_000.0  #: longest typical latency accepted: a day


class ModelProfile(StrictModel):
    """What the router knows about one model before calling it.

    Prices are list prices in USD per million tokens; latency is a typical end-to-end figure
    that the engine refines from feedback. ``connection`` says how the gateway calls the model
    (a ``[model.connection]`` table in TOML); None means the model is only routed, not called.
    """

    error_class = RegistryError

    id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    family: str = ""
    capabilities: frozenset[str] = frozenset()
    context_window: int = Field(default=8192, gt=0)
    input_usd_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    output_usd_per_mtok: float = Field(ge=0, le=MAX_USD_PER_MTOK)
    typical_latency_ms: float = Field(default=1000.0, gt=0, le=MAX_LATENCY_MS)
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    deprecated: bool = False
    replacement: str | None = None
    source: str = ""
    connection: Connection | None = None

    @field_validator("capabilities", mode="before")
    @classmethod
    def _lowercase_capabilities(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("capabilities must be a list of names, not one string")
        if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
            try:
                names = list(value)
            except TypeError:  # iterable in name only (a 0-d array, ...)
                raise ValueError("capabilities must be a list of names") from None
            if not all(isinstance(v, str) for v in names):
                raise ValueError("capabilities must be names (str)")
            return frozenset(v.strip().lower() for v in names)
        return value

    def cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """Price of one call with these token counts.

        >>> m = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=2)
        >>> m.cost_usd(1000, 500)
        0.002
        """
        input_tokens = check_real("input_tokens", input_tokens)
        output_tokens = check_real("output_tokens", output_tokens)
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1e6


@dataclass(frozen=True)
class RegistryChange:
    """One run-time edit of the registry."""

    time: float
    action: str  # "add" | "remove" | "deprecate"
    model_id: str
    detail: str = ""


class Registry:
    """An ordered, validated set of `ModelProfile`, with a history of changes.

    Parameters
    ----------
    models : iterable of ModelProfile
        Initial models; ids must be unique.
    """

    def __init__(self, models: Iterable[ModelProfile] = ()) -> None:
        self._models: dict[str, ModelProfile] = {}
        self.history: list[RegistryChange] = []
        if isinstance(models, str | bytes | Mapping) or not isinstance(models, Iterable):
            raise RegistryError(f"models == {shown(models)}, must be an iterable of ModelProfile")
        try:
            listed = list(models)
        except TypeError:  # iterable in name only (a 0-d array, ...)
            raise RegistryError(
                f"models == {shown(models)}, must be an iterable of ModelProfile"
            ) from None
        for model in listed:
            self.add(model)

    # -- queries -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[ModelProfile]:
        return iter(self._models.values())

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id in self._models

    def __getitem__(self, model_id: str) -> ModelProfile:
        model = self._models.get(model_id) if isinstance(model_id, str) else None
        if model is None:
            raise UnknownModel(
                f"model {shown(model_id)} is not in the registry (known: {', '.join(self.ids)})"
            )
        return model

    @property
    def ids(self) -> list[str]:
        """Model ids in registry order."""
        return list(self._models)

    def active(self) -> list[ModelProfile]:
        """Models that are not deprecated."""
        return [m for m in self._models.values() if not m.deprecated]

    # -- edits -------------------------------------------------------------------------------
    def add(self, model: ModelProfile) -> None:
        """Add a model; its id must be new."""
        if not isinstance(model, ModelProfile):
            raise RegistryError(f"model == {shown(model)}, must be a ModelProfile")
        if model.id in self._models:
            raise RegistryError(f"id == {model.id!r}, must be unique (it is already registered)")
        self._models[model.id] = model
        self.history.append(RegistryChange(time.time(), "add", model.id))

    def remove(self, model_id: str) -> ModelProfile:
        """Remove a model and return its profile."""
        model = self[model_id]
        del self._models[model_id]
        self.history.append(RegistryChange(time.time(), "remove", model_id))
        return model

    def deprecate(self, model_id: str, replacement: str | None = None) -> None:
        """Mark a model deprecated (excluded by default), optionally naming its replacement."""
        if replacement is not None and replacement not in self:
            raise RegistryError(
                f"replacement == {shown(replacement)}, must be a registered model id"
            )
        model = self[model_id]
        self._models[model_id] = model.model_copy(
            update={"deprecated": True, "replacement": replacement}
        )
        self.history.append(RegistryChange(time.time(), "deprecate", model_id, replacement or ""))

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Registry:
        """Read a registry from ``.toml`` or ``.json``: a list of models under ``model``."""
        return cls.from_records(read_config(path), origin=str(path))

    @classmethod
    def from_records(cls, data: object, origin: str = "registry") -> Registry:
        """Build from ``{"model": [{...}, ...]}`` as read from a file."""
        if not isinstance(data, dict) or not isinstance(data.get("model"), list):
            raise RegistryError(f"{origin}: must hold a list of models under the key 'model'")
        unknown = set(data) - {"model"} - GATEWAY_TABLES - SERVICE_TABLES
        if unknown:
            raise RegistryError(f"{origin}: unknown top-level field(s) {sorted(unknown)}")
        models = []
        for index, record in enumerate(data["model"]):
            if not isinstance(record, dict) or not all(isinstance(k, str) for k in record):
                raise RegistryError(f"{origin}: model #{index} must be a table of named fields")
            try:
                models.append(ModelProfile(**record))
            except RegistryError as exc:
                raise RegistryError(f"{origin}: model #{index}: {exc}") from None
        return cls(models)

    def to_records(self) -> dict[str, list[dict[str, object]]]:
        """The file form: ``{"model": [...]}`` with None fields left out."""
        records = []
        for model in self._models.values():
            record = model.model_dump(exclude_none=True)
            record["capabilities"] = sorted(model.capabilities)
            records.append(record)
        return {"model": records}

    def save(self, path: str | Path) -> None:
        """Write ``.toml`` or ``.json``; the format follows the file name."""
        try:
            path = check_path("registry file", path)
        except InvalidInput as exc:
            raise RegistryError(str(exc)) from None
        records = self.to_records()
        if path.suffix.lower() not in (".json", ".toml"):
            raise RegistryError(f"registry file == {str(path)!r}, must end in .toml or .json")
        json_file = path.suffix.lower() == ".json"
        text = json.dumps(records, indent=2) if json_file else tomli_w.dumps(records)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"cannot write registry file {str(path)!r}: {exc}") from None


def read_config(path: str | Path) -> dict[str, object]:
    """The tables of a ``.toml`` or ``.json`` registry file; `RegistryError` for anything else
    (unreadable, not UTF-8, malformed, not a table, nested deeper than `MAX_DEPTH` levels).

    >>> sorted(read_config(example_registry_path()))
    ['model']
    """
    if not isinstance(path, str | os.PathLike):
        raise RegistryError(f"registry file == {shown(path)}, must be a path")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise RegistryError(f"registry file == {str(path)!r}, must end in .toml or .json")
    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise RegistryError(f"cannot read registry file {str(path)!r}: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
        check_depth(data)
    except (ValueError, RecursionError) as exc:  # JSON / TOML / UTF-8 errors are ValueErrors
        raise RegistryError(f"registry file {str(path)!r} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(
            f"registry file {str(path)!r} must hold tables, not a {type(data).__name__}"
        )
    return data


def example_registry_path() -> Path:
    """The shipped registry of the 11 RouterBench models with their list prices (sources inside).

    >>> len(Registry.load(example_registry_path()))
    11
    """
    return Path(__file__).parent / "data" / "routerbench_models.toml"
