"""Deploy the lambda target's stack: the code bucket, the archive, the CloudFormation stack.

Names come first (`plan_resources`), so the run can write down what it may create before it
creates anything; the stack's own resources (functions, their log groups) are read from it
once it is up.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from contract.aws import RUN_ID_TAG, AwsResources
from servers.lambda_ws.template import load_template
from tbench.aws.package import CodePackage
from tbench.aws.translate import translate

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import ParameterTypeDef, StackEventTypeDef
    from mypy_boto3_s3 import S3Client

    from tbench.aws.session import AwsAccount

STACK_PREFIX = "tbench-"
URL_OUTPUT = "WebSocketURL"
API_ID_OUTPUT = "ApiId"
FAILED_EVENTS_SHOWN = 5


class StackError(Exception):
    """The stack could not be created; the message gives CloudFormation's reasons."""


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """What the stack is deployed with: the template's parameters."""

    memory_mb: int
    architecture: Literal["x86_64", "arm64"]
    stage: str

    def parameters(self) -> list[ParameterTypeDef]:
        """The template's parameters, as create_stack takes them."""
        values = {
            "MemorySize": str(self.memory_mb),
            "Architecture": self.architecture,
            "StageName": self.stage,
        }
        return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


@dataclass(frozen=True)
class DeployedStack:
    """The stack as created: its client URL, API id, and its functions by logical id."""

    url: str
    api_id: str
    functions: dict[str, str]  # logical id -> function name
    log_groups: dict[str, str]  # logical id of the function -> its log group


def run_tags(run_id: str) -> dict[str, str]:
    """The tags every resource of a run carries."""
    return {RUN_ID_TAG: run_id}


def plan_resources(run_id: str, account: AwsAccount) -> AwsResources:
    """The names the run will create (stack, bucket), before anything is created."""
    # Bucket names are global and lower case: the run id plus a random suffix.
    bucket = f"{STACK_PREFIX}{run_id.lower()}-{secrets.token_hex(3)}"
    return AwsResources(
        run_id=run_id,
        region=account.region,
        account_id=account.account_id,
        stack_name=f"{STACK_PREFIX}{run_id}",
        bucket=bucket[:63],
    )


def create_code_bucket(s3: S3Client, resources: AwsResources) -> None:
    """Create the run's private code bucket, tagged with its run id."""
    if resources.region == "us-east-1":  # the one region that takes no location constraint
        s3.create_bucket(Bucket=resources.bucket)
    else:
        s3.create_bucket(
            Bucket=resources.bucket,
            # the stubs list the regions by name; the run's is checked against botocore's
            CreateBucketConfiguration={"LocationConstraint": resources.region},  # type: ignore[typeddict-item]
        )
    s3.put_public_access_block(
        Bucket=resources.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    tags = run_tags(resources.run_id)
    s3.put_bucket_tagging(
        Bucket=resources.bucket,
        Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in tags.items()]},
    )


def upload_code(s3: S3Client, bucket: str, package: CodePackage) -> None:
    """Put the functions' archive into the run's bucket."""
    s3.put_object(Bucket=bucket, Key=package.key, Body=package.data)


def template_body(
    resources: AwsResources, package: CodePackage, data_plane_url: str | None = None
) -> str:
    """The template, translated to plain CloudFormation with the run's code and tags; with
    `data_plane_url`, its WebSocketURL output says that URL instead (the tests' emulator)."""
    template = translate(load_template(), resources.bucket, package.key, run_tags(resources.run_id))
    if data_plane_url is not None:
        template["Outputs"][URL_OUTPUT]["Value"] = data_plane_url
    return json.dumps(template, separators=(",", ":"))


def create_stack(
    cfn: CloudFormationClient, resources: AwsResources, body: str, settings: StackSettings
) -> None:
    """Start creating the stack (CAPABILITY_IAM: it makes the functions' roles)."""
    cfn.create_stack(
        StackName=resources.stack_name,
        TemplateBody=body,
        Parameters=settings.parameters(),
        Capabilities=["CAPABILITY_IAM"],
        Tags=[{"Key": key, "Value": value} for key, value in run_tags(resources.run_id).items()],
    )


def wait_for_stack(
    cfn: CloudFormationClient, stack_name: str, timeout_s: float, poll_s: float = 5.0
) -> dict[str, str]:
    """The stack's outputs once it is created; StackError with the failed events' reasons if
    it is not, or if `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if not status.endswith("_IN_PROGRESS"):
            raise StackError(
                f"stack {stack_name} was not created ({status}): {_reasons(cfn, stack_name)}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"stack {stack_name} still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def _reasons(cfn: CloudFormationClient, stack_name: str) -> str:
    """The first failed resources' reasons, from the stack's events (oldest first)."""
    events: list[StackEventTypeDef] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        events += page["StackEvents"]
    failed = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', 'no reason given')}"
        for event in reversed(events)
        if event.get("ResourceStatus", "").endswith("_FAILED")
        and event["LogicalResourceId"] != stack_name
    ]
    return "; ".join(failed[:FAILED_EVENTS_SHOWN]) or "no failed resource in its events"


def read_stack(
    cfn: CloudFormationClient, stack_name: str, outputs: dict[str, str]
) -> DeployedStack:
    """The created stack's URL, API id, functions and their log groups."""
    functions: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary["ResourceType"] == "AWS::Lambda::Function":
                functions[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    return DeployedStack(
        url=outputs[URL_OUTPUT],
        api_id=outputs.get(API_ID_OUTPUT, ""),
        functions=functions,
        log_groups={logical: f"/aws/lambda/{name}" for logical, name in functions.items()},
    )


def stack_exists(cfn: CloudFormationClient, stack_name: str) -> bool:
    """The stack is there (in any state but deleted)."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)
