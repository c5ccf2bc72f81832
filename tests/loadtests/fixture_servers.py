"""Test-only variants of a target (tests/loadtests/fixtures/), started as the real one is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from contract.registry import get_target
from tbench.process import Spawn, TargetProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def fixture_server(target: str, app: str) -> Iterator[TargetProcess]:
    """`target` served by the test-only `app` ("tests.loadtests.fixtures.MODULE:app")."""
    spec = replace(get_target(target), app=app)
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    with TargetProcess(spec, spawn=Spawn(env={"PYTHONPATH": path})).start(timeout_s=30) as server:
        yield server
