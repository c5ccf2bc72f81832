from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from typer.testing import CliRunner

from contract.lambda_report import REPORT_LOG_FILE, UNNAMED_FUNCTION
from cost_model.chat import ChatWorkload, InitPerUse, chat_bill
from cost_model.measured import (
    Load,
    MeasuredRunError,
    PricingTerms,
    container_cost,
    load_of_run,
    measure_run,
    price_run,
    serverless_cost,
)
from tbench.cli import app
from tests.cost_model.measured_run import BASE_RSS, write_run

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "tiny-run")


def test_measurements_are_read_from_run_json_and_the_report_log(run_dir):
    measured = measure_run(run_dir)
    (lam,) = measured.serverless
    fields = {f.name: (f.invocations, f.billed_ms, f.cold_starts, f.init_ms) for f in lam.functions}
    # each function's first line is a cold start: Duration 19.5 (or 99.5) ms + INIT 250 ms;
    # ceil(269.5) - ceil(19.5) = 270 - 20 = 250 ms of INIT
    assert fields == {
        "ConnectFunction": (10, 200, 1, 250),
        "DisconnectFunction": (10, 200, 1, 250),
        "SendMessageFunction": (100, 10_000, 1, 250),
    }
    assert lam.send_ms_per_message == 100  # 10,000 ms / 100 published
    assert lam.connect_ms_per_session == 20  # 200 ms / 10 sessions
    assert lam.send_init == InitPerUse(D("0.01"), D("2.5"))  # 1 cold start, 250 ms / 100 sent
    assert lam.connect_init == InitPerUse(D("0.1"), D(25))  # 1, 250 ms / 10 sessions
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
            send_init=InitPerUse(D("0.01"), D("2.5")),
            connect_init=InitPerUse(D("0.1"), D(25)),
            disconnect_init=InitPerUse(D("0.1"), D(25)),
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


def test_price_run_prices_every_measured_target(run_dir, pricing):
    priced = price_run(measure_run(run_dir), pricing)
    assert [(c.target, c.kind) for c in priced.costs] == [
        ("lambda", "serverless"),
        ("websocket", "containers"),
    ]


def test_not_a_run_directory(tmp_path):
    with pytest.raises(MeasuredRunError, match=r"no readable run\.json"):
        measure_run(tmp_path)


def test_cli_prints_cost_per_million_and_points_to_plan_for_other_scales(run_dir):
    result = runner.invoke(app, ["cost", "run", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "per million msgs" in result.output
    assert "websocket" in result.output
    assert "35.55 USD" in result.output
    assert "tbench plan --users N" in result.output
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


def test_init_cost_line_of_the_run_against_hand_computed_figures(run_dir, pricing):
    cost = serverless_cost(
        measure_run(run_dir).serverless[0], load_of_run(measure_run(run_dir)), pricing
    )
    assert cost.chat is not None
    init = cost.chat.lambda_.init
    # a month at the run's load: 10 users x 17,280 messages a day x 30 days = 5,184,000 sent,
    # 10 users x 12 sessions a day (24 h / 2 h) x 30 days = 3,600 sessions.
    # cold starts: 5,184,000 x 0.01 + 3,600 x 0.1 ($connect) + 3,600 x 0.1 ($disconnect)
    #            = 51,840 + 360 + 360 = 52,560
    assert init.invocations == 52_560
    # INIT: 5,184,000 x 2.5 ms + 3,600 x 25 ms x 2 = 12,960 s + 90 s + 90 s = 13,140 s
    assert init.seconds == 13_140
    # 13,140 s x 0.25 GB = 3,285 GB-s x 0.0000166667 USD = 0.0547501095 -> 0.05 USD
    assert init.gb_seconds == 3_285
    assert init.exact_usd == D("0.0547501095")
    assert init.usd == D("0.05")


def test_old_rule_prices_the_same_run_without_init(run_dir, pricing):
    measured = measure_run(run_dir)
    billed = price_run(measured, pricing)
    free = price_run(measured, pricing, terms=PricingTerms(init_billing="free"))
    assert free.init_billing == "free"
    old = free.costs[0].chat
    new = billed.costs[0].chat
    assert old is not None
    assert new is not None
    assert old.lambda_.init.usd == 0
    assert old.lambda_.init.invocations == 52_560  # counted, not charged
    assert new.lambda_.total_usd - old.lambda_.total_usd == D("0.05")


def test_a_log_without_init_duration_lines_has_no_init_cost(tmp_path, pricing):
    run_dir = write_run(tmp_path / "warm")
    log = run_dir / "lambda" / REPORT_LOG_FILE
    warm = [line.replace("\tInit Duration: 250.00 ms", "") for line in log.read_text().splitlines()]
    assert not any("Init Duration" in line for line in warm)
    log.write_text("\n".join(warm) + "\n")
    lam = measure_run(run_dir).serverless[0]
    assert all(f.cold_starts == 0 and f.init_ms == 0 for f in lam.functions)
    cost = serverless_cost(lam, Load(D(10), D(17_280), 5), pricing)
    assert cost.chat is not None
    assert cost.chat.lambda_.init.invocations == 0
    assert cost.chat.lambda_.init.usd == 0


def test_a_log_that_already_bills_init_is_not_billed_twice(tmp_path):
    emulator = measure_run(write_run(tmp_path / "emulator"))
    run_dir = write_run(tmp_path / "aws-2025")
    # The same cold starts as AWS writes them since 2025-08-01: Billed Duration includes INIT
    # (ceil(19.5 + 250) = 270 ms for $connect, ceil(99.5 + 250) = 350 ms for sendMessage).
    log = run_dir / "lambda" / REPORT_LOG_FILE
    lines = log.read_text().splitlines()
    billed_with_init = [
        line.replace("Billed Duration: 20 ms", "Billed Duration: 270 ms").replace(
            "Billed Duration: 100 ms", "Billed Duration: 350 ms"
        )
        if "Init Duration" in line
        else line
        for line in lines
    ]
    assert billed_with_init != lines
    log.write_text("\n".join(billed_with_init) + "\n")
    assert measure_run(run_dir).serverless == emulator.serverless


def test_cli_shows_the_init_line_and_takes_the_old_rule(run_dir):
    result = runner.invoke(app, ["cost", "run", str(run_dir)])
    assert result.exit_code == 0, result.output
    # 52,560 of 5,184,000 sent + 3,600 x 2 session invocations = 5,191,200: 1.0125 %
    assert (
        "lambda: INIT phase: 52,560 of 5,191,200 invocations with INIT (1.01 %), 3,285.00 GB-s,"
        " 0.05 USD"
        " (billed since 2025-08-01)"
    ) in result.output
    old = runner.invoke(app, ["cost", "run", str(run_dir), "--init-billing", "free"])
    assert old.exit_code == 0, old.output
    assert (
        "lambda: INIT phase: 52,560 of 5,191,200 invocations with INIT (1.01 %), 3,285.00 GB-s,"
        " 0.00 USD"
        " (not billed: the rule before 2025-08-01)"
    ) in old.output
    as_json = runner.invoke(app, ["cost", "run", str(run_dir), "--json"])
    init = json.loads(as_json.output)["costs"][0]["chat"]["lambda"]["init"]
    assert init["invocations"] == 52_560
    assert init["usd"] == 0.05


def test_cli_refuses_an_unknown_init_rule(run_dir):
    result = runner.invoke(app, ["cost", "run", str(run_dir), "--init-billing", "sometimes"])
    assert result.exit_code == 2


def test_a_stack_on_aws_is_priced_at_its_architecture_from_its_own_lines(run_dir, pricing):
    from contract.results import Deployment, load_run, save_run

    x86 = serverless_cost(
        measure_run(run_dir).serverless[0], load_of_run(measure_run(run_dir)), pricing
    )
    run = load_run(run_dir)
    run.targets["lambda"].deployment = Deployment(cloud="aws", architecture="arm64")
    save_run(run_dir, run)
    measured = measure_run(run_dir)
    (lam,) = measured.serverless
    assert lam.architecture == "arm64"
    assert lam.durations_from == "AWS's billed durations (REPORT lines from CloudWatch Logs)"
    arm = serverless_cost(lam, load_of_run(measured), pricing)
    assert arm.chat is not None
    assert arm.chat.workload.architecture == "arm64"
    assert arm.chat.lambda_.total_usd < x86.chat.lambda_.total_usd  # type: ignore[union-attr]
