"""Remove what runs created: their stacks, code buckets and the functions' log groups.

A run tears down its own resources by name (`contract.aws.AwsResources`); `tbench aws destroy`
finds what a killed run left, by its run id (the names it derives from it) or by the run-id
tag on every stack, bucket and log group. Log groups go last: until the functions are gone,
a late invocation could create its group again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from contract.aws import RUN_ID_TAG, AwsResources
from servers.lambda_ws.template import route_functions
from tbench.aws.stack import STACK_PREFIX, stack_exists

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client

    from tbench.aws.session import AwsAccount

LOG_GROUP_PREFIX = "/aws/lambda/"
GONE_CODES = {"NoSuchBucket", "ResourceNotFoundException"}  # and a stack that "does not exist"


@dataclass
class Leftovers:
    """Resources to remove, by name."""

    stacks: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.stacks or self.buckets or self.log_groups)

    def names(self) -> list[str]:
        """Every resource, as `kind name`."""
        return [
            *(f"stack {name}" for name in self.stacks),
            *(f"bucket {name}" for name in self.buckets),
            *(f"log group {name}" for name in self.log_groups),
        ]


def run_log_group_prefix(run_id: str) -> str:
    """The log groups of a run's functions start with this (CloudFormation names functions
    `<stack>-<logical id>-<suffix>`)."""
    return f"{LOG_GROUP_PREFIX}{STACK_PREFIX}{run_id}-"


def _run_log_group(run_id: str) -> re.Pattern[str]:
    """The names of a run's function log groups, and no other run's (`a` is not `a-b`)."""
    functions = "|".join(sorted({r.function_id for r in route_functions().values()}))
    return re.compile(rf"^{re.escape(run_log_group_prefix(run_id))}({functions})-[A-Za-z0-9]+$")


def _run_log_groups(logs: CloudWatchLogsClient, run_id: str) -> list[str]:
    pattern = _run_log_group(run_id)
    return [g for g in _log_groups(logs, run_log_group_prefix(run_id)) if pattern.match(g)]


def of_run(logs: CloudWatchLogsClient, resources: AwsResources) -> Leftovers:
    """What a run named, and any log group of its functions (one Lambda made again, say)."""
    groups = set(resources.log_groups) | set(_run_log_groups(logs, resources.run_id))
    return Leftovers([resources.stack_name], [resources.bucket], sorted(groups))


def find_by_run_id(account: AwsAccount, run_id: str) -> Leftovers:
    """What is left of one run: its stack, its buckets (named and tagged for it) and its
    functions' log groups."""
    cfn, s3 = account.cloudformation(), account.s3()
    stack = f"{STACK_PREFIX}{run_id}"
    bucket = re.compile(rf"^{re.escape(STACK_PREFIX + run_id.lower())}-[0-9a-f]+$")
    return Leftovers(
        stacks=[stack] if stack_exists(cfn, stack) else [],
        buckets=[
            b["Name"]
            for b in s3.list_buckets().get("Buckets", [])
            if bucket.match(b["Name"]) and _bucket_run_id(s3, b["Name"]) == run_id
        ],
        log_groups=_run_log_groups(account.logs(), run_id),
    )


def find_tagged(account: AwsAccount) -> Leftovers:
    """Every stack, bucket and log group carrying the run-id tag, in the account's region."""
    cfn, s3, logs = account.cloudformation(), account.s3(), account.logs()
    stacks = [
        stack["StackName"]
        for page in cfn.get_paginator("describe_stacks").paginate()
        for stack in page["Stacks"]
        if any(tag["Key"] == RUN_ID_TAG for tag in stack.get("Tags", []))
        and stack["StackStatus"] != "DELETE_COMPLETE"
    ]
    buckets = [
        bucket["Name"]
        for bucket in s3.list_buckets().get("Buckets", [])
        if bucket["Name"].startswith(STACK_PREFIX) and _bucket_run_id(s3, bucket["Name"])
    ]
    groups = [
        name
        for name in _log_groups(logs, f"{LOG_GROUP_PREFIX}{STACK_PREFIX}")
        if RUN_ID_TAG in logs.list_tags_log_group(logGroupName=name).get("tags", {})
        or any(name.startswith(f"{LOG_GROUP_PREFIX}{stack}-") for stack in stacks)
    ]
    return Leftovers(stacks, buckets, groups)


def _bucket_run_id(s3: S3Client, bucket: str) -> str | None:
    """The run id a bucket is tagged with (None: none, or not ours to read)."""
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError:  # NoSuchTagSet, or a bucket of someone else's we may not read
        return None
    return next((tag["Value"] for tag in tags if tag["Key"] == RUN_ID_TAG), None)


def _log_groups(logs: CloudWatchLogsClient, prefix: str) -> list[str]:
    return [
        group["logGroupName"]
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
        for group in page["logGroups"]
    ]


def remove(
    account: AwsAccount, leftovers: Leftovers, timeout_s: float, say: Callable[[str], None]
) -> list[str]:
    """Delete stacks (waiting for each), then buckets, then log groups; what could not be
    deleted, in words (empty: everything is gone)."""
    problems: list[str] = []
    cfn = account.cloudformation()
    for stack in leftovers.stacks:
        say(f"deleting stack {stack}")
        problems += _attempt(f"stack {stack}", partial(remove_stack, cfn, stack, timeout_s))
    s3 = account.s3()
    for bucket in leftovers.buckets:
        say(f"deleting bucket {bucket}")
        problems += _attempt(f"bucket {bucket}", partial(_delete_bucket, s3, bucket))
    logs = account.logs()
    for group in leftovers.log_groups:
        say(f"deleting log group {group}")
        problems += _attempt(
            f"log group {group}", partial(logs.delete_log_group, logGroupName=group)
        )
    return problems


def _attempt(what: str, action: Callable[[], object]) -> list[str]:
    """Run one deletion; its failure in words (none when the resource is already gone)."""
    try:
        action()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in GONE_CODES or (code == "ValidationError" and "does not exist" in message):
            return []
        return [f"{what}: {code}: {message}"]
    except StackDeleteError as exc:
        return [f"{what}: {exc}"]
    return []


class StackDeleteError(Exception):
    """A stack did not delete (its events say why)."""


def _stack_status(cfn: CloudFormationClient, stack: str) -> str | None:
    """The stack's status; None once it is gone."""
    if not stack_exists(cfn, stack):
        return None
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def remove_stack(
    cfn: CloudFormationClient, stack: str, timeout_s: float, poll_s: float = 2.0
) -> None:
    """Delete a stack and wait until it is gone; StackDeleteError if it fails or outlasts
    `timeout_s`. A stack still being created or rolled back (a run stopped mid-deploy) is
    waited for first, so the deletion does not race resources still being made (and states
    such as a rollback in progress refuse it)."""
    deadline = time.monotonic() + timeout_s
    status = _stack_status(cfn, stack)
    while status is not None and status.endswith("_IN_PROGRESS") and "DELETE" not in status:
        if time.monotonic() > deadline:
            raise StackDeleteError(f"still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)
        status = _stack_status(cfn, stack)
    if status is None:
        return
    cfn.delete_stack(StackName=stack)
    while (status := _stack_status(cfn, stack)) is not None:
        if status == "DELETE_FAILED":
            raise StackDeleteError("DELETE_FAILED (see its events in the CloudFormation console)")
        if time.monotonic() > deadline:
            raise StackDeleteError(f"still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def _delete_bucket(s3: S3Client, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if versions:
            s3.delete_objects(
                Bucket=bucket,
                Delete={
                    "Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
                },
            )
    for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if contents := listing.get("Contents", []):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in contents]}
            )
    s3.delete_bucket(Bucket=bucket)
