"""The emulator on a DynamoDB it did not start (compose's service): AWS_ENDPOINT_URL_DYNAMODB."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from servers.lambda_ws.dynamodb_local import LocalDynamoDB
from servers.lambda_ws.emulator import parse_args

from .conftest import dynamodb_client, start_emulator

pytestmark = pytest.mark.timeout(120)


def test_the_sdk_variable_is_the_default_endpoint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb:5000")
    assert parse_args(["handlers", "--port", "1"]).dynamodb_endpoint == "http://dynamodb:5000"
    given = parse_args(["handlers", "--port", "1", "--dynamodb-endpoint", "http://other:1"])
    assert given.dynamodb_endpoint == "http://other:1"  # the flag wins
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    assert parse_args(["handlers", "--port", "1"]).dynamodb_endpoint is None  # start dynalite


def test_an_external_endpoint_is_used_and_no_dynamodb_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    dynamodb = LocalDynamoDB().start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint_url)
        emulator = start_emulator(tmp_path)
        try:
            assert emulator.process.proc is not None
            children = psutil.Process(emulator.process.proc.pid).children(recursive=True)
            assert not [c for c in children if "dynalite" in " ".join(c.cmdline())]
            client = dynamodb_client(dynamodb)
            assert "tbench-connections" in client.list_tables()["TableNames"]
        finally:
            emulator.process.stop()
    finally:
        dynamodb.stop()
