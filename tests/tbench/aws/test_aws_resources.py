"""What `tbench aws` deploys and removes: the translated template, the tagged resources,
`tbench aws destroy` by run id and by tag, API Gateway's metrics as CloudWatch gives them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from contract.aws import RUN_ID_TAG
from servers.lambda_ws.template import load_template
from tbench.aws.metrics import read_metrics
from tbench.aws.package import package_handlers
from tbench.aws.session import connect
from tbench.aws.stack import (
    StackSettings,
    create_code_bucket,
    create_stack,
    plan_resources,
    template_body,
    upload_code,
    wait_for_stack,
)
from tbench.aws.translate import TranslationError, translate
from tbench.cli import app
from tests.tbench.aws.conftest import IGNORE_MOTO_CFN
from tests.tbench.aws.test_aws_run import left_of

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings(IGNORE_MOTO_CFN)]
SETTINGS = StackSettings(memory_mb=512, architecture="arm64", stage="prod")


def test_translated_template_is_plain_cloudformation_and_cfn_lint_clean(tmp_path: Path) -> None:
    template = translate(load_template(), "bucket", "code/x.zip", {RUN_ID_TAG: "r1"})
    assert "Transform" not in template
    assert "Globals" not in template
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not any(kind.startswith("AWS::Serverless::") for kind in types)
    function = template["Resources"]["SendMessageFunction"]["Properties"]
    assert function["Code"] == {"S3Bucket": "bucket", "S3Key": "code/x.zip"}
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert {"Key": RUN_ID_TAG, "Value": "r1"} in function["Tags"]
    role = template["Resources"]["SendMessageFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert "execute-api:ManageConnections" in [s["Action"] for s in statements]
    path = tmp_path / "translated.json"
    path.write_text(json.dumps(template))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    linted = subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, timeout=100)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_sam_beyond_the_subset_is_refused() -> None:
    template = load_template()
    template["Resources"]["ConnectFunction"]["Properties"]["Events"] = {"Api": {}}
    with pytest.raises(TranslationError, match=r"ConnectFunction: SAM properties.*Events"):
        translate(template, "bucket", "key", {})


def test_the_package_is_the_handler_module_and_the_same_every_time() -> None:
    first, second = package_handlers(), package_handlers()
    assert first == second
    assert first.key.startswith("code/")


def deploy(run_id: str) -> None:
    """A run's bucket and stack, as `tbench aws run` makes them, left in place."""
    account = connect(None)
    resources = plan_resources(run_id, account)
    package = package_handlers()
    create_code_bucket(account.s3(), resources)
    upload_code(account.s3(), resources.bucket, package)
    cfn = account.cloudformation()
    create_stack(cfn, resources, template_body(resources, package), SETTINGS)
    wait_for_stack(cfn, resources.stack_name, timeout_s=30, poll_s=0.1)
    # a late invocation's group, made by Lambda after the stack's own went (untagged)
    boto3.client("logs").create_log_group(
        logGroupName=f"/aws/lambda/tbench-{run_id}-SendMessageFunction-LATE"
    )


def test_destroy_by_run_id_then_by_tag(aws: dict[str, str]) -> None:
    deploy("left")
    deploy("left-b2")  # an id that starts with the other's
    assert len(left_of("left-b2")) == 7  # stack, bucket, four log groups and the late one
    stack = boto3.client("cloudformation").describe_stacks(StackName="tbench-left")
    assert {"Key": RUN_ID_TAG, "Value": "left"} in stack["Stacks"][0]["Tags"]
    result = CliRunner().invoke(app, ["aws", "destroy", "--run-id", "left", "--yes"])
    assert result.exit_code == 0, result.output
    assert len(left_of("left-b2")) == 7  # not "left"'s, though its names start alike
    assert all("left-b2" in name for name in left_of("left"))  # nothing of "left" is left
    result = CliRunner().invoke(app, ["aws", "destroy", "--all-tagged", "--yes"])
    assert result.exit_code == 0, result.output
    assert left_of("left") == []
    again = CliRunner().invoke(app, ["aws", "destroy", "--all-tagged", "--yes"])
    assert "nothing to remove" in again.output


def test_destroy_needs_exactly_one_selection(aws: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["aws", "destroy", "--yes"])
    assert result.exit_code == 2
    assert "give --run-id ID or --all-tagged" in result.output


def test_api_gateway_metrics_are_read_by_api_and_stage(aws: dict[str, str]) -> None:
    cloudwatch = boto3.client("cloudwatch")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dimensions = [{"Name": "ApiId", "Value": "abc123"}, {"Name": "Stage", "Value": "prod"}]
    for name, value in (("ConnectCount", 6.0), ("MessageCount", 75.0), ("ClientError", 1.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/ApiGateway",
            MetricData=[
                {"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": now}
            ],
        )
    metrics = read_metrics(
        cloudwatch, "abc123", "prod", now - dt.timedelta(minutes=2), now + dt.timedelta(minutes=1)
    )
    totals = {series.name: series.total for series in metrics.series}
    assert totals == {
        "ConnectCount": 6.0,
        "MessageCount": 75.0,
        "IntegrationLatency": 0.0,
        "ExecutionError": 0.0,
        "ClientError": 1.0,
    }


POLICY = Path(__file__).parents[3] / "servers" / "lambda_ws" / "iam-policy.json"
# The calls tbench/aws makes, as IAM actions (STS's GetCallerIdentity needs none)
CALLS = {
    "s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:PutObject",
    "s3:GetBucketTagging", "s3:ListBucket", "s3:ListBucketVersions", "s3:DeleteObject",
    "s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:ListAllMyBuckets",
    "cloudformation:CreateStack", "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents", "cloudformation:ListStackResources",
    "cloudformation:DeleteStack", "logs:FilterLogEvents", "logs:DescribeLogGroups",
    "logs:DeleteLogGroup", "logs:ListTagsLogGroup", "cloudwatch:GetMetricData",
}  # fmt: skip
# What CloudFormation does with the caller's permissions, per resource type of the template
CREATES = {
    "AWS::IAM::Role": "iam:CreateRole",
    "AWS::Lambda::Function": "lambda:CreateFunction",
    "AWS::Lambda::Permission": "lambda:AddPermission",
    "AWS::DynamoDB::Table": "dynamodb:CreateTable",
    "AWS::Logs::LogGroup": "logs:CreateLogGroup",
    "AWS::ApiGatewayV2::Api": "apigateway:POST",
}


def test_the_iam_policy_allows_every_call_and_every_resource_the_stack_makes() -> None:
    policy = json.loads(POLICY.read_text())
    allowed = {
        action
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert allowed >= CALLS
    template = translate(load_template(), "bucket", "key", {})
    for resource in template["Resources"].values():
        kind = resource["Type"]
        assert CREATES.get(kind, "apigateway:POST") in allowed, kind
    assert "*" not in {a.split(":")[1] for a in allowed}  # no service-wide wildcards


# What the handlers need only for properties the template does not set (keys, VPCs, replicas)
UNUSED_FEATURES = ("kms:", "ec2:", "kinesis:", "elasticfilesystem:", "s3files:", "firehose:")


def test_the_iam_policy_covers_cloudformations_handlers_for_every_resource_type() -> None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    policy = json.loads(POLICY.read_text())
    allowed = {  # IAM's action names are case-insensitive
        action.lower()
        for statement in policy["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    template = translate(load_template(), "bucket", "key", {})
    for kind in {resource["Type"] for resource in template["Resources"].values()}:
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema["handlers"]
        # read and delete run for every resource; create's extras follow optional properties
        needed = {p.lower() for step in ("read", "delete") for p in handlers[step]["permissions"]}
        missing = {p for p in needed - allowed if not p.startswith(UNUSED_FEATURES)}
        assert not missing, (kind, missing)
