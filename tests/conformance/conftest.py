"""Verify every registered target (plus the test-only ones) once per session, concurrently."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tbench.conformance.result import CheckResult
from tbench.conformance.runner import verify_started_target
from tbench.registry import TARGETS, TargetSpec

REPO_ROOT = Path(__file__).resolve().parents[2]

BROKEN_SSE = TargetSpec(
    name="broken-sse",
    family="sse",
    app="tests.conformance.broken_server:app",
    description="the SSE target minus every tenth message (must fail)",
)
APIGW_LIKE = TargetSpec(
    name="apigw-like",
    family="websocket",
    app="tests.conformance.apigw_like_server:app",
    description="WebSocket at a stage path, id null, no resume (the Lambda target's shape)",
    scheme="ws",
    path="/dev",
    supports_resume=False,
    assigns_ids=False,
)
TEST_ONLY_TARGETS = (BROKEN_SSE, APIGW_LIKE)


async def _verify_all(specs: list[TargetSpec]) -> dict[str, list[CheckResult]]:
    # The test-only apps live under tests/: make them importable by the launched servers.
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    }
    results = await asyncio.gather(*(verify_started_target(spec, env=env) for spec in specs))
    return {spec.name: result for spec, result in zip(specs, results, strict=True)}


@pytest.fixture(scope="session")
def verified() -> dict[str, dict[str, CheckResult]]:
    """Results per target and check, for the registry and the test-only targets."""
    specs = [*TARGETS.values(), *TEST_ONLY_TARGETS]
    results = asyncio.run(_verify_all(specs))
    return {name: {r.check: r for r in rs} for name, rs in results.items()}
