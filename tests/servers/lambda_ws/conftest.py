"""Fixtures: the handlers module imported inside moto's in-process AWS mock."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from servers.lambda_ws.table import create_table

TABLE = "tbench-test-connections"
HANDLERS = "servers.lambda_ws.handlers"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region; no endpoint overrides leaking in from the shell."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "CONNECTIONS_TABLE": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", raising=False)


@pytest.fixture
def handlers(aws_env: None) -> Iterator[ModuleType]:
    """A fresh import of the handlers (their init phase runs inside the mock), table created."""
    with mock_aws():
        create_table(boto3.client("dynamodb"), TABLE)
        sys.modules.pop(HANDLERS, None)
        module = importlib.import_module(HANDLERS)
        yield module
        module._fanout_pool.shutdown()
        sys.modules.pop(HANDLERS, None)
