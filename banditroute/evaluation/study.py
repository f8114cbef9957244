"""How well does the evaluator agree with a real judge? The `banditroute evaluate` measurement.

Input: long-format logs with judge labels, one row per (prompt, response): columns ``prompt``,
``response``, ``quality`` in [0, 1], optionally ``prompt_id``. The evaluator is scored on DATA
un-fitted and, given FIT, after fitting on FIT's rows whose prompts are not in DATA.

>>> import pandas as pd
>>> from banditroute.features import HashingEmbedder
>>> from banditroute.evaluation.study import run_study
>>> log = pd.DataFrame({"prompt": ["Name a colour."] * 3, "response": ["Red.", "", "Blue is one."],
...                     "quality": [0.5, 0.0, 0.9]})
>>> r = run_study(log, embedder=HashingEmbedder(dim=32), progress=False)
>>> r.agreement, r.pairs
(1.0, 3)
>>> r.summary()
'agreement 1.000 over 3 pairs; length-matched nan over 0 (length alone: 1.000 / nan)'
>>> list(r.to_json())[:4]
['rows', 'prompts', 'embedder', 'ms_per_pair_batched']
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidInput, invalid
from ..features import CachedEmbedder, Embedder
from .agreement import AgreementReport, agreement
from .evaluator import Evaluator
from .study_result import EvaluationStudy, FitFigures

__all__ = ["EvaluationStudy", "FitFigures", "load_judged_log", "run_study"]

PARTS = ("completeness", "relevance", "coherence")


def load_judged_log(path: str | Path) -> pd.DataFrame:
    """Read a long-format log (.parquet or .csv) with prompt, response and quality columns."""
    from ..replay.loaders import read_frame

    path = Path(path)
    if not path.exists():
        raise invalid("path", str(path), "an existing .parquet or .csv file")
    parquet = path.suffix == ".parquet"
    frame = read_frame(
        path, pd.read_parquet if parquet else pd.read_csv, "Parquet" if parquet else "CSV"
    )
    return _checked(frame, str(path))


def _checked(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    missing = {"prompt", "response", "quality"} - set(frame.columns)
    if missing:
        raise InvalidInput(f"{origin}: missing column(s) {sorted(missing)}")
    frame = frame.copy()
    if frame["prompt"].isna().any():
        raise InvalidInput(f"{origin}: column 'prompt' has empty cells")
    frame["prompt"] = frame["prompt"].astype(str)
    if "prompt_id" not in frame.columns:
        frame["prompt_id"] = frame["prompt"]
    frame["response"] = frame["response"].fillna("").astype(str)
    q = pd.to_numeric(frame["quality"], errors="coerce")
    if q.isna().any() or ((q < 0) | (q > 1)).any():
        raise InvalidInput(f"{origin}: quality must be numbers in [0, 1]")
    frame["quality"] = q.astype(float)
    return frame.reset_index(drop=True)


def _report(frame: pd.DataFrame, scores: np.ndarray) -> AgreementReport:
    lengths = frame["response"].str.len().to_numpy()
    groups = pd.factorize(frame["prompt_id"])[0]
    return agreement(groups, frame["quality"].to_numpy(), scores, lengths)


def _prime(
    evaluator: Evaluator, frame: pd.DataFrame, cache_dir: Path | None, name: str, progress: bool
) -> None:
    """Embed the log's prompts and response heads once, through the on-disk cache."""
    if cache_dir is None or not isinstance(evaluator.embedder, CachedEmbedder):
        return
    from ..embedding_cache import embed_cached

    texts = list(dict.fromkeys(frame["prompt"].tolist())) + [
        r[: evaluator.response_chars] or " " for r in frame["response"]
    ]
    texts = list(dict.fromkeys(t or " " for t in texts))
    vectors = embed_cached(texts, evaluator.embedder.inner, name, cache_dir, progress=progress)
    evaluator.embedder.remember(texts, vectors)


def _score(evaluator: Evaluator, frame: pd.DataFrame, progress: bool) -> np.ndarray:
    """(n, 4) completeness, relevance, coherence, total, in batches with a progress bar."""
    from tqdm.auto import tqdm

    rows = []
    bounds = range(0, len(frame), 512)
    for start in tqdm(bounds, desc="evaluating", unit="batch", disable=not progress):
        part = frame.iloc[start : start + 512]
        rows += evaluator.evaluate_many(part["prompt"].tolist(), part["response"].tolist())
    return np.array([r[:4] for r in rows], dtype=float).reshape(-1, 4)


def run_study(
    data: pd.DataFrame,
    fit: pd.DataFrame | None = None,
    *,
    embedder: Embedder,
    embedder_name: str = "custom",
    cache_dir: Path | None = None,
    penalty: float = 1.0,
    progress: bool = True,
    text_signal: bool = True,
) -> EvaluationStudy:
    """Agreement of the default (and, with ``fit``, the fitted) evaluator with DATA's labels;
    ``text_signal=False`` fits the calibration without the learned `TextSignal`."""
    data = _checked(data, "DATA")
    cached = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, 10**7)
    evaluator = Evaluator(embedder=cached, penalty=penalty, text_signal=text_signal)
    _prime(evaluator, data, cache_dir, embedder_name, progress)
    started = time.perf_counter()
    scores = _score(evaluator, data, progress)
    ms_per_pair = 1000 * (time.perf_counter() - started) / max(len(data), 1)
    lengths = data["response"].str.len().to_numpy().astype(float)
    study = EvaluationStudy(
        rows=len(data),
        prompts=int(data["prompt_id"].nunique()),
        embedder=embedder_name,
        ms_per_pair_batched=ms_per_pair,
        default=_report(data, scores[:, 3]),
        components={p: _report(data, scores[:, k]) for k, p in enumerate(PARTS)},
        length_baseline=_report(data, lengths),
    )
    if fit is None:
        return study
    fit = _checked(fit, "FIT")
    overlap = fit["prompt"].isin(set(data["prompt"])) | fit["prompt_id"].isin(
        set(data["prompt_id"])
    )
    fit = fit[~overlap]
    if fit.empty:
        raise InvalidInput("FIT has no prompts that DATA does not hold: nothing to fit on")
    _prime(evaluator, fit, cache_dir, embedder_name, progress)
    evaluator.fit(fit["prompt"].tolist(), fit["response"].tolist(), fit["quality"].tolist())
    figures = FitFigures(
        rows=len(fit),
        prompts=int(fit["prompt_id"].nunique()),
        rows_dropped_as_evaluated_prompts=int(overlap.sum()),
        penalty=penalty,
        text_terms=0 if evaluator.text is None else evaluator.text.terms,
    )
    fitted = _report(data, _score(evaluator, data, progress)[:, 3])
    return replace(study, fit=figures, fitted=fitted)
