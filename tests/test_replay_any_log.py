"""Replay of any log: unfamiliar models priced from their logged costs; eval_name as task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from banditroute.cli import main
from banditroute.features import estimate_tokens
from banditroute.registry import Registry, example_registry_path
from banditroute.replay.loaders import load_logs
from banditroute.replay.prices import ASSUMED_ANSWER_TOKENS, infer_prices, replay_models

# USD per million (input, output) tokens the test logs' costs are generated from
PRICES = {"acme/alpha-1": (3.0, 15.0), "acme/beta-2": (0.25, 1.25), "zeta-7b": (0.1, 0.1)}
SKILL = {"acme/alpha-1": 0.85, "acme/beta-2": 0.6, "zeta-7b": 0.4}
TASKS = ("algebra", "poetry", "trivia")


def _prompts(n: int, rng: np.random.Generator) -> list[str]:
    return [f"question {i}: " + "word " * int(rng.integers(5, 400)) for i in range(n)]


def _answer(rng: np.random.Generator) -> str:
    return "answer " * int(rng.integers(3, 300))


def _cost(model: str, prompt: str, answer_tokens: float) -> float:
    p_in, p_out = PRICES[model]
    return (estimate_tokens(prompt) * p_in + answer_tokens * p_out) / 1e6


def _wide_csv(path: Path, n: int = 60, responses: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    prompts = _prompts(n, rng)
    frame: dict[str, object] = {
        "sample_id": [f"s{i}" for i in range(n)],
        "prompt": prompts,
        "eval_name": [TASKS[i % 3] for i in range(n)],
    }
    for model in PRICES:
        frame[model] = (rng.random(n) < SKILL[model]).astype(float)
        answers = [_answer(rng) for _ in range(n)]
        if responses:
            frame[f"{model}|model_response"] = answers
            tokens = [estimate_tokens(a) for a in answers]
        else:
            tokens = [200.0] * n  # answers of unknown length: 200 tokens each
        frame[f"{model}|total_cost"] = [
            _cost(model, p, t) for p, t in zip(prompts, tokens, strict=True)
        ]
    pd.DataFrame(frame).to_csv(path)  # with the unnamed index column, as RouterBench's
    return path


def _long_csv(path: Path, n: int = 50, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i, prompt in enumerate(_prompts(n, rng)):
        for model in PRICES:
            tokens = int(rng.integers(3, 500))
            rows.append(
                {
                    "prompt_id": f"p{i}",
                    "prompt": prompt,
                    "eval_name": TASKS[i % 3],
                    "model": model,
                    "quality": float(rng.random() < SKILL[model]),
                    "cost_usd": _cost(model, prompt, tokens),
                    "output_tokens": tokens,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _replay(tmp_path: Path, *args: str) -> int:
    common = ["--embedder", "hashing", "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    small = ["--policies", "thompson", "random", "--seeds", "1", "--lambdas", "0", "1", "10"]
    return main(["replay", *args, *common, *small])


def _registry_toml(path: Path, models: list[str], price: float) -> Path:
    entries = [
        f'[[model]]\nid = "{m}"\nprovider = "p"\ninput_usd_per_mtok = {price}\n'
        f"output_usd_per_mtok = {price}\n"
        for m in models
    ]
    path.write_text("\n".join(entries))
    return path


def test_wide_log_of_unfamiliar_models_replays_without_a_registry(tmp_path, capsys):
    data = _wide_csv(tmp_path / "wide.csv")
    out = tmp_path / "out.json"
    assert _replay(tmp_path, str(data), "--json", str(out)) == 0
    printed = capsys.readouterr().out
    assert "prices inferred from the logged costs" in printed
    figures = json.loads(out.read_text())
    assert figures["models"] == list(PRICES)
    assert figures["n_prompts"] == 60
    assert {"thompson", "random", "oracle", "zero"} <= set(figures["policies"])
    assert set(figures["policies"]["thompson"]["by_task"]) == set(TASKS)


def test_prices_from_costs_and_response_lengths_are_the_generating_prices(tmp_path):
    loaded = load_logs([_wide_csv(tmp_path / "wide.csv")])
    for price in infer_prices(loaded.log, loaded.output_tokens):
        assert price.rule == "tokens"
        p_in, p_out = PRICES[price.model]
        assert price.input_usd_per_mtok == pytest.approx(p_in, rel=1e-6)
        assert price.output_usd_per_mtok == pytest.approx(p_out, rel=1e-6)


def test_without_answer_lengths_the_answer_is_a_flat_price(tmp_path):
    loaded = load_logs([_wide_csv(tmp_path / "wide.csv", responses=False)])
    assert loaded.output_tokens is None
    for price in infer_prices(loaded.log, loaded.output_tokens):
        p_in, p_out = PRICES[price.model]
        assert price.rule == "prompt+flat"
        assert price.input_usd_per_mtok == pytest.approx(p_in, rel=1e-6)
        assert price.answer_usd == pytest.approx(200 * p_out / 1e6, rel=1e-6)
        # the engine's first cost estimate (ASSUMED_ANSWER_TOKENS answer tokens) is that cost
        profile = price.profile()
        assert profile.cost_usd(0, ASSUMED_ANSWER_TOKENS) == pytest.approx(price.answer_usd)


def test_prompts_of_one_length_fall_back_to_the_mean_cost_per_call(tmp_path):
    frame = pd.DataFrame(
        {
            "prompt_id": ["a", "a", "b", "b", "c", "c"],
            "prompt": ["same size"] * 6,
            "model": ["m1", "m2"] * 3,
            "quality": [1, 0, 1, 1, 0, 1],
            "cost_usd": [1e-3, 2e-4, 3e-3, 2e-4, 2e-3, 2e-4],
        }
    )
    frame.to_csv(tmp_path / "flat.csv", index=False)
    loaded = load_logs([tmp_path / "flat.csv"])
    prices = {p.model: p for p in infer_prices(loaded.log, loaded.output_tokens)}
    assert prices["m1"].rule == "flat" and prices["m1"].input_usd_per_mtok == 0
    assert prices["m1"].answer_usd == pytest.approx(2e-3)
    assert prices["m2"].answer_usd == pytest.approx(2e-4)


def test_long_log_with_eval_name_replays_without_a_registry(tmp_path, capsys):
    data = _long_csv(tmp_path / "long.csv")
    loaded = load_logs([data])
    assert set(loaded.log.tasks) == set(TASKS)
    for pid, task in zip(loaded.log.prompt_ids, loaded.log.tasks, strict=True):
        assert task == TASKS[int(pid[1:]) % 3]
    for price in infer_prices(loaded.log, loaded.output_tokens):
        p_in, p_out = PRICES[price.model]
        assert price.rule == "tokens"
        assert price.input_usd_per_mtok == pytest.approx(p_in, rel=1e-6)
        assert price.output_usd_per_mtok == pytest.approx(p_out, rel=1e-6)
    out = tmp_path / "out.json"
    assert _replay(tmp_path, str(data), "--json", str(out)) == 0
    assert "prices inferred" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert set(figures["policies"]["thompson"]["by_task"]) == set(TASKS)


def test_an_explicit_registry_overrides_the_inferred_prices(tmp_path, capsys):
    data = _long_csv(tmp_path / "long.csv")
    registry_path = _registry_toml(tmp_path / "r.toml", list(PRICES), price=42.0)
    assert _replay(tmp_path, str(data), "--registry", str(registry_path)) == 0
    assert "prices inferred" not in capsys.readouterr().out
    loaded = load_logs([data])
    models, note = replay_models(loaded, Registry.load(registry_path), explicit=True)
    assert note is None
    assert {m.input_usd_per_mtok for m in models} == {42.0}


def test_an_explicit_registry_missing_a_model_is_refused(tmp_path, capsys):
    data = _long_csv(tmp_path / "long.csv")
    registry_path = _registry_toml(tmp_path / "r.toml", ["acme/alpha-1", "zeta-7b"], price=1.0)
    assert _replay(tmp_path, str(data), "--registry", str(registry_path)) == 2
    err = capsys.readouterr().err
    assert "acme/beta-2" in err and "infer their prices" in err


def test_known_models_keep_the_shipped_list_prices(tmp_path):
    registry = Registry.load(example_registry_path())
    known = list(registry)[:2]
    frame = pd.DataFrame(
        {
            "prompt_id": ["a", "a", "b", "b", "c", "c"],
            "prompt": ["one", "one", "two two", "two two", "three", "three"],
            "model": [known[0].id, known[1].id] * 3,
            "quality": [1, 0, 1, 1, 0, 1],
            "cost_usd": [1e-3, 2e-4, 3e-3, 2e-4, 2e-3, 2e-4],
        }
    )
    frame.to_csv(tmp_path / "known.csv", index=False)
    models, note = replay_models(load_logs([tmp_path / "known.csv"]), registry, explicit=False)
    assert note is None
    assert models == list(registry)
