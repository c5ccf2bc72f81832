"""`tbench aws run` end to end against moto's server, the emulator playing the data plane."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from analysis.load import load_run_dir
from contract.aws import (
    LOG_COLLECTION_FILE,
    RESOURCES_FILE,
    AwsResources,
    LogCollection,
)
from contract.lambda_report import REPORT_LOG_FILE, SourceRecord, read_invocations
from contract.results import STATUS_FILE, TargetStatus, load_run
from reports.methodology import methodology, warnings
from tbench.aws.run import BILL_FILE
from tests.tbench.aws.conftest import IGNORE_MOTO_CFN, REGION, STAGE, ShipTo, run_env
from tests.tbench.aws.log_shipper import STREAM
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings(IGNORE_MOTO_CFN),
]
TBENCH = str(Path(sys.executable).with_name("tbench"))
# Conformance (half a minute on the emulator) is the same as `tbench run`'s: left to its tests
FAST = [
    "--poll-s",
    "0.2",
    "--log-settle-s",
    "3",
    "--log-timeout-s",
    "20",
    "--no-report",
    "--no-verify",
]


def aws_run(run_id: str, out: Path) -> list[str]:
    """The command line of a quick run of the smoke scenario."""
    return [
        TBENCH, "aws", "run", "--scenario", "smoke", "--yes", "--run-id", run_id,
        "--stage", STAGE, "--out", str(out), *FAST,
    ]  # fmt: skip


def left_of(run_id: str) -> list[str]:
    """What moto still holds of a run: its stack, buckets, log groups."""
    stacks = [
        s["StackName"]
        for s in boto3.client("cloudformation").describe_stacks()["Stacks"]
        if s["StackName"] == f"tbench-{run_id}" and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    buckets = [
        b["Name"]
        for b in boto3.client("s3").list_buckets().get("Buckets", [])
        if b["Name"].startswith(f"tbench-{run_id.lower()}-")
    ]
    groups = [
        g["logGroupName"]
        for g in boto3.client("logs").describe_log_groups(
            logGroupNamePrefix=f"/aws/lambda/tbench-{run_id}-"
        )["logGroups"]
    ]
    return [*stacks, *buckets, *groups]


def test_smoke_run_is_priced_from_the_logs_api_and_leaves_nothing(
    aws: dict[str, str], emulator: tuple[str, Path], ship_logs: ShipTo, tmp_path: Path
) -> None:
    run_id = f"e2e-{secrets.token_hex(3)}"
    ship_logs(tmp_path / run_id / RESOURCES_FILE)
    done = subprocess.run(
        aws_run(run_id, tmp_path),
        env=run_env(aws, emulator[0]),
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = tmp_path / run_id
    target = load_run(run_dir).targets["lambda"]
    assert target.status is TargetStatus.OK
    deployment = target.deployment
    assert deployment is not None
    assert (deployment.cloud, deployment.region, deployment.account_id) == (
        "aws",
        REGION,
        "123456789012",
    )
    assert (deployment.function_memory_mb, deployment.architecture) == (256, "x86_64")
    # AWS's REPORT lines (no emulator note), each named by the function whose group held it
    lines = (run_dir / "lambda" / REPORT_LOG_FILE).read_text().splitlines()
    invocations = read_invocations(lines)
    assert {"ConnectFunction", "SendMessageFunction"} <= {i.function for i in invocations}
    assert all(i.note is None for i in invocations)
    sources = [SourceRecord.parse(line) for line in lines if line.startswith("SOURCE")]
    assert len(sources) == len(invocations)
    assert {s.log_stream for s in sources if s} == {STREAM}  # read back from the Logs API
    published = target.metrics["published"]
    sends = [i for i in invocations if i.function == "SendMessageFunction"]
    assert published
    assert len(sends) >= published
    collection = LogCollection.model_validate_json(
        (run_dir / "lambda" / LOG_COLLECTION_FILE).read_text()
    )
    assert collection.settled
    assert not collection.missing
    # moto's CloudFormation makes no ApiGatewayV2 API: no id to read its metrics by
    assert "no API Gateway metrics" in done.stdout
    bill = (run_dir / BILL_FILE).read_text()
    assert "lambda" in bill
    assert "AWS's billed durations" in bill
    assert "USD" in bill
    resources = AwsResources.model_validate_json((run_dir / RESOURCES_FILE).read_text())
    assert resources.torn_down
    assert len(resources.log_groups) == 4
    assert f"stack tbench-{run_id} is up: {emulator[0]}" in " ".join(done.stdout.split())
    assert left_of(run_id) == []
    # the report draws its Lambda figures from these lines, says whose they are, masks the account
    data = load_run_dir(run_dir)
    assert set(data.lambda_reports["function"]) >= {"ConnectFunction", "SendMessageFunction"}
    assert any("from AWS's own REPORT lines" in note for note in warnings(data))
    deployment_text = dict(methodology(data).deployments)["lambda"]
    assert "********9012" in deployment_text
    assert "123456789012" not in deployment_text


def test_sigterm_mid_load_tears_down(
    aws: dict[str, str], emulator: tuple[str, Path], ship_logs: ShipTo, tmp_path: Path
) -> None:
    run_id = f"term-{secrets.token_hex(3)}"
    child = subprocess.Popen(
        aws_run(run_id, tmp_path),
        env=run_env(aws, emulator[0]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    status = tmp_path / run_id / "lambda" / STATUS_FILE
    # Locust writes its live status once the load is under way
    wait_until(
        lambda: status.exists() or child.poll() is not None, "the load under way", timeout_s=60
    )
    assert status.exists(), child.communicate()[0]
    child.send_signal(signal.SIGTERM)
    output = child.communicate(timeout=60)[0]
    assert child.returncode == 130, output
    assert "interrupted" in output
    assert "torn down" in output
    assert left_of(run_id) == []
