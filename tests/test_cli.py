from __future__ import annotations

import pytest

from banditroute.cli import main
from banditroute.demo import run_demo
from banditroute.features import HashingEmbedder
from tests.conftest import requires_minilm


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
    report = run_demo(n_prompts=3000, seed=1, progress=False)
    assert report.router_reward > report.fixed_reward
    assert report.by_kind["code"].traffic["coder-m"] > 0.4


def test_library_errors_become_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--prompts", "0", "--embedder", "hashing", "--quiet"]) == 2
    assert "n_prompts == 0" in capsys.readouterr().err
