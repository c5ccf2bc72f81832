"""`tbench run --url`: measure a target someone else started (compose, a real API stage)."""

from __future__ import annotations

from pathlib import Path

from tbench.process import TargetProcess
from tbench.results import TargetStatus, load_run

from .test_run_smoke import tbench_run


def test_a_running_target_is_measured_and_left_running(
    tmp_path: Path, short_polling_server: TargetProcess
):
    done = tbench_run(
        tmp_path,
        "--scenario",
        "smoke",
        "--targets",
        "short-polling",
        "--url",
        short_polling_server.url,
        "--run-id",
        "given",
        timeout_s=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = load_run(tmp_path / "given").targets["short-polling"]
    assert result.status is TargetStatus.OK, result.error
    assert result.url == short_polling_server.url
    assert result.metrics["delivered"] == result.metrics["expected"] > 0
    assert "server_cpu_s" not in result.metrics  # not ours to sample
    assert result.metrics["loadgen_cpu_percent_mean"] is not None
    assert short_polling_server.alive()  # not ours to stop


def test_url_takes_exactly_one_target(tmp_path: Path):
    done = tbench_run(
        tmp_path, "--targets", "sse,websocket", "--url", "http://127.0.0.1:9", timeout_s=60
    )
    assert done.returncode == 2
    assert "exactly one target" in done.stderr
