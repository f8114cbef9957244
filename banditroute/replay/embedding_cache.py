"""Moved: the on-disk embedding cache lives in `banditroute.embedding_cache`."""

from __future__ import annotations

from ..embedding_cache import embed_cached

__all__ = ["embed_cached"]
