from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from contract.registry import get_target
from tbench.process import TargetProcess
from tests.servers.helpers import started_on_first_use


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


BROWSER_ORIGIN = "http://127.0.0.1:8080"  # the one origin the opted-in targets let in


@pytest.fixture(scope="session")
def opted_in() -> Iterator[Callable[[str], TargetProcess]]:
    """Targets started with `--cors-origin BROWSER_ORIGIN --admin`, by name, on first use."""
    with started_on_first_use(
        lambda name: started(name, "--cors-origin", BROWSER_ORIGIN, "--admin")
    ) as get:
        yield get
