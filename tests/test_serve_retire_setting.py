"""The ``[serve]`` table's ``redis_retire_after_s`` reaches the shared state (real redis-server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from banditroute.errors import InvalidInput
from banditroute.serve import ServeSettings, build_service
from tests.fake_provider import FakeProvider
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)
from tests.test_serve_startup_once import write_config


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


def test_retire_after_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="redis_retire_after_s"):
        ServeSettings(config="models.toml", redis_retire_after_s=0)


def test_retire_after_reaches_the_shared_state(
    tmp_path: Path,
    provider: FakeProvider,
    redis_url: str,  # noqa: F811
) -> None:
    config = write_config(tmp_path / "models.toml", provider)
    settings = ServeSettings(
        config=str(config), redis=redis_url, embedder="hashing", redis_retire_after_s=120.0
    )
    service = build_service(settings)
    try:
        assert service.shared is not None
        assert service.shared.retire_after_s == 120.0  # type: ignore[attr-defined]
        assert ServeSettings(config=str(config)).redis_retire_after_s == 3600.0
    finally:
        service.close()
