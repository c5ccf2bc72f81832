"""Verify every registered target on each broker once per session, concurrently; the test-only
targets apart, so that the tests of broken targets do not wait for every real one (pytest-xdist
may run the two on different workers)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from conformance.result import CheckResult
from contract.registry import TARGETS, TargetSpec
from tbench.redis_server import RedisServer
from tbench.verify import verify_started_target
from tests.conformance.brokers import BROKER_TARGETS

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
# The checks each is verified with (None: all). The broken target's lost messages make the
# other checks wait out their timeouts (history-lost alone took 85 s), and no test reads them.
TEST_ONLY_TARGETS: dict[TargetSpec, tuple[str, ...] | None] = {
    BROKEN_SSE: ("delivery", "isolation", "resume"),
    APIGW_LIKE: None,
}


Verified = dict[str, dict[str, CheckResult]]  # target -> check -> result


Job = tuple[str, TargetSpec, dict[str, str], tuple[str, ...] | None]  # broker, spec, env, only


async def _verify_all(jobs: list[Job]) -> dict[str, Verified]:
    results = await asyncio.gather(
        *(verify_started_target(spec, env=env, only=only) for _, spec, env, only in jobs)
    )
    by_broker: dict[str, Verified] = {broker: {} for broker in BROKER_TARGETS}
    for (broker, spec, _, _), result in zip(jobs, results, strict=True):
        by_broker[broker][spec.name] = {r.check: r for r in result}
    return by_broker


@pytest.fixture(scope="session")
def verified_by_broker(redis_server: RedisServer) -> dict[str, Verified]:
    """Results per broker, target and check; every server verified at once, each on its own."""
    env = {"memory": {}, "redis": {"TBENCH_BROKER_URL": redis_server.url}}
    jobs: list[Job] = [
        (broker, TARGETS[name], env[broker], None)
        for broker, names in BROKER_TARGETS.items()
        for name in names
    ]
    return asyncio.run(_verify_all(jobs))


@pytest.fixture(scope="session")
def verified(verified_by_broker: dict[str, Verified]) -> Verified:
    """Results per registered target and check on the in-process broker."""
    return verified_by_broker["memory"]


@pytest.fixture(scope="session")
def verified_test_only() -> Verified:
    """Results per check of the test-only targets (broken, API Gateway-shaped), in-process."""
    # Their apps live under tests/: make them importable by the launched servers.
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    jobs: list[Job] = [
        ("memory", spec, {"PYTHONPATH": path}, only) for spec, only in TEST_ONLY_TARGETS.items()
    ]
    return asyncio.run(_verify_all(jobs))["memory"]
