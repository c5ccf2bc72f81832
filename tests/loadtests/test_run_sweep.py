"""The sweep scenario's mechanics: rooms added in steps, each step measured, the knee found."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import TargetStatus, load_run

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

TINY_SWEEP = """
description = "two quick steps"
rooms = 1
users_per_room = 3
publisher_fraction = 1.0
publish_rate_per_s = 5.0
payload_bytes = 32
spawn_rate = 50.0
settle_s = 0.5
warmup_s = 0.5
duration_s = 1.5
drain_s = 1.5

[sweep]
step_rooms = 1
max_rooms = 2
slo_p95_ms = 5000.0
"""


def test_sweep_adds_rooms_until_max_and_reports_each_step(tmp_path: Path):
    scenario = tmp_path / "tiny_sweep.toml"
    scenario.write_text(TINY_SWEEP)
    done = tbench_run(
        tmp_path,
        "--scenario",
        str(scenario),
        "--targets",
        "websocket",
        "--no-verify",
        "--run-id",
        "sweep",
        timeout_s=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = load_run(tmp_path / "sweep").targets["websocket"]
    assert result.status is TargetStatus.OK, result.error
    assert [step.users for step in result.sweep] == [3, 6]
    assert all(step.passed and step.p95_ms is not None for step in result.sweep)
    assert result.metrics["knee_users"] == 6
    assert result.metrics["users"] == 6
    # rooms joined mid-run are held to what was published after they joined: nothing lost
    assert result.metrics["delivered"] == result.metrics["expected"] > 0
    assert result.metrics["lost"] == 0
