from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from banditroute import HashingEmbedder, InvalidInput, ModelProfile, Registry
from banditroute.cli import main
from banditroute.replay.loaders import load_logs, unpack_text
from banditroute.replay.metrics import aiq, apgr, cpt, upper_hull
from banditroute.replay.report import summarize
from banditroute.replay.routers import oracle_choices
from banditroute.replay.runner import ReplaySettings, prepare, replay
from banditroute.synthetic import make_workload
from tests.conftest import SHARED_DATA, requires_shared_data

# -- metrics -------------------------------------------------------------------------------


def test_upper_hull_is_concave_and_non_decreasing() -> None:
    rng = np.random.default_rng(0)
    pts = rng.random((40, 2))
    hull = upper_hull(pts)
    assert np.all(np.diff(hull[:, 0]) > 0) and np.all(np.diff(hull[:, 1]) >= 0)
    slopes = np.diff(hull[:, 1]) / np.diff(hull[:, 0])
    assert np.all(np.diff(slopes) <= 1e-12)
    # no input point lies above the hull between its ends
    inside = (pts[:, 0] >= hull[0, 0]) & (pts[:, 0] <= hull[-1, 0])
    assert np.all(pts[inside, 1] <= np.interp(pts[inside, 0], hull[:, 0], hull[:, 1]) + 1e-12)


def test_aiq_matches_a_hand_computed_case() -> None:
    a = np.array([[1.0, 0.4], [2.0, 0.8], [3.0, 0.7]])
    b = np.array([[2.0, 0.5], [4.0, 0.9]])
    # a: hull (1,.4)-(2,.8), extended to 4 at .8: area .6 + 1.6 = 2.2 -> /4
    # b: (2,.5)-(4,.9): area 1.4 -> /4
    assert aiq([a, b]) == pytest.approx([0.55, 0.35])


def test_apgr_and_cpt() -> None:
    share = np.array([0.25, 0.5, 0.75])
    quality = np.array([0.6, 0.7, 0.75])  # weak 0.5, strong 0.8
    assert cpt(share, quality, 0.5, 0.8) == pytest.approx(0.25 + 0.25 * (0.5 - 1 / 3) / (1 / 3))
    assert 0.5 < apgr(share, quality, 0.5, 0.8) < 1.0


def test_oracle_prefers_quality_then_the_cheaper_model() -> None:
    q = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    c = np.array([[3.0, 1.0, 0.1], [1.0, 1.0, 5.0]])
    assert oracle_choices(q, c, 0.0).tolist() == [1, 2]
    assert oracle_choices(q, c, 10.0).tolist() == [2, 0]


# -- loaders ---------------------------------------------------------------------------------


def wide_frame(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "prompt": [str([f"question {i}"]) for i in range(n)],
            "eval_name": ["taskA", "taskB"] * (n // 2),
        }
    )
    for m in ("m1", "m2"):
        frame[m] = rng.integers(0, 2, n).astype(float)
        frame[f"{m}|model_response"] = "answer"
        frame[f"{m}|total_cost"] = rng.random(n) * 1e-3
    frame.loc[0, "m2"] = np.nan
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pkl"])
def test_routerbench_wide_files_load_and_count_missing(tmp_path: Path, suffix: str) -> None:
    frame = wide_frame()
    path = tmp_path / f"log{suffix}"
    {".csv": frame.to_csv, ".parquet": frame.to_parquet, ".pkl": frame.to_pickle}[suffix](path)
    loaded = load_logs([path, path])
    assert loaded.log.n_prompts == 10 and loaded.dropped_missing_quality == 2
    assert loaded.log.models == ["m1", "m2"] and loaded.log.prompts[0] == "question 1"
    assert set(loaded.log.tasks) == {"taskA", "taskB"}


def test_long_tables_without_cost_use_registry_prices(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "prompt_id": [1, 1, 2, 2],
            "prompt": ["x" * 400] * 4,
            "model": ["a", "b"] * 2,
            "quality": [0.2, 0.9, 0.5, 0.4],
            "output_tokens": [100, 100, 100, 100],
            "dataset": ["d1", "d1", "d2", "d2"],
        }
    )
    frame.to_parquet(tmp_path / "long.parquet")
    with pytest.raises(InvalidInput, match="no registry prices"):
        load_logs([tmp_path / "long.parquet"])
    registry = Registry(
        [
            ModelProfile(id="a", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=2),
            ModelProfile(id="b", provider="p", input_usd_per_mtok=10, output_usd_per_mtok=20),
        ]
    )
    log = load_logs([tmp_path / "long.parquet"], registry).log
    assert log.cost[0].tolist() == pytest.approx([(100 * 1 + 100 * 2) / 1e6, (1000 + 2000) / 1e6])
    assert log.tasks == ["d1", "d2"]


def test_bad_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_logs([tmp_path / "missing.csv"])
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InvalidInput, match=r"\.csv, \.parquet or \.pkl"):
        load_logs([tmp_path / "x.txt"])
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "odd.csv", index=False)
    with pytest.raises(InvalidInput, match="long table needs"):
        load_logs([tmp_path / "odd.csv"])


def test_unpack_text() -> None:
    assert unpack_text("['a', 'b']") == "a\nb"
    assert unpack_text("[not a list") == "[not a list"
    assert unpack_text(["x"]) == "x"


# -- runner ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_stream():
    log, models = make_workload(300, seed=3)
    return prepare(log, HashingEmbedder(64), "h64", cache_dir=None, progress=False), models


def test_replay_is_seeded_and_uses_only_bandit_feedback(synthetic_stream) -> None:
    stream, models = synthetic_stream
    settings = ReplaySettings(lambdas=(0.0, 10.0), seeds=2, policies=("thompson", "linucb"))
    a = replay(stream, models, settings, progress=False)
    b = replay(stream, models, settings, progress=False)
    assert np.array_equal(a.choices["thompson"], b.choices["thompson"])
    assert a.choices["thompson"].shape == (2, 2, 300)
    # at a large λ the routers move towards cheaper models
    cost = stream.log.cost
    rows = np.arange(300)
    mean_cost = [cost[rows, a.choices["thompson"][li, 0]].mean() for li in range(2)]
    assert mean_cost[1] < mean_cost[0]


def test_warm_start_and_knn(synthetic_stream) -> None:
    stream, models = synthetic_stream
    log, _ = make_workload(200, seed=4)
    warm = prepare(log, HashingEmbedder(64), "h64", cache_dir=None, progress=False)
    settings = ReplaySettings(lambdas=(0.0,), seeds=1, policies=("thompson", "knn"))
    result = replay(stream, models, settings, warm=warm, progress=False)
    knn_quality = summarize(result).routers["knn"].points[0].quality
    assert knn_quality > stream.log.quality.mean(axis=0).mean() + 0.1  # well above a random pick
    cold = replay(stream, models, settings, progress=False)
    assert "knn" in cold.skipped and "knn" not in cold.choices


def test_unknown_policy_and_missing_prices(synthetic_stream) -> None:
    stream, _ = synthetic_stream
    with pytest.raises(InvalidInput, match="policies"):
        ReplaySettings(policies=("nope",))
    with pytest.raises(InvalidInput, match="no profile"):
        replay(stream, [], ReplaySettings(seeds=1, lambdas=(0.0,)), progress=False)


def test_cli_replay_writes_json_and_plot(tmp_path: Path, capsys) -> None:
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    code = main(
        [
            "replay",
            "--embedder",
            "hashing",
            "--synthetic-prompts",
            "150",
            "--seeds",
            "2",
            "--policies",
            "thompson",
            "random",
            "--lambdas",
            "0",
            "1",
            "10",
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    summary = json.loads(out.read_text())
    assert {"n_prompts", "models", "lambdas", "policies"} <= set(summary)
    for name in ("thompson", "random", "zero", "oracle"):
        figures = summary["policies"][name]
        assert {"aiq", "aiq_std", "points"} <= set(figures)
        assert "by_task" in figures and "code" in figures["by_task"]
    assert {"lambda", "quality", "cost"} <= set(summary["policies"]["thompson"]["points"][0])
    assert "regret" in summary["policies"]["thompson"]
    assert plot.stat().st_size > 10_000
    assert "| thompson |" in capsys.readouterr().out
    assert (tmp_path / "cache" / "embeddings-hashing384.npz").is_file()


def test_two_model_logs_get_apgr_and_cpt(tmp_path: Path) -> None:
    frame = wide_frame(40)
    frame.loc[0, "m2"] = 1.0
    frame["m2"] = np.maximum(frame["m2"], frame["m1"])  # m2 is the strong model
    frame.to_csv(tmp_path / "two.csv", index=False)
    registry = Registry(
        [
            ModelProfile(id="m1", provider="p", input_usd_per_mtok=0.1, output_usd_per_mtok=0.1),
            ModelProfile(id="m2", provider="p", input_usd_per_mtok=5, output_usd_per_mtok=5),
        ]
    )
    registry.save(tmp_path / "reg.toml")
    out = tmp_path / "two.json"
    assert (
        main(
            [
                "replay",
                str(tmp_path / "two.csv"),
                "--registry",
                str(tmp_path / "reg.toml"),
                "--embedder",
                "hashing",
                "--seeds",
                "1",
                "--policies",
                "thompson",
                "--quiet",
                "--cache-dir",
                str(tmp_path),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())["policies"]["thompson"]
    assert 0 <= figures["apgr"] <= 1 and 0 <= figures["cpt50"] <= 1


@requires_shared_data
def test_routerbench_files_load_as_one_stream() -> None:
    files = sorted((SHARED_DATA / "routerbench").glob("*.csv"))
    loaded = load_logs(files)
    assert len(loaded.log.models) == 11 and set(loaded.log.tasks) == {"arc-challenge", "mbpp"}
    assert loaded.log.n_prompts + loaded.dropped_missing_quality == 1911
    registry = Registry.load(__import__("banditroute").example_registry_path())
    assert set(loaded.log.models) == set(registry.ids)
