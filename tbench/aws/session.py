"""The AWS account a run deploys into: boto3's standard credential chain and a region.

Credentials come as boto3 finds them (environment, ~/.aws config and credentials, SSO, an
instance or task role); `AWS_ENDPOINT_URL` (boto3's own variable) points every client at
another endpoint, e.g. moto's server in the tests. The account is checked with
`sts:GetCallerIdentity` before anything is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

# Standard retries with backoff: CloudWatch Logs and CloudFormation throttle busy accounts.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10)


class AwsSetupError(Exception):
    """The account cannot be used as given (no credentials, unknown region, no access)."""


@dataclass(frozen=True)
class AwsAccount:
    """A boto3 session in one region, and the account it reaches."""

    session: boto3.Session
    region: str
    account_id: str

    def cloudformation(self) -> CloudFormationClient:
        """A CloudFormation client in the run's region."""
        return self.session.client("cloudformation", config=CLIENT_CONFIG)

    def s3(self) -> S3Client:
        """An S3 client in the run's region."""
        return self.session.client("s3", config=CLIENT_CONFIG)

    def logs(self) -> CloudWatchLogsClient:
        """A CloudWatch Logs client in the run's region."""
        return self.session.client("logs", config=CLIENT_CONFIG)

    def cloudwatch(self) -> CloudWatchClient:
        """A CloudWatch client in the run's region."""
        return self.session.client("cloudwatch", config=CLIENT_CONFIG)


def known_regions(session: boto3.Session) -> set[str]:
    """Every region botocore knows CloudFormation in, across the partitions."""
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions |= set(session.get_available_regions("cloudformation", partition))
    return regions


def connect(region: str | None) -> AwsAccount:
    """The session in `region` (or the configured one) and its account; AwsSetupError if there
    is no region, an unknown one, no credentials, or the credentials are refused."""
    # AWS_REGION as the AWS CLI v2 and the other SDKs read it; boto3 reads AWS_DEFAULT_REGION
    region = region or os.environ.get("AWS_REGION") or None
    session = boto3.Session(region_name=region) if region else boto3.Session()
    chosen = session.region_name
    if not chosen:
        raise AwsSetupError("no AWS region: give --region, or set AWS_REGION or a profile's region")
    if chosen not in known_regions(session):
        raise AwsSetupError(
            f"unknown AWS region {chosen!r} (e.g. us-east-1, eu-west-1; `aws ec2 "
            "describe-regions` lists yours)"
        )
    sts: STSClient = session.client("sts", config=CLIENT_CONFIG)
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        raise AwsSetupError(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run `aws configure` / `aws sso login`"
        ) from None
    except NoRegionError:
        raise AwsSetupError("no AWS region: give --region") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsSetupError(
            f"AWS refused the credentials ({error.get('Code')}): {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:  # no route to the endpoint, a malformed config file...
        raise AwsSetupError(f"cannot reach AWS: {exc}") from None
    return AwsAccount(session, chosen, identity["Account"])
