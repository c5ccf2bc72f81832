from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.runner import verify_server_args
from contract.registry import get_target
from tbench.process import TargetProcess


def _started(name: str) -> TargetProcess:
    # Verify's small history, queue and keep-alive, which a run given the URL learns only from
    # /healthz: its checks then take seconds (the defaults' 10,000-message history: a minute).
    spec = get_target(name)
    args, _ = verify_server_args(spec)
    return TargetProcess(spec, extra_args=args).start(timeout_s=30)


@pytest.fixture(scope="module")
def websocket_server() -> Iterator[TargetProcess]:
    with _started("websocket") as server:
        yield server


@pytest.fixture(scope="module")
def short_polling_server() -> Iterator[TargetProcess]:
    with _started("short-polling") as server:
        yield server
