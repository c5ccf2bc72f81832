"""`tbench lambda tune --aws`: the emulator's durations beside an AWS run's."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.lambda_report import REPORT_LOG_FILE, LambdaReport, SourceRecord
from contract.results import Deployment, load_run, save_run
from tbench.aws.compare import CompareError, aws_durations
from tbench.cli import app
from tests.cost_model.measured_run import write_run

pytestmark = pytest.mark.timeout(90)


def aws_run(tmp_path: Path) -> Path:
    """A run directory as `tbench aws run` leaves it: AWS's lines, each with its SOURCE line."""
    run_dir = write_run(tmp_path / "aws-run")
    run = load_run(run_dir)
    run.targets["lambda"].deployment = Deployment(
        cloud="aws", region="eu-west-1", function_memory_mb=256, architecture="arm64"
    )
    save_run(run_dir, run)
    lines = []
    for index in range(1, 11):  # 10 warm sends of 10..100 ms, and a cold one (left out)
        lines.append(LambdaReport(f"s{index}", 10.0 * index, 10 * index, 256, 70).line())
        lines.append(SourceRecord(f"s{index}", "SendMessageFunction", "stream").line())
    lines.append(LambdaReport("cold", 500.0, 500, 256, 70, 300.0).line())
    lines.append(SourceRecord("cold", "SendMessageFunction", "stream").line())
    (run_dir / "lambda" / REPORT_LOG_FILE).write_text("\n".join(lines) + "\n")
    return run_dir


def test_aws_durations_are_the_warm_sends_at_the_deployed_memory(tmp_path: Path) -> None:
    durations = aws_durations(aws_run(tmp_path))
    assert (durations.memory_mb, durations.architecture, durations.invocations) == (
        256,
        "arm64",
        10,
    )
    assert (durations.duration_p50_ms, durations.duration_p95_ms) == (50.0, 100.0)
    assert durations.billed_p50_ms == 50


def test_a_local_run_is_no_aws_run(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="not a `tbench aws run`"):
        aws_durations(write_run(tmp_path / "local"))
    result = CliRunner().invoke(app, ["lambda", "tune", "--aws", str(tmp_path / "local")])
    assert result.exit_code == 2
    assert "not a `tbench aws run`" in result.output


def test_tune_puts_the_emulator_beside_aws(tmp_path: Path) -> None:
    run_dir = aws_run(tmp_path)
    result = CliRunner().invoke(
        app, ["lambda", "tune", "--aws", str(run_dir), "-n", "2", "--no-cpu-model"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "beside AWS" in text
    assert "256 MB" in text
    assert "50.0 ms" in text  # AWS's p50
    assert "model error" in text
    assert "tiny-run" in text
