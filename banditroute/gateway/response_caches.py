"""The gateway's response caches: look a request up before any decision, remember answers after.

Only deterministic requests (temperature 0) use the caches unless ``cache_any`` is set. The
exact cache is tried first, then the semantic cache (guarded by the prompt's content signature);
answers with tool calls are not cached.

>>> from banditroute.embedders import CachedEmbedder, HashingEmbedder
>>> from banditroute.gateway.cache import ExactCache
>>> from banditroute.gateway.completion import Completion
>>> from banditroute.gateway.request import prepare
>>> caches = ResponseCaches(ExactCache(), None, False, CachedEmbedder(HashingEmbedder(16)))
>>> ready = prepare("What is 2 + 2?", None, None, {"temperature": 0})
>>> caches.lookup(ready) is None
True
>>> caches.remember(ready, Completion(text="4", model="m1", cost_usd=0.001, latency_ms=9.0))
>>> hit = caches.lookup(ready)
>>> hit.text, hit.model, hit.cache, hit.cost_usd
('4', 'm1', 'exact', 0.0)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from .cache import CachedResponse, ExactCache
from .completion import Completion
from .messages import Usage
from .semantic_cache import SemanticCache

if TYPE_CHECKING:
    from ..embedders import CachedEmbedder
    from .request import ReadyRequest

__all__ = ["ResponseCaches"]


class ResponseCaches:
    """An exact and a semantic response cache (either may be None) in front of the models.

    Parameters
    ----------
    cache : ExactCache or None
        Answers by exact request key.
    semantic_cache : SemanticCache or None
        Answers by prompt embedding similarity.
    cache_any : bool
        Cache sampled (temperature > 0) requests too.
    embedder : CachedEmbedder
        Embeds prompts for the semantic cache (the engine's embedder).
    """

    def __init__(
        self,
        cache: ExactCache | None,
        semantic_cache: SemanticCache | None,
        cache_any: bool,
        embedder: CachedEmbedder,
    ) -> None:
        self.cache, self.semantic_cache, self.cache_any = cache, semantic_cache, cache_any
        self.embedder = embedder

    def _applies(self, ready: ReadyRequest) -> bool:
        return ready.deterministic or self.cache_any

    def lookup(self, ready: ReadyRequest) -> Completion | None:
        """A cached answer to ``ready`` (no cost, no decision), or None."""
        if not self._applies(ready):
            return None
        if self.cache is not None and (hit := self.cache.get(ready.cache_key)) is not None:
            return _from_cache(hit, "exact")
        if self.semantic_cache is not None:
            vector = self.embedder.embed_one(ready.prompt)
            found = self.semantic_cache.get(vector, None, text=ready.prompt)
            if found is not None:
                return _from_cache(found.response, "semantic")
        return None

    def remember(self, ready: ReadyRequest, completion: Completion) -> None:
        """Store a served answer (not one with tool calls) in every cache."""
        if not self._applies(ready) or completion.tool_calls:
            return
        usage = completion.usage
        entry = CachedResponse(
            completion.text,
            completion.model,
            time.time(),
            None if usage is None else usage.input_tokens,
            None if usage is None else usage.output_tokens,
        )
        if self.cache is not None:
            self.cache.put(ready.cache_key, entry)
        if self.semantic_cache is not None:
            vector = self.embedder.embed_one(ready.prompt)
            self.semantic_cache.put(vector, completion.model, entry, text=ready.prompt)


def _from_cache(hit: CachedResponse, kind: Literal["exact", "semantic"]) -> Completion:
    usage = None
    if hit.input_tokens is not None and hit.output_tokens is not None:
        usage = Usage(input_tokens=hit.input_tokens, output_tokens=hit.output_tokens)
    return Completion(hit.text, hit.model, 0.0, 0.0, usage=usage, cache=kind)
