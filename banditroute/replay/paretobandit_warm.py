"""ParetoBandit warm-started as its users warm it: its own warm-up-prior tooling on logged labels.

A replay's warm start is full-information logged data (every model's outcome on every prompt
of the train log). ParetoBandit's users turn such data into priors with its calibration API,
``pareto_bandit.generate_warmup_priors(rewards_data, encoder_model, pca, ...)``, and load them
with ``BanditRouter.create(priors="<file>.joblib")``. That is what `warm_choices` does:

1. `rewards_data`: its input format, ``{"prompt": text, "rewards": {model: quality}}`` per
   logged prompt (quality only: it learns quality and charges cost at selection; pairs without
   a quality are left out).
2. `build_priors`: ``generate_warmup_priors`` on those rows, fed the replay's own prompt
   vectors as ``precomputed_raw_embeddings`` (keyed by the prompt's sha256, as it asks), through
   its shipped PCA-25 for MiniLM vectors (384 wide, its encoder). Vectors of another width are
   not its encoder's: a PCA of 25 components is fitted on the warm prompts' L2-normalised vectors
   (what its ``train_pca`` does after encoding) and used both for the priors and for routing,
   as its calibration docs prescribe for a custom encoder. Built once per warm stream.
3. ``BanditRouter.create(priors=<file>)`` with its defaults otherwise (``BEST_K3_HPARAMS``: alpha
   0.01, ``prior_n_effective`` 1163.9, forgetting 0.997, its settings for warm-up priors), the
   replay's λ mapped to its ``cost_penalty`` (`paretobandit_peer.cost_penalty_for`), seeded;
   then it routes the test log learning online from bandit feedback, as the cold router does.

>>> import numpy as np
>>> from banditroute.outcome_log import OutcomeLog
>>> log = OutcomeLog(["2+2?", "a poem"], ["math", "chat"], ["small", "large"],
...                  np.array([[1.0, np.nan], [0.25, 0.75]]), np.zeros((2, 2)))
>>> for row in rewards_data(log):
...     print(row)
{'prompt': '2+2?', 'rewards': {'small': 1.0}}
{'prompt': 'a poem', 'rewards': {'small': 0.25, 'large': 0.75}}
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BanditRouteError
from ..outcome_log import OutcomeLog
from .paretobandit_peer import (
    MINILM_WIDTH,
    cost_penalty_for,
    model_registry,
    normalised_prices,
    paretobandit_features,
    quiet_package,
    route_stream,
)
from .routers import RouteJob, Stream

__all__ = ["WarmPriors", "build_priors", "rewards_data", "warm_choices", "warm_router"]

PCA_COMPONENTS = 25  #: its ``BEST_K3_HPARAMS["pca_components"]``, for a PCA fitted here


def rewards_data(log: OutcomeLog) -> list[dict[str, Any]]:
    """Its calibration input: each logged prompt with every model's quality (NaN pairs left
    out; prompts without any quality left out)."""
    rows = []
    for prompt, qualities in zip(log.prompts, log.quality, strict=True):
        rewards = {m: float(q) for m, q in zip(log.models, qualities, strict=True) if q == q}
        if rewards:
            rows.append({"prompt": prompt, "rewards": rewards})
    return rows


@dataclass(frozen=True)
class WarmPriors:
    """A warm-up priors file written by its ``generate_warmup_priors``.

    Parameters
    ----------
    path : Path
        The ``.joblib`` file ``BanditRouter.create(priors=...)`` loads.
    pca_path : Path
        The PCA its features go through (its shipped one for MiniLM vectors).
    models : tuple of str
        Models the priors cover.
    n_prompts : int
        Logged prompts they were fitted on.
    """

    path: Path
    pca_path: Path
    models: tuple[str, ...]
    n_prompts: int


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float64)


def _pca_for(warm: Stream, folder: Path) -> Path:
    import joblib
    from pareto_bandit.config import DEFAULT_PCA_PATH
    from sklearn.decomposition import PCA

    if warm.embeddings.shape[1] == MINILM_WIDTH:
        return Path(DEFAULT_PCA_PATH)
    unit = _unit(warm.embeddings)
    components = min(PCA_COMPONENTS, unit.shape[1], unit.shape[0] - 1)
    pca = PCA(n_components=components, random_state=0).fit(unit)
    path = folder / "pca.joblib"
    joblib.dump(pca, path)
    return path


def build_priors(warm: Stream, folder: Path) -> WarmPriors:
    """Run its ``generate_warmup_priors`` on ``warm``'s labels and vectors; files in ``folder``."""
    from pareto_bandit import generate_warmup_priors
    from pareto_bandit.config import DEFAULT_SENTENCE_TRANSFORMER

    pca_path = _pca_for(warm, folder)
    unit = _unit(warm.embeddings)
    raw = {
        hashlib.sha256(p.encode("utf-8")).hexdigest(): unit[i]
        for i, p in enumerate(warm.log.prompts)
    }
    rows = rewards_data(warm.log)
    path = folder / "priors.joblib"
    with quiet_package(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its shipped PCA was pickled by an older scikit-learn
        state = generate_warmup_priors(
            rows,
            encoder_model=DEFAULT_SENTENCE_TRANSFORMER,  # loaded only on a cache miss: none here
            pca=pca_path,
            precomputed_raw_embeddings=raw,
            output_path=path,
        )
    if state["n_prompts"] != len(rows):  # it skips rows it cannot use without saying why
        raise BanditRouteError(
            f"ParetoBandit's generate_warmup_priors used {state['n_prompts']} of {len(rows)} "
            "warm-start prompts"
        )
    return WarmPriors(path, pca_path, tuple(state["models"]), int(state["n_prompts"]))


def warm_router(
    models: list[Any], priors: WarmPriors, dim: int, cost_penalty: float, seed: int
) -> Any:
    """``BanditRouter.create(priors=<its priors file>)`` on pre-computed features, its defaults
    otherwise (its tuned settings for warm-up priors)."""
    from pareto_bandit import BanditRouter, FeatureService
    from pareto_bandit.storage import EphemeralContextStore

    with quiet_package():
        return BanditRouter.create(
            model_registry=model_registry(models),
            feature_service=FeatureService.for_precomputed(dim),
            context_store=EphemeralContextStore(),
            priors=str(priors.path),
            cost_penalty=cost_penalty,
            bandit_seed=seed,
        )


class _Built:
    """The priors of the last warm stream seen (a replay runs every λ and seed on one)."""

    def __init__(self) -> None:
        self.warm: Stream | None = None
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.priors: WarmPriors | None = None

    def priors_for(self, warm: Stream) -> WarmPriors:
        if self.warm is not warm or self.priors is None:
            self.folder = tempfile.TemporaryDirectory(prefix="paretobandit-priors-")
            self.priors = build_priors(warm, Path(self.folder.name))
            self.warm = warm
        return self.priors


_BUILT = _Built()


def warm_choices(job: RouteJob) -> np.ndarray:
    """The ``paretobandit`` replay router with warm-start data: priors from ``job.warm``'s labels
    by its own tooling, then it routes ``job.test`` in ``job.order``, learning online."""
    assert job.warm is not None
    priors = _BUILT.priors_for(job.warm)
    features = paretobandit_features(job.test.embeddings, priors.pca_path)
    assert features is not None
    log = job.test.log
    penalty = cost_penalty_for(
        job.cost_weight, log.cost.mean(axis=0), normalised_prices(job.models)
    )
    router = warm_router(job.models, priors, features.shape[1], penalty, job.seed)
    with quiet_package():
        return np.asarray(route_stream(router, features, log, job.order), dtype=np.intp)
