"""Clear errors of `tbench aws`: no credentials, an unknown region, a stack that fails to
create, a log group that never appears, a run that fails after deploying (torn down)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from contract.aws import RESOURCES_FILE, AwsResources
from contract.lambda_report import LambdaReport
from tbench.aws.collect import CollectSettings, LogRequest, Window, collect_reports
from tbench.aws.stack import StackError, wait_for_stack
from tbench.aws.teardown import remove_stack
from tbench.cli import app
from tests.tbench.aws.conftest import IGNORE_MOTO_CFN, REGION, STAGE
from tests.tbench.aws.test_aws_run import FAST, left_of

pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings(IGNORE_MOTO_CFN)]


def invoke(*args: str) -> tuple[int, str]:
    """`tbench <args>` in this process: its exit code and what it printed (both streams)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_no_credentials_is_a_clear_error(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, output = invoke("aws", "run", "--scenario", "smoke", "--yes", "--region", REGION)
    assert code == 2
    assert "no AWS credentials found" in output
    assert "Traceback" not in output


def test_an_unknown_region_is_named(aws: dict[str, str]) -> None:
    code, output = invoke("aws", "run", "--scenario", "smoke", "--yes", "--region", "moon-1")
    assert code == 2
    assert "unknown AWS region 'moon-1'" in output


def test_nothing_is_created_without_confirmation(aws: dict[str, str], tmp_path: Path) -> None:
    code, output = invoke("aws", "run", "--scenario", "smoke", "--out", str(tmp_path))
    assert code == 2
    assert "Estimated cost of this run (smoke" in output
    assert "pass --yes" in output
    assert not list(tmp_path.iterdir())


def test_a_stack_that_fails_to_create_says_why() -> None:
    # moto creates every stack it accepts: a failed one is CloudFormation's answers, stubbed
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = "tbench-failing"
    with Stubber(cfn) as stub:
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": stack,
                        "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        "StackStatus": "ROLLBACK_COMPLETE",
                    }
                ]
            },
            {"StackName": stack},
        )
        event = {
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tbench-failing/1",
            "EventId": "1",
            "StackName": stack,
            "Timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        }
        stub.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    {**event, "LogicalResourceId": stack, "ResourceStatus": "ROLLBACK_COMPLETE"},
                    {
                        **event,
                        "LogicalResourceId": "SendMessageFunction",
                        "ResourceStatus": "CREATE_FAILED",
                        "ResourceStatusReason": "Resource handler returned message: "
                        "Memory size 99 is not within the allowed range",
                    },
                ]
            },
            {"StackName": stack},
        )
        with pytest.raises(StackError) as failed:
            wait_for_stack(cfn, stack, timeout_s=5, poll_s=0.01)
    assert "ROLLBACK_COMPLETE" in str(failed.value)
    assert "SendMessageFunction: Resource handler returned message: Memory size 99" in str(
        failed.value
    )


def test_a_log_group_that_never_appears_is_waited_for_within_the_timeout(
    aws: dict[str, str],
) -> None:
    now = int(time.time() * 1000)
    request = LogRequest(
        groups={"SendMessageFunction": "/aws/lambda/tbench-never-SendMessageFunction-X"},
        expected={"SendMessageFunction": 5},
        window=Window(now - 60_000, now),
    )
    started = time.monotonic()
    lines, record = collect_reports(
        boto3.client("logs"), request, CollectSettings(timeout_s=1.0, poll_s=0.2, settle_s=0.5)
    )
    assert time.monotonic() - started < 3
    assert lines == []
    assert not record.settled
    assert record.functions[0].group_found is False
    assert record.missing == [
        "SendMessageFunction: no log group /aws/lambda/tbench-never-SendMessageFunction-X "
        "(its invocations are not priced)"
    ]


def failing_run(
    monkeypatch: pytest.MonkeyPatch, run_id: str, out: Path, *extra: str
) -> tuple[int, str]:
    """A run whose data plane refuses connections (port 9): it deploys, then its target fails
    verification in a second."""
    monkeypatch.setenv("TBENCH_AWS_DATA_PLANE_URL", "ws://127.0.0.1:9/local")
    args = ["aws", "run", "--scenario", "smoke", "--yes", "--run-id", run_id, "--stage", STAGE]
    return invoke(*args, "--out", str(out), *FAST, "--verify", *extra)


def test_a_run_that_fails_after_deploying_is_torn_down(
    aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = "failing-run"
    code, output = failing_run(monkeypatch, run_id, tmp_path)
    assert code == 1, output
    assert "torn down: nothing of run failing-run is left" in output
    resources = AwsResources.model_validate_json((tmp_path / run_id / RESOURCES_FILE).read_text())
    assert resources.torn_down
    assert left_of(run_id) == []


def test_every_page_of_a_group_is_read_and_only_report_lines_count(aws: dict[str, str]) -> None:
    logs = boto3.client("logs")
    group = "/aws/lambda/tbench-paged-SendMessageFunction-X"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    events = [
        {"timestamp": now - 1000 + i, "message": LambdaReport(f"r{i}", 5.0, 5, 256, 60).line()}
        for i in range(60)
    ]
    events.append({"timestamp": now, "message": "START RequestId: r0 Version: $LATEST"})
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    request = LogRequest(
        groups={"SendMessageFunction": group},
        expected={"SendMessageFunction": 60},
        window=Window(now - 60_000, now + 1000),
    )
    settings = CollectSettings(timeout_s=5.0, poll_s=0.1, settle_s=1.0, page_size=25)
    lines, record = collect_reports(logs, request, settings)
    assert len(lines) == 60
    assert record.settled
    assert record.missing == []
    assert lines[0].source.function == "SendMessageFunction"
    assert LambdaReport.parse(lines[0].message) is not None


def test_keep_leaves_everything_named_and_destroy_removes_it(
    aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = "kept-run"
    code, output = failing_run(monkeypatch, run_id, tmp_path, "--keep")
    assert code == 1, output  # the data plane refused: the target failed, the stack stays
    assert f"tbench aws destroy --run-id {run_id}" in output
    resources = AwsResources.model_validate_json((tmp_path / run_id / RESOURCES_FILE).read_text())
    assert resources.kept
    assert not resources.torn_down
    left = left_of(run_id)
    assert set(left) == {resources.stack_name, resources.bucket, *resources.log_groups}
    code, output = invoke("aws", "destroy", "--run-id", run_id, "--yes")
    assert code == 0, output
    assert left_of(run_id) == []


def test_a_stack_stopped_mid_creation_is_deleted_once_creation_ends() -> None:
    # moto creates a stack at once: the states between are CloudFormation's answers, stubbed
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack = "tbench-midway"
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def described(status: str) -> dict[str, object]:
        return {"Stacks": [{"StackName": stack, "CreationTime": created, "StackStatus": status}]}

    with Stubber(cfn) as stub:
        for status in ("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"):  # exists?, then its status
            stub.add_response("describe_stacks", described(status), {"StackName": stack})
        for status in ("CREATE_COMPLETE", "CREATE_COMPLETE"):
            stub.add_response("describe_stacks", described(status), {"StackName": stack})
        stub.add_response("delete_stack", {}, {"StackName": stack})
        stub.add_client_error(
            "describe_stacks", "ValidationError", f"Stack with id {stack} does not exist"
        )
        remove_stack(cfn, stack, timeout_s=5, poll_s=0.01)
        stub.assert_no_pending_responses()
