from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.registry import get_target
from tbench.process import TargetProcess


@pytest.fixture(scope="module")
def websocket_server() -> Iterator[TargetProcess]:
    with TargetProcess(get_target("websocket")).start(timeout_s=30) as server:
        yield server


@pytest.fixture(scope="module")
def short_polling_server() -> Iterator[TargetProcess]:
    with TargetProcess(get_target("short-polling")).start(timeout_s=30) as server:
        yield server
