"""The capacity ramp under a kernel-enforced CPU quota: a server made slower per delivery is
found a lower knee than the real one on the same machine, and the reading says what bound it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.capacity import Capacity
from contract.registry import get_target
from contract.results import load_run
from tbench.confine import quota_problem
from tbench.process import TargetProcess

from .fixture_servers import fixture_server
from .tbench_cli import tbench_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or quota_problem() is not None,
        reason=f"needs root and a cgroup cpu controller: {quota_problem()}",
    ),
]

# Rooms of 50 with one publisher at 2 msg/s: 100 deliveries/s a room, doubled each step. Under
# 0.25 vCPU the slow server (0.4 ms of CPU an event) tops out near 600/s; the real one carries
# the whole ramp (1,600/s).
RAMP = """
description = "test: a short capacity ramp"
rooms = 2
users_per_room = 50
publisher_fraction = 0.02
publish_rate_per_s = 2.0
payload_bytes = 64
poll_interval_s = 1.0
long_poll_wait_s = 20.0
spawn_rate = 1000.0
settle_s = 0.5
warmup_s = 1.0
duration_s = 3.0
drain_s = 1.5

[sweep]
growth = 2.0
max_rooms = 16
slo_p99_ms = 100.0
complete = true
cpu_quota_vcpu = 0.25
"""


@pytest.fixture(scope="module")
def slow_sse_server() -> Iterator[TargetProcess]:
    with fixture_server("sse", "tests.loadtests.fixtures.slow_sse_server:app") as server:
        yield server


@pytest.fixture(scope="module")
def sse_server() -> Iterator[TargetProcess]:
    with TargetProcess(get_target("sse")).start(timeout_s=30) as server:
        yield server


def ramp(out: Path, server: TargetProcess, run_id: str) -> Capacity:
    scenario = out / "ramp.toml"
    scenario.write_text(RAMP)
    done = tbench_run(
        out,
        *("--scenario", str(scenario), "--targets", "sse", "--no-verify", "--run-id", run_id),
        *("--url", server.url, "--server-pid", str(server.pid)),
        timeout_s=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = load_run(out / run_id).targets["sse"]
    assert result.capacity is not None, result.error
    return result.capacity


def test_a_slower_server_is_found_a_lower_knee(
    tmp_path: Path, sse_server: TargetProcess, slow_sse_server: TargetProcess
):
    real = ramp(tmp_path, sse_server, "real")
    slow = ramp(tmp_path, slow_sse_server, "slow")
    assert slow.cpu_quota_vcpu == real.cpu_quota_vcpu == 0.25
    assert slow.bound == "server", slow.steps
    assert slow.delivered_per_s < real.delivered_per_s, (slow.steps, real.steps)
    missed = slow.steps[-1]
    assert not missed.passed
    assert missed.why_not
    # the quota held: no step's server used much more than its 0.25 of a core
    assert all(
        step.server_cpu_cores is None or step.server_cpu_cores < 0.35 for step in slow.steps
    ), [step.server_cpu_cores for step in slow.steps]
    assert all(step.connections for step in real.steps)
