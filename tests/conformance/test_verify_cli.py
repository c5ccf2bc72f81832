"""`tbench verify`: the command line around the runner, against real servers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from contract.addresses import free_port
from contract.registry import get_target
from tbench.cli import app
from tbench.process import TargetProcess

runner = CliRunner()


def test_unknown_target_is_a_clear_error():
    result = runner.invoke(app, ["verify", "--target", "carrier-pigeon"])
    assert result.exit_code == 2
    assert "unknown target 'carrier-pigeon'" in result.output


def test_unreachable_url_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["verify", "--target", "sse", "--url", url])
    assert result.exit_code == 2
    assert f"cannot reach {url}" in result.output


def test_url_with_several_targets_is_refused():
    result = runner.invoke(app, ["verify", "--target", "all", "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "exactly one --target" in result.output


@pytest.fixture
def running_long_polling():
    # A history bound other than the default: verify must learn it from /healthz.
    with TargetProcess(get_target("long-polling"), extra_args=("--history-size", "300")) as server:
        yield server


def test_verify_a_running_server_prints_the_table_and_exits_zero(running_long_polling):
    result = runner.invoke(
        app, ["verify", "--target", "long-polling", "--url", running_long_polling.url]
    )
    assert result.exit_code == 0, result.output
    for check in ("healthz", "delivery", "long-poll", "bad-input", "slow-consumer"):
        assert check in result.output
    assert "fail" not in result.output
    assert "(history bound 300)" in " ".join(result.output.split()).replace("│ ", "")
