"""Fixtures every test package may use: a real, throwaway redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tbench.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Debian's redis-server on a free loopback port, no persistence, in a temp dir."""
    with RedisServer().start() as server:
        yield server
