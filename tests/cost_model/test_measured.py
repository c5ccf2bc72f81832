from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from typer.testing import CliRunner

from cost_model.chat import ChatWorkload, chat_bill
from cost_model.measured import (
    Load,
    MeasuredRunError,
    container_cost,
    crossover,
    load_of_run,
    measure_run,
    price_run,
    serverless_cost,
)
from tbench.cli import app
from tbench.lambda_report import UNNAMED_FUNCTION
from tests.cost_model.measured_run import BASE_RSS, write_run

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "tiny-run")


def test_measurements_are_read_from_run_json_and_the_report_log(run_dir):
    measured = measure_run(run_dir)
    (lam,) = measured.serverless
    assert {f.name: (f.invocations, f.billed_ms, f.cold_starts) for f in lam.functions} == {
        "ConnectFunction": (10, 200, 1),
        "DisconnectFunction": (10, 200, 1),
        "SendMessageFunction": (100, 10_000, 1),
    }
    assert lam.send_ms_per_message == 100  # 10,000 ms / 100 published
    assert lam.connect_ms_per_session == 20  # 200 ms / 10 sessions
    assert lam.memory_mb == 256
    (ws,) = measured.containers
    assert ws.cpu_s_per_1k_delivered == D("0.5")
    assert ws.base_rss_bytes == BASE_RSS
    assert measured.skipped == {"sse": "not measured (failed)"}
    # one publisher in a room of five at 1 msg/s: 0.2 msg/s per user, all day
    assert measured.messages_per_user_per_day == 17_280


def test_a_log_without_emulator_notes_counts_every_invocation_per_message(tmp_path):
    measured = measure_run(write_run(tmp_path / "aws", named=False))
    (lam,) = measured.serverless
    assert [f.name for f in lam.functions] == [UNNAMED_FUNCTION]
    assert lam.send_ms_per_message == 104  # (200 + 10,000 + 200) ms / 100 published
    assert lam.connect_ms_per_session == 0


def test_serverless_is_the_chat_model_at_measured_durations(run_dir, pricing):
    measured = measure_run(run_dir)
    load = load_of_run(measured)
    cost = serverless_cost(measured.serverless[0], load, pricing)
    expected = chat_bill(
        ChatWorkload(
            users=D(10),
            hours_per_day=D(24),
            messages_per_user_per_day=D(17_280),
            room_size=5,
            message_bytes=300,
            send_duration_ms=D(100),
            connect_duration_ms=D(20),
            disconnect_duration_ms=D(20),
            free_tier=False,
        ),
        pricing,
    )
    assert cost.monthly_usd == expected.total_usd
    assert cost.delivered_per_month == 25_920_000  # 10 users x 17,280 x 30 days x 5 members
    assert cost.usd_per_million_delivered == expected.total_usd / D("25.92")


def test_containers_are_fargate_tasks_sized_from_cpu_and_memory(run_dir, pricing):
    measured = measure_run(run_dir)
    cost = container_cost(measured.containers[0], load_of_run(measured), pricing)
    assert cost.sizing is not None
    assert cost.sizing.required_vcpu == D("0.005")  # 10 msgs/s x 0.5 s / 1,000
    assert cost.sizing.tasks == 1
    assert cost.monthly_usd == D("35.55")  # 1 vCPU x 720 h x 0.04048 + 2 GB x 720 h x 0.004445


def test_crossover_is_where_serverless_passes_the_containers(run_dir, pricing):
    measured = measure_run(run_dir)
    load = load_of_run(measured)
    lam, ws = measured.serverless[0], measured.containers[0]
    crossing = crossover(lam, ws, load, pricing)
    assert crossing.delivered_per_second is not None
    assert not crossing.dearer_from_start
    rate = crossing.delivered_per_second

    def costs(per_second: D) -> tuple[D, D]:
        at = load.at_delivered_rate(per_second)
        return (
            serverless_cost(lam, at, pricing).monthly_usd,
            container_cost(ws, at, pricing).monthly_usd,
        )

    above_lambda, above_containers = costs(rate)
    below_lambda, below_containers = costs(rate * D("0.99"))
    assert above_lambda > above_containers
    assert below_lambda <= below_containers


def test_many_idle_users_make_serverless_dearer_from_the_start(run_dir, pricing):
    measured = measure_run(run_dir)
    crowd = Load(users=D(1_000_000), messages_per_user_per_day=D(1), room_size=5)
    crossing = crossover(measured.serverless[0], measured.containers[0], crowd, pricing)
    assert crossing.dearer_from_start


def test_price_run_prices_every_measured_target(run_dir, pricing):
    priced = price_run(measure_run(run_dir), pricing)
    assert [(c.target, c.kind) for c in priced.costs] == [
        ("lambda", "serverless"),
        ("websocket", "containers"),
    ]
    assert len(priced.crossovers) == 1


def test_not_a_run_directory(tmp_path):
    with pytest.raises(MeasuredRunError, match=r"no readable run\.json"):
        measure_run(tmp_path)


def test_cli_prints_cost_per_million_and_the_crossover(run_dir):
    result = runner.invoke(app, ["cost", "run", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "per million msgs" in result.output
    assert "websocket" in result.output
    assert "35.55 USD" in result.output
    assert "lambda vs websocket: serverless becomes dearer above" in result.output
    assert "sse: not measured (failed)" in result.output


def test_cli_load_options_and_json(run_dir):
    result = runner.invoke(
        app,
        [
            "cost",
            "run",
            str(run_dir),
            "--users",
            "10000",
            "--msgs-per-user-per-day",
            "50",
            "--hours-per-day",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["load"]["users"] == 10000
    assert data["load"]["hours_per_day"] == 8
    costs = {cost["target"]: cost for cost in data["costs"]}
    assert costs["websocket"]["delivered_per_month"] == 10000 * 50 * 30 * 5
    assert costs["lambda"]["chat"]["workload"]["send_duration_ms"] == 100


def test_cli_refuses_a_directory_without_run_json(tmp_path):
    result = runner.invoke(app, ["cost", "run", str(tmp_path)])
    assert result.exit_code == 2
    assert "no readable run.json" in result.output
