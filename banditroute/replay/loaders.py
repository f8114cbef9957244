"""Read logged workloads into an `OutcomeLog`: RouterBench wide files and long tables.

Formats
-------
Wide (RouterBench's ``routerbench_0shot.pkl`` layout, as .csv, .parquet or .pkl):
``sample_id, prompt, eval_name, <model>, <model>|model_response, <model>|total_cost, ...``.
Prompts stored as Python list literals (``"['...']"``) are unpacked.

Long (one row per prompt × model): ``prompt_id, prompt, model, quality`` and optionally
``cost_usd, latency_ms, response, output_tokens, task`` (or ``eval_name`` or ``dataset``, as
the task column). Without ``cost_usd``, cost = registry list prices × (prompt tokens, output
tokens or the response's tokens), as for AlpacaEval tables.

Answer lengths, when the log gives them (``output_tokens``, or responses counted with
`estimate_tokens`), are kept as ``LoadedLog.output_tokens``: prices can then be inferred from
the logged costs (`banditroute.replay.prices`).

Missing quality: a prompt with any model's quality missing is dropped from the log (a replay
needs every model's outcome for the oracle and the single-model baselines); the number dropped
is reported as ``LoadedLog.dropped_missing_quality``.

.pkl files are unpickled with pandas: only load pickles you trust.

A file that cannot be read (missing, a folder, empty, not CSV / Parquet, a cell that should be
a number and is not, missing columns) is `InvalidInput` naming the file and what is wrong.

>>> import pandas as pd, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> pd.DataFrame({"prompt_id": [1, 1, 2, 2], "prompt": ["a", "a", "b", "b"],
...               "model": ["m1", "m2", "m1", "m2"], "quality": [1, 0, 0.5, None],
...               "cost_usd": [1e-4, 2e-4, 1e-4, 2e-4]}).to_csv(folder / "log.csv", index=False)
>>> loaded = load_logs([folder / "log.csv"])
>>> loaded.log.n_prompts, loaded.log.models, loaded.dropped_missing_quality
(1, ['m1', 'm2'], 1)
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..features import estimate_tokens
from ..outcome_log import OutcomeLog
from ..registry import Registry

__all__ = ["LoadedLog", "load_logs", "read_frame", "read_table"]

COST_SUFFIX = "|total_cost"
RESPONSE_SUFFIX = "|model_response"


@dataclass(frozen=True)
class LoadedLog:
    """The concatenated log, rows dropped for a missing quality, the files read, and the
    answer lengths (prompts × models, NaN where unknown; None when no file gives them)."""

    log: OutcomeLog
    dropped_missing_quality: int
    sources: tuple[str, ...]
    output_tokens: np.ndarray | None = None


def _token_counts(cells: Any) -> np.ndarray:
    """`estimate_tokens` of each response cell; NaN for an empty or missing one."""
    texts = [unpack_text(c) for c in cells]
    return np.array([estimate_tokens(t) if t else np.nan for t in texts], dtype=float)


def read_frame(path: str | Path, reader: Callable[[Path], Any], kind: str) -> Any:
    """``reader(path)`` as a DataFrame; `InvalidInput` for a file that is missing, a folder,
    empty or unreadable as ``kind`` (e.g. "CSV"), or whose column names repeat."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"log file {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise InvalidInput(f"log file {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path.name}: the file is empty")
    try:
        frame = reader(path)
    except MemoryError:
        raise
    except Exception as exc:  # any parser failure on a file we do not control
        detail = " ".join(str(exc).split())[:200]
        raise InvalidInput(
            f"{path.name}: cannot be read as {kind} ({type(exc).__name__}: {detail})"
        ) from None
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{path.name}: holds a {type(frame).__name__}, not a table")
    if frame.columns.duplicated().any():
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidInput(f"{path.name}: column names appear twice: {repeated[:5]}")
    return frame


def read_table(path: Path) -> Any:
    """A pandas DataFrame from .csv, .parquet or .pkl (`InvalidInput` when unreadable)."""
    import pandas as pd

    readers: dict[str, tuple[Callable[[Path], Any], str]] = {
        ".csv": (pd.read_csv, "CSV"),
        ".parquet": (pd.read_parquet, "Parquet"),
        ".pkl": (pd.read_pickle, "a pickled DataFrame"),
        ".pickle": (pd.read_pickle, "a pickled DataFrame"),
    }
    path = Path(path)
    if path.suffix.lower() not in readers:
        raise InvalidInput(f"log file == {str(path)!r}, must end in .csv, .parquet or .pkl")
    frame = read_frame(path, *readers[path.suffix.lower()])
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed")])


def _numbers(frame: Any, columns: Sequence[str], source: str) -> None:
    """Convert the columns to float in place; `InvalidInput` naming the first cell that is
    not a number (empty cells are missing values, not errors)."""
    import pandas as pd

    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = (values.isna() & raw.notna()).to_numpy()
        if bad.any():
            row = int(bad.nonzero()[0][0])
            cell = " ".join(str(raw.iloc[row]).split())[:40]
            raise InvalidInput(
                f"{source}: column {column!r} must hold numbers; data row {row + 1} holds {cell!r}"
            )
        frame[column] = values.astype(float)


def unpack_text(cell: object) -> str:
    """RouterBench keeps prompts as list literals; return the plain text.

    >>> unpack_text("['line one', 'line two']")
    'line one\\nline two'
    >>> unpack_text("plain")
    'plain'
    """
    if isinstance(cell, list | tuple):
        return "\n".join(map(str, cell))
    text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, list):
            return "\n".join(map(str, value))
    return text


def _wide(frame: Any, source: str) -> tuple[OutcomeLog, int, np.ndarray | None]:
    models = [str(c)[: -len(COST_SUFFIX)] for c in frame.columns if str(c).endswith(COST_SUFFIX)]
    missing = [m for m in models if m not in frame.columns]
    if not models or missing or "prompt" not in frame.columns:
        raise InvalidInput(
            f"{source}: not a RouterBench wide table (needs prompt, <model> and "
            f"<model>|total_cost columns; missing quality columns: {missing})"
        )
    frame = frame.copy()
    _numbers(frame, [*models, *(m + COST_SUFFIX for m in models)], source)
    quality = frame[models].to_numpy(dtype=float)
    cost = frame[[m + COST_SUFFIX for m in models]].to_numpy(dtype=float)
    keep = np.isfinite(quality).all(axis=1) & np.isfinite(cost).all(axis=1)
    frame = frame[keep]
    answers = None
    if all(m + RESPONSE_SUFFIX in frame.columns for m in models):
        answers = np.stack([_token_counts(frame[m + RESPONSE_SUFFIX]) for m in models], axis=1)
    tasks = (
        frame["eval_name"].astype(str).tolist() if "eval_name" in frame else [source] * len(frame)
    )
    ids = frame["sample_id"].astype(str).tolist() if "sample_id" in frame else []
    log = OutcomeLog(
        prompts=[unpack_text(p) for p in frame["prompt"]],
        tasks=tasks,
        models=models,
        quality=np.clip(quality[keep], 0.0, 1.0),
        cost=cost[keep],
        prompt_ids=ids,
    )
    return log, int((~keep).sum()), answers


def _long(
    frame: Any, source: str, registry: Registry | None
) -> tuple[OutcomeLog, int, np.ndarray | None]:
    need = {"prompt_id", "prompt", "model", "quality"}
    if not need <= set(frame.columns):
        raise InvalidInput(f"{source}: a long table needs columns {sorted(need)}")
    frame = frame.copy()
    if frame["model"].isna().any() or frame["prompt_id"].isna().any():
        raise InvalidInput(f"{source}: columns 'model' and 'prompt_id' must have no empty cells")
    numeric = ["quality", "cost_usd", "latency_ms", "output_tokens"]
    _numbers(frame, [c for c in numeric if c in frame.columns], source)
    frame["prompt_id"] = frame["prompt_id"].astype(str)
    models = sorted(frame["model"].astype(str).unique())
    if "cost_usd" not in frame.columns:
        if registry is None or any(m not in registry for m in models):
            unknown = [m for m in models if registry is None or m not in registry]
            raise InvalidInput(
                f"{source}: no cost_usd column, and no registry prices for {unknown[:5]}"
                f"{' ...' if len(unknown) > 5 else ''}: pass a registry that lists them"
            )
        out_tokens = (
            frame["output_tokens"].astype(float)
            if "output_tokens" in frame.columns
            else frame.get("response", frame["prompt"]).map(lambda r: estimate_tokens(str(r)))
        )
        in_tokens = frame["prompt"].map(lambda p: estimate_tokens(unpack_text(p)))
        frame["cost_usd"] = [
            registry[m].cost_usd(i, o)
            for m, i, o in zip(frame["model"].astype(str), in_tokens, out_tokens, strict=True)
        ]
    task_col = next((c for c in ("task", "eval_name", "dataset") if c in frame.columns), None)
    if "output_tokens" in frame.columns:
        frame["_answer_tokens"] = frame["output_tokens"]
    elif "response" in frame.columns:
        frame["_answer_tokens"] = _token_counts(frame["response"])
    pivot_q = frame.pivot_table(
        index="prompt_id", columns="model", values="quality", aggfunc="mean"
    )
    pivot_c = frame.pivot_table(
        index="prompt_id", columns="model", values="cost_usd", aggfunc="mean"
    )
    pivot_q = pivot_q.reindex(columns=models)
    pivot_c = pivot_c.reindex(index=pivot_q.index, columns=models)
    firsts = frame.groupby("prompt_id").first().reindex(pivot_q.index)
    quality, cost = pivot_q.to_numpy(dtype=float), pivot_c.to_numpy(dtype=float)
    keep = np.isfinite(quality).all(axis=1) & np.isfinite(cost).all(axis=1)
    latency = None
    if "latency_ms" in frame.columns:
        pivot_l = frame.pivot_table(index="prompt_id", columns="model", values="latency_ms")
        latency = pivot_l.reindex(index=pivot_q.index, columns=models).to_numpy(dtype=float)
        keep &= np.isfinite(latency).all(axis=1)
        latency = latency[keep]
    answers = None
    if "_answer_tokens" in frame.columns:
        pivot_t = frame.pivot_table(index="prompt_id", columns="model", values="_answer_tokens")
        answers = pivot_t.reindex(index=pivot_q.index, columns=models).to_numpy(dtype=float)
        answers = answers[keep]
    tasks = firsts[task_col].astype(str) if task_col else None
    log = OutcomeLog(
        prompts=[unpack_text(p) for p in firsts["prompt"][keep]],
        tasks=tasks[keep].tolist() if tasks is not None else [source] * int(keep.sum()),
        models=models,
        quality=np.clip(quality[keep], 0.0, 1.0),
        cost=cost[keep],
        latency=latency,
        prompt_ids=[str(i) for i in pivot_q.index[keep]],
    )
    return log, int((~keep).sum()), answers


def _concat(logs: Sequence[OutcomeLog]) -> OutcomeLog:
    models = logs[0].models
    for log in logs[1:]:
        if log.models != models and set(log.models) == set(models):
            order = [log.models.index(m) for m in models]
            log.quality, log.cost = log.quality[:, order], log.cost[:, order]
            if log.latency is not None:
                log.latency = log.latency[:, order]
            log.models = list(models)
        elif log.models != models:
            raise InvalidInput("the log files name different sets of models; replay them apart")
    latency = (
        np.concatenate([log.latency for log in logs])
        if all(log.latency is not None for log in logs)
        else None
    )
    return OutcomeLog(
        prompts=[p for log in logs for p in log.prompts],
        tasks=[t for log in logs for t in log.tasks],
        models=list(models),
        quality=np.concatenate([log.quality for log in logs]),
        cost=np.concatenate([log.cost for log in logs]),
        latency=latency,
        prompt_ids=[i for log in logs for i in log.prompt_ids],
    )


def load_logs(paths: Sequence[str | Path], registry: Registry | None = None) -> LoadedLog:
    """Read and concatenate log files (wide or long, detected from the columns)."""
    if not paths:
        raise InvalidInput("no log files given")
    logs: list[OutcomeLog] = []
    answers: list[np.ndarray] = []
    dropped = 0
    for path in map(Path, paths):
        frame = read_table(path)
        wide = any(str(c).endswith(COST_SUFFIX) for c in frame.columns)
        log, n, tokens = _wide(frame, path.name) if wide else _long(frame, path.name, registry)
        if log.n_prompts == 0:
            raise InvalidInput(f"{path.name}: no prompt has every model's quality")
        if tokens is None:
            tokens = np.full(log.quality.shape, np.nan)
        if logs and log.models != logs[0].models and set(log.models) == set(logs[0].models):
            order = np.array([log.models.index(m) for m in logs[0].models], dtype=np.intp)
            tokens = tokens[:, order]
        logs.append(log)
        answers.append(tokens)
        dropped += n
    log = _concat(logs)  # first: it refuses files naming different models
    combined = np.concatenate(answers)
    known = combined if np.isfinite(combined).any() else None
    return LoadedLog(log, dropped, tuple(str(p) for p in paths), known)
