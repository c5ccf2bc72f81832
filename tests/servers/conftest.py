from __future__ import annotations

from collections.abc import Iterator

import pytest

from tbench.process import TargetProcess
from tbench.registry import get_target


def started(name: str, *extra: str) -> TargetProcess:
    """A real target server process (stopped by the caller)."""
    return TargetProcess(get_target(name), extra_args=extra).start(timeout_s=30)


@pytest.fixture(scope="session")
def short_polling() -> Iterator[TargetProcess]:
    with started("short-polling") as server:
        yield server


@pytest.fixture(scope="session")
def long_polling() -> Iterator[TargetProcess]:
    with started("long-polling", "--long-poll-max-wait-s", "2") as server:
        yield server


@pytest.fixture(scope="session")
def sse() -> Iterator[TargetProcess]:
    with started("sse", "--sse-ping-s", "0.3") as server:
        yield server


@pytest.fixture(scope="session")
def websocket() -> Iterator[TargetProcess]:
    with started("websocket") as server:
        yield server


@pytest.fixture(params=["short-polling", "long-polling", "sse"])
def http_target(request: pytest.FixtureRequest) -> TargetProcess:
    """Each target that publishes over HTTP."""
    server: TargetProcess = request.getfixturevalue(request.param.replace("-", "_"))
    return server
