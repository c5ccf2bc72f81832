"""moto in server mode as the AWS account, and the local emulator as the deployed data plane."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from contract.registry import get_target
from tbench.process import Spawn, TargetProcess
from tests.tbench.aws.log_shipper import LogShipper

# moto's server logs every request; its CloudFormation warns of each ApiGatewayV2 resource
logging.getLogger("werkzeug").setLevel(logging.WARNING)
IGNORE_MOTO_CFN = "ignore:Tried to parse:UserWarning"  # (a colon would end the message)
REGION = "us-east-1"
STAGE = "local"  # the emulator's stage: the lambda target's path
ShipTo = Callable[[Path], LogShipper]


def aws_env(endpoint: str) -> dict[str, str]:
    """Fake credentials, the region, every client pointed at moto (boto3's AWS_ENDPOINT_URL)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's boto3 pointed at moto; the same environment for child processes."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    env = aws_env(moto_endpoint)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The local API Gateway + Lambda emulator: its URL and its REPORT log."""
    directory = tmp_path_factory.mktemp("emulator")
    report_log = directory / "lambda-reports.log"
    spawn = Spawn(log_path=directory / "emulator.log")
    server = TargetProcess(
        get_target("lambda"),
        extra_args=("--report-log", str(report_log), "--no-cpu-model"),
        spawn=spawn,
    )
    with server.start():
        yield server.url, report_log


@pytest.fixture
def ship_logs(emulator: tuple[str, Path], aws: dict[str, str]) -> Iterator[ShipTo]:
    """`ship_logs(resources_file)` starts shipping the emulator's REPORT lines to the groups of
    the run that writes that file; every shipper stops after the test."""
    started: list[LogShipper] = []

    def ship(resources_file: Path) -> LogShipper:
        shipper = LogShipper(emulator[1], resources_file)
        shipper.start()
        started.append(shipper)
        return shipper

    yield ship
    for shipper in started:
        shipper.stop()


def run_env(aws: dict[str, str], data_plane_url: str) -> dict[str, str]:
    """A `tbench aws run` child's environment: moto, and the emulator as the data plane."""
    env = {key: value for key, value in os.environ.items() if key != "AWS_PROFILE"}
    return {**env, **aws, "TBENCH_AWS_DATA_PLANE_URL": data_plane_url}
