"""The engine must learn, from bandit feedback alone, which model suits which kind of prompt."""

from __future__ import annotations

import numpy as np

from banditroute import Engine, HashingEmbedder
from tests.conftest import make_model

ROUNDS = 600  # stated budget: after this many rounds each kind goes to its own best model


def test_routes_each_kind_to_its_best_model_after_600_rounds() -> None:
    rng = np.random.default_rng(0)
    models = [make_model("A"), make_model("B"), make_model("C")]
    engine = Engine(models, embedder=HashingEmbedder(dim=256), seed=0)
    code = ["Write a Python function to {} a list", "Fix this Python code that will {} a list"]
    poem = ["Write a short poem about {} in spring", "Compose a haiku about {} at night"]
    verbs = ["sort", "reverse", "filter", "merge", "shuffle", "sum", "flatten", "dedupe"]
    nouns = ["rivers", "cats", "mountains", "rain", "the sea", "old friends", "cities", "trees"]
    mean = {"code": {"A": 0.9, "B": 0.4, "C": 0.6}, "poem": {"A": 0.3, "B": 0.85, "C": 0.6}}
    picks: dict[str, list[str]] = {"code": [], "poem": []}
    for _ in range(ROUNDS + 200):
        kind = "code" if rng.random() < 0.5 else "poem"
        template = str(rng.choice(code if kind == "code" else poem))
        prompt = template.format(rng.choice(verbs if kind == "code" else nouns))
        d = engine.choose(prompt)
        picks[kind].append(d.model)
        q = float(np.clip(mean[kind][d.model] + rng.normal(0, 0.1), 0, 1))
        engine.feedback(d, quality=q)
    last_code = picks["code"][-80:]
    last_poem = picks["poem"][-80:]
    assert last_code.count("A") / len(last_code) >= 0.9
    assert last_poem.count("B") / len(last_poem) >= 0.9
