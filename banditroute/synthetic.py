"""A seeded synthetic workload: a few kinds of prompt, models with different strengths and prices.

It is the embedded default behind ``banditroute demo`` and many tests: no data to fetch.

>>> from banditroute.synthetic import make_workload
>>> log, models = make_workload(n_prompts=200, seed=0)
>>> log.quality.shape, len(models), sorted(set(log.tasks))[:2]
((200, 5), 5, ['chat', 'code'])
"""

from __future__ import annotations

import numpy as np

from .errors import invalid
from .features import estimate_tokens
from .outcome_log import OutcomeLog
from .registry import ModelProfile

__all__ = ["KINDS", "SYNTHETIC_MODELS", "make_workload"]

_TOPICS = [
    "sorted lists",
    "binary trees",
    "CSV files",
    "HTTP retries",
    "date parsing",
    "matrices",
    "prime numbers",
    "string reversal",
    "JSON schemas",
    "caching",
    "graph search",
    "regexes",
]
_LANGS = ["Python", "Rust", "TypeScript", "Go", "SQL"]
_NUMS = [3, 7, 12, 15, 24, 36, 48, 60, 125, 365]
_SUBJECTS = [
    "the quarterly sales meeting",
    "a paper on protein folding",
    "the new privacy policy",
    "a customer complaint thread",
    "the history of the Roman republic",
    "a product launch plan",
]
_CHAT = [
    "a rainy weekend",
    "learning the guitar",
    "their favourite films",
    "a trip to Lisbon",
    "keeping houseplants alive",
    "starting to run",
    "cooking for friends",
]
_TARGET_LANGS = ["French", "German", "Spanish", "Japanese", "Italian"]
_SENTENCES = [
    "The meeting has been moved to Thursday afternoon.",
    "Please keep the receipt for your records.",
    "Our train was delayed by forty minutes.",
    "The museum is closed on public holidays.",
    "She finished the marathon in under four hours.",
]

KINDS: dict[str, list[str]] = {
    "code": [
        "Write a {lang} function that handles {topic}.",
        "Fix the bug in my {lang} code for {topic}; it fails on empty input.",
        "Implement {topic} in {lang} with unit tests.",
        "Explain the time complexity of my {lang} solution for {topic}.",
    ],
    "math": [
        "A train travels {a} km in {b} minutes. What is its speed in km/h?",
        "Solve for x: {a}x + {b} = {c}.",
        "What is the probability of rolling a sum of {a} with two dice?",
        "If a shop gives {a}% off a price of {b} dollars, what is the final price?",
    ],
    "summarize": [
        "Summarize the key points of {subject} in three bullet points.",
        "Give me a short executive summary of {subject}.",
        "TL;DR of {subject}, please, for a busy manager.",
    ],
    "chat": [
        "Hey! Any tips for {chat}?",
        "I'm bored. Tell me something fun about {chat}.",
        "What do you think about {chat}?",
    ],
    "translate": [
        "Translate into {tl}: {sentence}",
        "How would you say this in {tl}? {sentence}",
    ],
}

# Five models: one strong and dear, two specialists, two cheap generalists.
SYNTHETIC_MODELS: list[ModelProfile] = [
    ModelProfile(
        id="frontier-xl",
        provider="acme",
        family="xl",
        capabilities=frozenset({"code", "math", "json", "tools"}),
        context_window=128000,
        input_usd_per_mtok=10.0,
        output_usd_per_mtok=30.0,
        typical_latency_ms=3000.0,
        source="synthetic",
    ),
    ModelProfile(
        id="coder-m",
        provider="bits",
        family="coder",
        capabilities=frozenset({"code", "json"}),
        context_window=32000,
        input_usd_per_mtok=0.8,
        output_usd_per_mtok=1.6,
        typical_latency_ms=1500.0,
        source="synthetic",
    ),
    ModelProfile(
        id="math-s",
        provider="bits",
        family="math",
        capabilities=frozenset({"math"}),
        context_window=8000,
        input_usd_per_mtok=0.3,
        output_usd_per_mtok=0.6,
        typical_latency_ms=900.0,
        source="synthetic",
    ),
    ModelProfile(
        id="chat-s",
        provider="tiny",
        family="chat",
        capabilities=frozenset(),
        context_window=8000,
        input_usd_per_mtok=0.1,
        output_usd_per_mtok=0.2,
        typical_latency_ms=500.0,
        source="synthetic",
    ),
    ModelProfile(
        id="general-m",
        provider="tiny",
        family="general",
        capabilities=frozenset({"code", "math"}),
        context_window=32000,
        input_usd_per_mtok=1.0,
        output_usd_per_mtok=2.0,
        typical_latency_ms=1200.0,
        source="synthetic",
    ),
]

# Mean quality per kind (rows) and model (columns, in SYNTHETIC_MODELS order).
_MEAN_QUALITY = {
    "code": [0.90, 0.88, 0.30, 0.35, 0.65],
    "math": [0.88, 0.45, 0.86, 0.30, 0.60],
    "summarize": [0.90, 0.55, 0.45, 0.80, 0.75],
    "chat": [0.88, 0.50, 0.40, 0.85, 0.78],
    "translate": [0.92, 0.40, 0.35, 0.70, 0.82],
}
_OUTPUT_TOKENS = {"code": 400, "math": 150, "summarize": 120, "chat": 80, "translate": 40}


def _render(template: str, rng: np.random.Generator) -> str:
    a, b, c = rng.choice(_NUMS, size=3)
    return template.format(
        lang=rng.choice(_LANGS),
        topic=rng.choice(_TOPICS),
        a=a,
        b=b,
        c=c,
        subject=rng.choice(_SUBJECTS),
        chat=rng.choice(_CHAT),
        tl=rng.choice(_TARGET_LANGS),
        sentence=rng.choice(_SENTENCES),
    )


def make_workload(
    n_prompts: int = 3000, seed: int = 0, noise: float = 0.1
) -> tuple[OutcomeLog, list[ModelProfile]]:
    """Generate a full-information log and the models it mentions.

    Quality of model m on a prompt of kind k is ``clip(mean[k, m] - difficulty + noise)``: a
    per-prompt difficulty shared by all models, plus independent noise. Cost follows list
    prices and per-kind answer lengths; latency grows with the answer.

    Parameters
    ----------
    n_prompts : int
        Stream length.
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)``.
    noise : float
        Standard deviation of the per-(prompt, model) quality noise.
    """
    if not isinstance(n_prompts, int) or n_prompts < 1:
        raise invalid("n_prompts", n_prompts, "an int >= 1")
    rng = np.random.default_rng(seed)
    kinds = list(KINDS)
    models = SYNTHETIC_MODELS
    prompts, tasks = [], []
    quality = np.empty((n_prompts, len(models)))
    cost = np.empty_like(quality)
    latency = np.empty_like(quality)
    in_price = np.array([m.input_usd_per_mtok for m in models])
    out_price = np.array([m.output_usd_per_mtok for m in models])
    typical = np.array([m.typical_latency_ms for m in models])
    for i in range(n_prompts):
        kind = kinds[int(rng.integers(len(kinds)))]
        prompt = _render(str(rng.choice(KINDS[kind])), rng)
        prompts.append(prompt)
        tasks.append(kind)
        difficulty = rng.normal(0.0, 0.08)
        quality[i] = np.clip(
            np.array(_MEAN_QUALITY[kind]) - difficulty + rng.normal(0.0, noise, len(models)), 0, 1
        )
        answer = _OUTPUT_TOKENS[kind] * rng.lognormal(0.0, 0.3, len(models))
        cost[i] = (estimate_tokens(prompt) * in_price + answer * out_price) / 1e6
        latency[i] = (
            typical
            * (0.5 + answer / (2 * _OUTPUT_TOKENS[kind]))
            * rng.lognormal(0.0, 0.2, len(models))
        )
    log = OutcomeLog(prompts, tasks, [m.id for m in models], quality, cost, latency)
    return log, list(models)
