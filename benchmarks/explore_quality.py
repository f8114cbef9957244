"""Try changes to the Thompson learner on the tuning sets only (issue #14, third pass).

Variants, each a replay router registered beside ``thompson`` and the Zero router (same seeds,
orders and λ grid as `benchmarks/tune_policy.py`):

* ``km8``, ``km16``, ``km32``: k-means cluster one-hots appended to the context, so each model
  learns a level per cluster. Cold: `MiniBatchKMeans.partial_fit` on the prompts seen so far
  (first fit after ``max(3k, 100)`` prompts, then every 100; earlier prompts get no cluster).
  Warm: fitted on the warm rows, test prompts assigned to the nearest of those centres.
* ``elim``: Thompson sampling among models not confidently dominated at this context (a model
  whose utility mean + 2 sd is below the best one's mean − 2 sd is not sampled).
* ``km16_elim`` and the like: both; ``ctx64``: the 64-dim embedding without projection;
  ``km16_s0.3``: the one-hot scaled by 0.3 (a tighter prior on the cluster levels);
  ``km16_only``: context = bias, log-length and the one-hot (no projected embedding).
* ``evidence``: `EvidenceThompson`, the prior precision chosen by evidence maximisation every
  ``refit_every`` updates (default 500 since it was measured; ``evidence:refit_every=100``,
  ``evidence_noise:joint_noise=true``, ``evidence_wide:alpha_low=0.0625,alpha_high=256``,
  ``evidence_arm:per_model=true``: any name with an ``evidence`` part); the α each run
  settled on is printed to stderr.
* ``NAME:param=value,...``: as in ``tune_policy.py`` (keyword arguments of the policy).

``--warm-split`` splits each task of the data in two by ``sample_id`` (natural order): the
first half is the warm start, the second half is routed (kNN-100 is added then).

    python benchmarks/explore_quality.py ../shared/datasets/mmlupro/mmlupro_train.csv \
        --registry ../shared/datasets/mmlupro/models.toml --variant km16 --variant elim \
        --cache-dir /work/emb-cache
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from banditroute.cli_checks import command_embedder
from banditroute.features import ContextBuilder
from banditroute.outcome_log import OutcomeLog
from banditroute.policies import LinearThompsonSampling
from banditroute.policies.evidence import EvidenceThompson
from banditroute.policies.thompson import probability_of_max
from banditroute.replay.routers import ROUTERS, RouteJob, RouterSpec, Stream, run_engine
from banditroute.replay.runner import prepare

sys.path.insert(0, str(Path(__file__).parent))
from tune_policy import register_variants, replay_and_report, tuning_log, tuning_parser

__all__ = ["ClusterContext", "EliminationThompson", "online_labels", "split_by_sample_id"]


class EliminationThompson(LinearThompsonSampling):
    """Thompson sampling among the models not confidently dominated at this context.

    A model whose utility (mean − penalty) plus ``width`` posterior sd is below the best
    model's utility minus ``width`` sd gets no draw (a utility of −1e9).
    """

    name = "thompson_elim"

    def __init__(self, *, width: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width = float(width)

    def _eligible(self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray) -> np.ndarray:
        utility = mean - penalty
        return np.asarray(utility + self.width * sd >= (utility - self.width * sd).max())

    def _utilities(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, n: int, arms: list[str]
    ) -> np.ndarray:
        drawn = super()._utilities(mean, sd, penalty, n, arms)
        return np.where(self._eligible(mean, sd, penalty), drawn, -1e9)

    def _propensity_fn(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int
    ) -> Callable[[], float]:
        keep = np.flatnonzero(self._eligible(mean, sd, penalty))
        if chosen not in keep:
            return lambda: 0.0
        where = int(np.flatnonzero(keep == chosen)[0])
        centre, scale = (mean - penalty)[keep], self.exploration * sd[keep]
        return partial(probability_of_max, centre, scale, where)

    def propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> float:
        return self._propensity_fn(mean, sd, penalty, chosen)()

    def deferred_propensity(
        self, mean: np.ndarray, sd: np.ndarray, penalty: np.ndarray, chosen: int, arms: list[str]
    ) -> Callable[[], float]:
        return self._propensity_fn(mean, sd, penalty, chosen)


class ClusterContext(ContextBuilder):
    """The usual context of the first ``embedding_dim`` numbers, then the rest as they are
    (the cluster one-hot the router appended to each embedding)."""

    def __init__(
        self,
        embedding_dim: int,
        extra: int,
        n_components: int | None = 32,
        scale: float = 1.0,
        keep_projection: bool = True,
    ) -> None:
        super().__init__(embedding_dim, n_components)
        self.extra, self.scale, self.keep_projection = extra, scale, keep_projection

    def build(self, embedding: np.ndarray, prompt_tokens: int) -> np.ndarray:
        head = super().build(embedding[: self.embedding_dim], prompt_tokens)
        if not self.keep_projection:  # bias and length only
            head = head[:2]
        return np.concatenate([head, self.scale * embedding[self.embedding_dim :]])


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def online_labels(embeddings: np.ndarray, order: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster of each prompt as the router sees it: k-means fitted online on the prompts
    before it in ``order`` (−1: before the first fit, after ``max(3k, 100)`` prompts)."""
    from sklearn.cluster import MiniBatchKMeans

    x = _unit(embeddings)
    labels = np.full(len(x), -1)
    start, batch = max(3 * k, 100), 100
    if len(order) <= start:
        return labels
    km = MiniBatchKMeans(k, random_state=seed, n_init=3, reassignment_ratio=0.0)
    km.partial_fit(x[order[:start]])
    for t in range(start, len(order), batch):
        block = order[t : t + batch]
        labels[block] = km.predict(x[block])
        km.partial_fit(x[block])
    return labels


def warm_labels(warm: np.ndarray, test: np.ndarray, k: int, seed: int) -> tuple[Any, Any]:
    """k-means fitted on the warm rows; labels of warm and test prompts."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(k, random_state=seed, n_init=3).fit(_unit(warm))
    return km.labels_, km.predict(_unit(test))


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(labels), k))
    seen = labels >= 0
    out[np.flatnonzero(seen), labels[seen]] = 1.0
    return out


_LABELS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _cluster_streams(job: RouteJob, k: int) -> tuple[Stream, Stream | None]:
    test, warm = job.test, job.warm
    if warm is None:
        key: tuple[Any, ...] = (id(test.embeddings), k, job.seed, job.order[:8].tobytes())
        if key not in _LABELS:
            _LABELS[key] = (online_labels(test.embeddings, job.order, k, job.seed), None)
        test_labels, warm_part = _LABELS[key]
    else:
        key = (id(test.embeddings), id(warm.embeddings), k, job.seed)
        if key not in _LABELS:
            w, t = warm_labels(warm.embeddings, test.embeddings, k, job.seed)
            _LABELS[key] = (t, w)
        test_labels, warm_part = _LABELS[key]
    new_test = Stream(test.log, np.hstack([test.embeddings, _one_hot(test_labels, k)]))
    new_warm = None
    if warm is not None:
        new_warm = Stream(warm.log, np.hstack([warm.embeddings, _one_hot(warm_part, k)]))
    return new_test, new_warm


def register(name: str, params: dict[str, Any]) -> None:
    """A router ``name``: ``km<k>`` / ``elim`` / ``evidence`` / ``ctx<d>`` parts joined by ``_``,
    plus policy keyword arguments; with ``km<k>``, ``s<x>`` scales the one-hot by x and
    ``only`` drops the projected embedding (context: bias, length, one-hot)."""
    parts = name.split("_")
    clusters = next((int(p[2:]) for p in parts if re.fullmatch(r"km\d+", p)), None)
    components = next((int(p[3:]) for p in parts if re.fullmatch(r"ctx\d+", p)), None)
    eliminate = "elim" in parts
    evidence = "evidence" in parts
    scale = next((float(p[1:]) for p in parts if re.fullmatch(r"s\d+(\.\d+)?", p)), 1.0)
    keep_projection = "only" not in parts

    def run(job: RouteJob) -> Any:
        cls = EliminationThompson if eliminate else LinearThompsonSampling
        cls = EvidenceThompson if evidence else cls
        policy = cls(seed=job.seed, **params)
        test, warm = job.test, job.warm
        width = test.embeddings.shape[1]
        builder = ContextBuilder(width, components) if components else None
        if clusters:
            test, warm = _cluster_streams(job, clusters)
            builder = ClusterContext(width, clusters, components or 32, scale, keep_projection)
        chosen = run_engine(policy, job.models, test, job.order, job.cost_weight, warm, builder)
        if isinstance(policy, EvidenceThompson):  # the prior precision it settled on
            print(
                f"{name} seed {job.seed} λ {job.cost_weight:g}: α {policy.alpha:g}", file=sys.stderr
            )
        return chosen

    ROUTERS[name] = RouterSpec(run, engine_policy=True)


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def split_by_sample_id(log: OutcomeLog) -> tuple[OutcomeLog, OutcomeLog]:
    """Per task, rows in natural ``sample_id`` order: the first half warm, the rest routed."""
    warm: list[int] = []
    rest: list[int] = []
    for task in sorted(set(log.tasks)):
        rows = [i for i, t in enumerate(log.tasks) if t == task]
        rows.sort(key=lambda i: _natural(log.prompt_ids[i]))
        warm += rows[: len(rows) // 2]
        rest += rows[len(rows) // 2 :]
    return log.subset(np.array(warm)), log.subset(np.array(rest))


def main(argv: list[str] | None = None) -> int:
    parser = tuning_parser(__doc__.splitlines()[0])
    parser.add_argument("--warm-split", action="store_true")
    args = parser.parse_args(argv)
    names = register_variants(args.variant, register)
    _, log, models = tuning_log(args)
    embedder, ename = command_embedder(args.embedder)
    warm = None
    if args.warm_split:
        warm_log, log = split_by_sample_id(log)
        warm = prepare(warm_log, embedder, ename, args.cache_dir, False)
        names.append("knn")
    test = prepare(log, embedder, ename, args.cache_dir, False)
    replay_and_report(test, models, names, args, warm, detail=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
