"""Fixtures: the handlers inside moto's in-process mock, and the emulator as a real process."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from contract.registry import get_target
from servers.lambda_ws.dynamodb_local import LocalDynamoDB
from servers.lambda_ws.template import create_table
from tbench.process import Spawn, TargetProcess
from tests.waiting import wait_until

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


# --- the emulator as a real target process -------------------------------------------------

RECORDING_HANDLERS = "tests.servers.lambda_ws.recording_handlers"


@dataclass
class Emulator:
    """A running emulator (the registry's `lambda` target) and what it writes."""

    process: TargetProcess
    event_log: Path
    report_log: Path

    def url(self, room: str) -> str:
        """The client URL for `room`."""
        return f"{self.process.url}?room={room}"

    def management(self) -> Any:
        """boto3's @connections client, pointed at the emulator."""
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"http://{self.process.host}:{self.process.port}/local",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def events(self) -> list[dict[str, Any]]:
        """Every event the handlers received so far."""
        if not self.event_log.exists():
            return []
        # A line still being written by a handler has no newline yet: skip it until it is whole.
        lines = self.event_log.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines if line]

    def connection_id(self, room: str, timeout_s: float = 30.0) -> str:
        """The connectionId of the (only) connection that joined `room`."""
        event = wait_until(
            lambda: next(
                (
                    e
                    for e in self.events()
                    if e["requestContext"]["eventType"] == "CONNECT"
                    and (e.get("queryStringParameters") or {}).get("room") == room
                ),
                None,
            ),
            f"{room!r}'s $connect event",
            timeout_s=timeout_s,
        )
        return str(event["requestContext"]["connectionId"])

    def stats(self) -> dict[str, Any]:
        """The emulator's /_stats."""
        base = f"http://{self.process.host}:{self.process.port}"
        stats: dict[str, Any] = httpx.get(f"{base}/_stats", timeout=10).json()
        return stats


def start_emulator(directory: Path, *options: str) -> Emulator:
    """Start the `lambda` target (recording handlers) with extra emulator options."""
    event_log, report_log = directory / "events.jsonl", directory / "lambda-report.log"
    spec = dataclasses.replace(get_target("lambda"), app=RECORDING_HANDLERS)
    process = TargetProcess(
        spec,
        extra_args=("--report-log", str(report_log), *options),
        spawn=Spawn(log_path=directory / "emulator.log", env={"TBENCH_EVENT_LOG": str(event_log)}),
    )
    process.start(timeout_s=60)
    return Emulator(process, event_log, report_log)


def unique_room(prefix: str) -> str:
    """A room no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[LocalDynamoDB]:
    """dynalite, shared with an emulator so a test can look inside the table."""
    server = LocalDynamoDB().start()
    yield server
    server.stop()


@contextlib.contextmanager
def emulator_on(dynamodb: LocalDynamoDB, directory: Path, *options: str) -> Iterator[Emulator]:
    """An emulator whose connections table lives in `dynamodb` (the test can read it)."""
    running = start_emulator(directory, "--dynamodb-endpoint", dynamodb.endpoint_url, *options)
    try:
        yield running
    finally:
        running.process.stop()


def dynamodb_client(server: LocalDynamoDB) -> Any:
    """A boto3 DynamoDB client for that server (it takes any credentials)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
