from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from banditroute import HashingEmbedder, InvalidInput
from banditroute.cli import main
from banditroute.replay.drift_injection import DriftSpec, drift_report, inject
from banditroute.replay.runner import prepare
from banditroute.synthetic import make_workload


@pytest.mark.parametrize(
    "text",
    [
        "nomodel",
        "m@x:quality*0.5",
        "m@5-3:quality*0.5",
        "m@1:errors*2",
        "m@1:latency=3",
        "m@1:mood*2",
    ],
)
def test_bad_specs_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="drift"):
        DriftSpec.parse(text)


def test_inject_changes_only_the_window_of_the_named_model() -> None:
    log, _ = make_workload(200, seed=0)
    order = np.random.default_rng(0).permutation(200)
    changed, errors = inject(log, order, DriftSpec.parse("frontier-xl@50-150:quality*0.5"), 0)
    j = log.models.index("frontier-xl")
    inside, outside = order[50:150], np.r_[order[:50], order[150:]]
    assert np.allclose(changed.quality[inside, j], log.quality[inside, j] * 0.5)
    assert np.array_equal(changed.quality[outside], log.quality[outside])
    others = [k for k in range(len(log.models)) if k != j]
    assert np.array_equal(changed.quality[:, others], log.quality[:, others])
    assert not errors.any()
    replaced, _ = inject(log, order, DriftSpec.parse("frontier-xl@0:quality=chat-s"), 0)
    assert np.array_equal(replaced.quality[:, j], log.quality[:, log.models.index("chat-s")])
    failing, errors = inject(log, order, DriftSpec.parse("frontier-xl@100:errors=1"), 0)
    assert errors[order[100:], j].all() and (failing.quality[order[100:], j] == 0).all()
    with pytest.raises(InvalidInput, match="does not have"):
        inject(log, order, DriftSpec.parse("nope@1:quality*0.5"), 0)


def test_detect_and_reset_beats_no_handling_after_a_drop() -> None:
    log, models = make_workload(1200, seed=2)
    stream = prepare(log, HashingEmbedder(128), "h", cache_dir=None, progress=False)
    spec = DriftSpec.parse("frontier-xl@500:quality*0.5")
    report = drift_report(stream, models, spec, seeds=1, cost_weight=0.0)
    assert report.delay_decisions[0] is not None and report.delay_decisions[0] <= 150
    assert list(report.false_resets_stationary) == [0]
    regret = report.post_change_regret
    assert regret["detect_reset"] < 0.6 * regret["no_handling"]


def test_cli_drift_section(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    assert (
        main(
            [
                "replay",
                "--embedder",
                "hashing",
                "--synthetic-prompts",
                "600",
                "--seeds",
                "1",
                "--policies",
                "thompson",
                "--lambdas",
                "0",
                "--quiet",
                "--cache-dir",
                str(tmp_path),
                "--drift",
                "frontier-xl@300-450:quality*0.5",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    drift = json.loads(out.read_text())["drift"]
    assert {"injected", "detected", "delay_decisions", "false_resets", "post_change_regret"} <= set(
        drift
    )
    assert set(drift["post_change_regret"]) == {"no_handling", "detect_reset", "discount"}
    assert drift["recovered_share"][0]["share_before_change"] > 0.3


def test_a_restored_model_wins_its_traffic_back_and_seeded_runs_repeat() -> None:
    log, models = make_workload(1500, seed=2)
    stream = prepare(log, HashingEmbedder(128), "h", cache_dir=None, progress=False)
    spec = DriftSpec.parse("frontier-xl@300-800:quality*0.5")
    report = drift_report(stream, models, spec, seeds=1, cost_weight=0.0)
    share = report.recovered_share[0]
    assert share.share_before_change > 0.8 and share.share_at_end > 0.7
    seen = report.restoration_detected_after[0]
    assert seen is not None and seen < 300
    assert list(report.false_resets) == [0] and list(report.false_resets_stationary) == [0]
    again = drift_report(stream, models, spec, seeds=1, cost_weight=0.0)
    assert again.to_json() == report.to_json()
