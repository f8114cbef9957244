from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from banditroute import (
    Constraints,
    Engine,
    HashingEmbedder,
    InvalidInput,
    LinUCB,
    NoFeasibleModel,
    StateFileError,
    Tradeoff,
    UnknownDecision,
    UnknownModel,
)
from banditroute.engine_state import STATE_FILE
from tests.conftest import make_model

PROMPT = "Write a Python function that merges two sorted lists"


def test_choose_returns_a_complete_decision(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    assert d.model in {"small", "coder", "big"}
    assert set(d.fallbacks) | {d.model} == {"small", "coder", "big"}
    assert 0 < d.propensity <= 1
    assert d.candidates[0].model == d.model and d.scores()[d.model] == max(d.scores().values())
    text = d.explain()
    assert d.model in text and "propensity" in text
    assert d.expected_cost_usd > 0 and d.expected_latency_ms > 0


def test_constraints_are_respected_and_infeasible_lists_every_model(engine: Engine) -> None:
    d = engine.choose(PROMPT, Constraints(capabilities={"math"}))
    assert d.model == "big" and d.fallbacks == ()
    assert "lacks capabilities" in d.excluded["small"]
    with pytest.raises(NoFeasibleModel) as info:
        engine.choose(PROMPT, Constraints(capabilities={"math"}, max_cost_usd=1e-6))
    assert set(info.value.reasons) == {"small", "coder", "big"}
    assert "max_cost_usd" in str(info.value)


def test_force_model_and_unknown_force_model(engine: Engine) -> None:
    assert engine.choose(PROMPT, Constraints(force_model="coder")).model == "coder"
    with pytest.raises(UnknownModel, match="nope"):
        engine.choose(PROMPT, Constraints(force_model="nope"))


@pytest.mark.parametrize("prompt", ["", "  ", None, 3.5])
def test_bad_prompts(engine: Engine, prompt: object) -> None:
    with pytest.raises(InvalidInput, match="prompt"):
        engine.choose(prompt)  # type: ignore[arg-type]


def test_constraints_must_be_constraints(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="constraints"):
        engine.choose(PROMPT, {"max_cost_usd": 1})  # type: ignore[arg-type]


def test_feedback_updates_the_chosen_model_once(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    outcome = engine.feedback(d, quality=0.8, cost_usd=0.001, latency_ms=900)
    assert outcome.model == d.model and outcome.reward == pytest.approx(0.8)
    assert engine.policy.counts()[d.model] == 1
    with pytest.raises(UnknownDecision, match="already has feedback"):
        engine.feedback(d, quality=0.8)
    with pytest.raises(UnknownDecision):
        engine.feedback("never-made", quality=0.5)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"quality": float("nan")}, "quality"),
        ({"quality": 1.5}, r"quality == 1\.5"),
        ({"quality": -0.1}, "quality"),
        ({"quality": float("inf")}, "quality"),
        ({"quality": "high"}, "quality"),
        ({"quality": 0.5, "cost_usd": -1.0}, "cost_usd"),
        ({"quality": 0.5, "latency_ms": float("nan")}, "latency_ms"),
        ({}, "quality=... .*or error"),
    ],
)
def test_bad_feedback_is_refused_and_the_decision_kept(
    engine: Engine, kwargs: dict[str, object], fragment: str
) -> None:
    d = engine.choose(PROMPT)
    with pytest.raises(InvalidInput, match=fragment):
        engine.feedback(d, **kwargs)  # type: ignore[arg-type]
    engine.feedback(d, quality=0.5)  # still pending after the refused call


def test_error_feedback_counts_as_zero_quality(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    outcome = engine.feedback(d, error="HTTP 503")
    assert outcome.quality == 0.0 and engine.estimator.error_rate(d.model) == 1.0


def test_reward_uses_the_tradeoff(three_models: list) -> None:
    engine = Engine(
        three_models,
        embedder=HashingEmbedder(dim=32),
        tradeoff=Tradeoff(cost_weight=100, latency_weight=1e-4),
        seed=1,
    )
    d = engine.choose(PROMPT)
    out = engine.feedback(d, quality=0.9, cost_usd=0.002, latency_ms=1000)
    assert out.reward == pytest.approx(0.9 - 0.2 - 0.1)


def test_a_high_cost_weight_prefers_cheap_models(three_models: list) -> None:
    engine = Engine(
        three_models, embedder=HashingEmbedder(dim=32), tradeoff=Tradeoff(cost_weight=1e4), seed=0
    )
    picks = [engine.choose(f"{PROMPT} {i}").model for i in range(30)]
    assert picks.count("small") >= 27


def test_save_load_gives_identical_next_decisions(engine: Engine, tmp_path: Path) -> None:
    for i in range(20):
        d = engine.choose(f"{PROMPT} #{i}")
        engine.feedback(d, quality=0.1 * (i % 10), cost_usd=0.001, latency_ms=100 + i)
    pending = engine.choose("still waiting for feedback")
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    assert loaded.pending_decisions == 1
    loaded.feedback(pending.id, quality=0.7)  # feedback survives a restart
    engine.feedback(pending, quality=0.7)
    for i in range(10):
        a, b = engine.choose(f"next {i}"), loaded.choose(f"next {i}")
        assert (a.model, a.fallbacks, a.propensity) == (b.model, b.fallbacks, b.propensity)
        assert a.scores() == b.scores()
    assert [c.action for c in loaded.registry.history] == [
        c.action for c in engine.registry.history
    ]


def test_save_load_keeps_policy_type_and_params(three_models: list, tmp_path: Path) -> None:
    engine = Engine(
        three_models,
        policy=LinUCB(alpha=0.3, seed=2),
        embedder=HashingEmbedder(dim=16),
        tradeoff=Tradeoff(cost_weight=5),
    )
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path)
    assert isinstance(loaded.policy, LinUCB) and loaded.policy.alpha == 0.3
    assert loaded.tradeoff.cost_weight == 5 and loaded.embedder.dim == 16


def test_corrupt_foreign_and_missing_state_files(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="no saved engine state"):
        Engine.load(tmp_path)
    (tmp_path / STATE_FILE).write_bytes(b"garbage" * 100)
    with pytest.raises(StateFileError, match="not a readable"):
        Engine.load(tmp_path)
    np.savez(tmp_path / STATE_FILE, x=np.arange(3))
    with pytest.raises(StateFileError, match="no banditroute header"):
        Engine.load(tmp_path)
    engine.save(tmp_path)
    data = (tmp_path / STATE_FILE).read_bytes()
    (tmp_path / STATE_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(StateFileError):
        Engine.load(tmp_path)


def test_future_state_version_is_refused(engine: Engine, tmp_path: Path, monkeypatch) -> None:
    import banditroute.state as state

    monkeypatch.setattr(state, "VERSION", 99)
    engine.save(tmp_path)
    monkeypatch.undo()
    with pytest.raises(StateFileError, match="version 99"):
        Engine.load(tmp_path)


def test_a_crash_during_save_leaves_the_previous_state_readable(
    engine: Engine, tmp_path: Path, monkeypatch
) -> None:
    d = engine.choose(PROMPT)
    engine.feedback(d, quality=1.0)
    engine.save(tmp_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        engine.save(tmp_path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp file left behind
    assert Engine.load(tmp_path).policy.counts()[d.model] == 1


def test_custom_embedder_must_be_passed_to_load(three_models: list, tmp_path: Path) -> None:
    class Constant:
        dim = 4

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 4)) / 2

    Engine(three_models, embedder=Constant()).save(tmp_path)
    with pytest.raises(StateFileError, match="custom embedder"):
        Engine.load(tmp_path)
    assert Engine.load(tmp_path, embedder=Constant()).embedder.dim == 4


def test_models_can_be_added_removed_and_deprecated(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    engine.feedback(d, quality=0.5)
    engine.add_model(make_model("new", capabilities=["code", "math", "vision"]))
    assert engine.choose(PROMPT, Constraints(capabilities={"vision"})).model == "new"
    engine.deprecate_model("new", replacement="big")
    with pytest.raises(NoFeasibleModel, match="deprecated"):
        engine.choose(PROMPT, Constraints(capabilities={"vision"}))
    engine.remove_model(d.model)
    assert d.model not in engine.policy.arms
    assert all(engine.choose(PROMPT).model != d.model for _ in range(10))


def test_feedback_for_a_model_removed_meanwhile_is_accepted(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    engine.remove_model(d.model)
    assert engine.feedback(d, quality=0.4).model == d.model


def test_pending_decisions_are_bounded(three_models: list) -> None:
    engine = Engine(three_models, embedder=HashingEmbedder(dim=16), max_pending=5)
    decisions = [engine.choose(f"{PROMPT} {i}") for i in range(8)]
    assert engine.pending_decisions == 5
    with pytest.raises(UnknownDecision):
        engine.feedback(decisions[0], quality=0.5)
    engine.feedback(decisions[-1], quality=0.5)


def test_concurrent_choose_and_feedback(engine: Engine) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(50):
                d = engine.choose(f"thread {k} prompt {i % 7}")
                engine.feedback(d, quality=(i % 10) / 10, cost_usd=1e-4, latency_ms=200.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(engine.policy.counts().values()) == 200 and engine.pending_decisions == 0


def test_engine_parameter_validation(three_models: list) -> None:
    with pytest.raises(InvalidInput, match="models"):
        Engine([])
    with pytest.raises(InvalidInput, match="policy"):
        Engine(three_models, embedder=HashingEmbedder(), policy="thompson")  # type: ignore[arg-type]


def test_state_survives_a_real_kill_during_repeated_saves(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = f"""
import numpy as np
from banditroute import Engine, HashingEmbedder, ModelProfile
models = [ModelProfile(id=f"m{{i}}", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)
          for i in range(11)]
engine = Engine(models, embedder=HashingEmbedder(dim=384), seed=0)
i = 0
while True:
    d = engine.choose(f"prompt {{i}}")
    engine.feedback(d, quality=0.5)
    engine.save({str(tmp_path)!r})
    i += 1
"""
    for delay in (0.9, 1.3, 1.7):
        process = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.time() + 30
        while not (tmp_path / STATE_FILE).exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        loaded = Engine.load(tmp_path)  # never torn: the old or the new file
        assert sum(loaded.policy.counts().values()) >= 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != STATE_FILE]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most a killed temp file


def test_a_save_sweeps_old_temporary_files(engine: Engine, tmp_path: Path) -> None:
    import os

    stale = tmp_path / f"{STATE_FILE}.abc123.tmp"
    fresh = tmp_path / f"{STATE_FILE}.def456.tmp"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"another writer, right now")
    os.utime(stale, (0, 0))
    engine.save(tmp_path)
    assert not stale.exists() and fresh.exists()


ANSWER = (
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append((a if a[0] < b[0] "
    "else b).pop(0))\n    return out + a + b\n\nThis merges the two sorted lists in linear time."
)


def test_feedback_with_a_response_is_scored_by_the_evaluator(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    outcome = engine.feedback(d, response=ANSWER, latency_ms=500)
    assert outcome.evaluation is not None and not outcome.evaluation.calibrated
    assert outcome.quality == outcome.evaluation.total > 0
    empty = engine.feedback(engine.choose(PROMPT), response="")
    assert empty.quality == 0.0 and engine.feedback_count == 2


def test_gold_quality_with_a_response_teaches_the_evaluator_and_survives_save(
    engine: Engine, tmp_path: Path
) -> None:
    for k in range(6):
        d = engine.choose(f"{PROMPT}, variant {k}")
        engine.feedback(d, quality=1.0 if k % 2 else 0.2, response=ANSWER[: 40 + 30 * k])
    assert engine.evaluator.calibration.count == 6
    d = engine.choose(PROMPT)
    engine.save(tmp_path)
    loaded = Engine.load(tmp_path, embedder=HashingEmbedder(dim=64))
    assert loaded.evaluator.calibration.count == 6
    with pytest.raises(InvalidInput, match="prompt="):  # prompts are not written to disk
        loaded.feedback(d.id, response=ANSWER)
    a = loaded.feedback(d.id, response=ANSWER, prompt=PROMPT)
    b = engine.feedback(d, response=ANSWER)
    assert a.evaluation is not None and a.evaluation.calibrated
    assert a.quality == pytest.approx(b.quality)
    assert PROMPT.encode() not in (tmp_path / STATE_FILE).read_bytes()


def test_response_must_be_text(engine: Engine) -> None:
    d = engine.choose(PROMPT)
    with pytest.raises(InvalidInput, match="response"):
        engine.feedback(d, response=42)  # type: ignore[arg-type]
