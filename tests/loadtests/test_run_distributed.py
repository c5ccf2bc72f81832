"""`tbench run --workers 2`: Locust master + workers, accounting merged across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.loadgen import LoadgenResult
from contract.results import LOADGEN_FILE, TargetStatus, load_run

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`


def test_two_workers_deliver_everything_and_merge_their_histograms(tmp_path: Path):
    done = tbench_run(
        tmp_path,
        "--scenario",
        "smoke",
        "--targets",
        "websocket",
        "--workers",
        "2",
        "--no-verify",
        "--run-id",
        "distributed",
        timeout_s=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = load_run(tmp_path / "distributed")
    assert run.load_generator.workers == 2
    result = run.targets["websocket"]
    assert result.status is TargetStatus.OK, result.error
    metrics = result.metrics
    assert metrics["expected"] > 0
    assert metrics["delivered"] == metrics["expected"]
    assert metrics["lost"] == metrics["duplicated"] == 0
    loadgen = LoadgenResult.read(tmp_path / "distributed" / "websocket" / LOADGEN_FILE)
    assert loadgen.processes == 3  # the master's own export + two workers'
    # every delivery measured by a worker reached the master's merged histogram
    assert loadgen.latency["delivery"].count > 0
    assert loadgen.latency["connect"].count == 6
