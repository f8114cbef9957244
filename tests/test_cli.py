from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from banditroute.cli import main
from banditroute.demo import run_demo
from banditroute.features import HashingEmbedder, MiniLMEmbedder
from tests.conftest import requires_minilm, requires_static


def test_demo_prints_a_table_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--prompts", "400", "--embedder", "hashing", "--quiet"]) == 0
    out = capsys.readouterr().out
    for kind in ("code", "math", "chat", "summarize", "translate"):
        assert f"| {kind} |" in out
    assert "best fixed model in hindsight" in out


def test_demo_beats_the_best_fixed_model_after_learning() -> None:
    report = run_demo(n_prompts=3000, seed=1, embedder=HashingEmbedder(), progress=False)
    assert report.router_reward > report.fixed_reward


@requires_minilm
def test_demo_with_minilm_sends_code_to_the_code_model() -> None:
    report = run_demo(n_prompts=3000, seed=1, embedder=MiniLMEmbedder(), progress=False)
    assert report.router_reward > report.fixed_reward
    assert report.by_kind["code"].traffic["coder-m"] > 0.4


@requires_static
def test_demo_with_the_default_encoder_beats_the_best_fixed_model() -> None:
    # The static encoder separates the synthetic kinds less than MiniLM (its vectors share one
    # large direction), so code goes to the code model less often: benchmarks/RESULTS.md.
    report = run_demo(n_prompts=3000, seed=1, progress=False)
    assert report.router_reward > report.fixed_reward + 0.005
    assert report.by_kind["code"].traffic["coder-m"] > 0.2


def test_library_errors_become_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--prompts", "0", "--embedder", "hashing", "--quiet"]) == 2
    assert "n_prompts == 0" in capsys.readouterr().err


def _judged_log(prompts: range) -> pd.DataFrame:
    rows = []
    for k in prompts:
        prompt = f"Explain idea number {k} in detail."
        rows += [
            {"prompt_id": k, "prompt": prompt, "response": "Idea. " * 40 + "Done.", "quality": 0.9},
            {"prompt_id": k, "prompt": prompt, "response": "No.", "quality": 0.1},
            {"prompt_id": k, "prompt": prompt, "response": "", "quality": 0.0},
        ]
    return pd.DataFrame(rows)


def test_evaluate_writes_the_agreement_figures(tmp_path: Path) -> None:
    _judged_log(range(0, 10)).to_parquet(tmp_path / "data.parquet")
    _judged_log(range(5, 30)).to_parquet(tmp_path / "fit.parquet")  # 5..9 overlap DATA
    out = tmp_path / "eval.json"
    args = ["evaluate", str(tmp_path / "data.parquet"), "--fit", str(tmp_path / "fit.parquet")]
    assert main([*args, "--embedder", "hashing", "--json", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["fit"]["rows_dropped_as_evaluated_prompts"] == 15
    assert result["fit"]["prompts"] == 20 and result["pairs"] == 20  # 0.1 vs 0.0: gap not > 0.1
    assert result["agreement"] == result["fitted"]["agreement"] == 1.0
    for key in ("agreement_length_matched", "default", "components", "length_baseline"):
        assert key in result


def test_evaluate_refuses_a_log_without_labels(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    _judged_log(range(3)).drop(columns="quality").to_parquet(tmp_path / "bad.parquet")
    assert main(["evaluate", str(tmp_path / "bad.parquet"), "--embedder", "hashing"]) == 2
    assert "quality" in capsys.readouterr().err


def test_replay_into_a_store_then_ask(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "store")
    common = ["--embedder", "hashing", "--cache-dir", str(tmp_path / "cache")]
    replay = ["replay", "--synthetic-prompts", "300", "--policies", "thompson", "--lambdas", "0"]
    assert main([*replay, "--seeds", "1", "--store", store, "--quiet", *common]) == 0
    capsys.readouterr()
    assert (
        main(["ask", "which model is best for math?", "--store", store, "--embedder", "hashing"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("Best on 'math'") and "evidence: 300 rows" in out
