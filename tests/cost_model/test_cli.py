from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tbench.cli import app

TALK = ["cost", "lambda", "--concurrency", "1000", "--duration-ms", "200", "--memory-mb", "256"]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def error_text(result) -> str:
    """A usage error's message without the box typer draws around it."""
    return " ".join(result.output.replace("│", " ").split())


def test_lambda_text_follows_the_calculator_layout_with_the_talks_numbers():
    result = invoke(*TALK)
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in [
        "Unit conversions",
        "Amount of memory allocated: 256 MB x 0.0009765625 GB in a MB = 0.25 GB",
        "1,000 concurrent executions / 0.2 seconds per request = 5,000 per second",
        "Requests per minute: 5,000 x 60 seconds = 300,000 per minute",
        "Number of requests: 432,000,000 per day x 30 days in a month = 12,960,000,000 per month",
        "Pricing calculations",
        "12,960,000,000 requests x 200 ms x 0.001 ms to sec conversion factor"
        " = 2,592,000,000.00 total compute (seconds)",
        "0.25 GB x 2,592,000,000.00 seconds = 648,000,000.00 total compute (GB-s)",
        "648,000,000.00 GB-s - 400,000 free tier GB-s = 647,600,000.00 GB-s",
        "= 647,600,000.00 total billable GB-s",
        "Tiered price for: 647,600,000.00 GB-s",
        "647,600,000.00 GB-s x 0.0000166667 USD = 10,793.3549 USD",
        "Total tier cost = 10,793.3549 USD",
        "Monthly compute charges (x86_64): 10,793.35 USD",
        "12,959,000,000 total monthly billable requests x 0.0000002 USD = 2,591.80 USD",
        "Monthly request charges: 2,591.80 USD",
        "Monthly ephemeral storage charges: 0.00 USD",
    ]:
        assert expected in out, expected
    assert out.rstrip().endswith("= 13,385.15 USD")


def test_lambda_json_has_the_same_numbers():
    result = invoke(*TALK, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["service"] == "lambda"
    assert doc["currency"] == "USD"
    assert doc["throughput"]["per_second"] == 5000
    assert doc["throughput"]["per_month"] == 12_960_000_000
    bill = doc["bill"]
    assert bill["compute"]["compute_seconds"] == 2_592_000_000
    assert bill["compute"]["gb_seconds"] == 648_000_000
    assert bill["compute"]["billable_gb_seconds"] == 647_600_000
    assert bill["compute"]["charge"]["usd"] == 10793.35
    assert bill["requests"]["charge"]["usd"] == 2591.8
    assert bill["total_usd"] == 13385.15


def test_lambda_tier_crossing_is_shown_tier_by_tier():
    # 10 B requests x 1 s x 1 GB = 10 B GB-s, across the first two x86 tiers.
    result = invoke(
        "cost", "lambda", "--requests-per-month", "10000000000", "--duration-ms", "1000",
        "--memory-mb", "1024", "--no-free-tier",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6,000,000,000.00 GB-s x 0.0000166667 USD = 100,000.2000 USD" in result.output
    assert "4,000,000,000.00 GB-s x 0.000015 USD = 60,000.0000 USD" in result.output
    assert "Total tier cost = 100,000.2000 USD + 60,000.0000 USD = 160,000.2000 USD" in (
        result.output
    )
    assert "Free tier not applied" in result.output
    assert "exceeds Lambda's default quota" in result.output  # 3,858 concurrent


COLD = [
    "cost", "lambda", "--requests-per-month", "1000000", "--duration-ms", "100",
    "--memory-mb", "256", "--no-free-tier", "--cold-start-percent", "10",
    "--init-duration-ms", "500",
]  # fmt: skip


def test_lambda_cold_starts_are_an_init_line():
    result = invoke(*COLD)
    assert result.exit_code == 0, result.output
    out = result.output
    # 1,000,000 x 10 % = 100,000 cold starts x 500 ms = 50,000 s x 0.25 GB = 12,500 GB-s;
    # 12,500 x 0.0000166667 = 0.20833375 -> 0.21 USD; 0.42 compute + 0.21 + 0.20 requests
    for expected in [
        "1,000,000 requests x 10 % cold starts = 100,000 invocations with INIT x 500 ms x 0.001"
        " = 50,000.00 INIT seconds",
        "INIT phase (cold starts): 100,000 invocations with INIT, 0.25 GB x 50,000.00 seconds"
        " = 12,500.00 INIT GB-s",
        "Monthly INIT charges (billed since 2025-08-01): 0.2083 USD = 0.21 USD",
        "0.42 USD compute + 0.21 USD INIT + 0.20 USD requests",
    ]:
        assert expected in out, expected
    assert out.rstrip().endswith("= 0.83 USD")
    old = invoke(*COLD, "--init-billing", "free")
    assert "Monthly INIT charges (not billed: the rule before 2025-08-01): 0.00 USD" in old.output
    assert old.output.rstrip().endswith("= 0.62 USD")


def test_the_talk_counts_no_cold_starts():
    out = invoke(*TALK).output
    assert "INIT phase (cold starts): 0 invocations with INIT" in out
    assert "0.00 USD INIT" in out


def test_cold_starts_are_a_share_of_requests():
    result = invoke(*COLD[:-4], "--cold-start-percent", "101")
    assert result.exit_code == 2
    assert "at most 100" in error_text(result)


def test_lambda_needs_exactly_one_of_concurrency_and_monthly_requests():
    neither = invoke("cost", "lambda", "--duration-ms", "200")
    both = invoke(*TALK, "--requests-per-month", "5")
    assert neither.exit_code == both.exit_code == 2
    assert "--concurrency / --requests-per-month: give exactly one of them" in error_text(neither)


def test_bad_numbers_are_refused_by_option():
    result = invoke("cost", "lambda", "--concurrency", "lots", "--duration-ms", "200")
    assert result.exit_code == 2
    assert "'--concurrency': 'lots' is not a number" in error_text(result)


def test_pricing_file_and_rate_flags_change_the_bill(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text("[lambda.requests]\nprice = 0.40\n")
    doc = json.loads(invoke(*TALK, "--pricing", str(prices), "--json").output)
    assert doc["bill"]["requests"]["charge"]["usd"] == 5183.6  # 12,959 M x 0.40/M
    doc = json.loads(invoke(*TALK, "--rate", "lambda.requests.price=0", "--json").output)
    assert doc["bill"]["total_usd"] == 10793.35


def test_malformed_pricing_file_exits_with_the_field_named(tmp_path):
    prices = tmp_path / "bad.toml"
    prices.write_text('[lambda.compute.x86_64]\nper = "one"\n')
    result = invoke(*TALK, "--pricing", str(prices))
    assert result.exit_code == 2
    assert "lambda.compute.x86_64.per: Input should be a valid integer" in result.stderr


def test_apigw_ws_from_users_and_hours():
    result = invoke(
        "cost", "apigw-ws", "--messages", "2000000000", "--message-bytes", "33792",
        "--users", "1000", "--hours-per-day", "8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "= 4,000,000,000 metered messages" in result.output
    assert "1,000 users x 8 hours per day x 60 minutes x 30 days = 14,400,000" in result.output
    assert result.output.rstrip().endswith("= 3,403.60 USD")


def test_apigw_ws_needs_minutes_or_users():
    result = invoke("cost", "apigw-ws", "--messages", "10", "--users", "5")
    assert result.exit_code == 2


def test_chat_shows_every_service_and_the_total():
    args = ["--users", "10000", "--hours-per-day", "8", "--messages-per-user-per-day", "50"]
    result = invoke("cost", "chat", *args, "--room-size", "10")
    assert result.exit_code == 0, result.output
    for expected in [
        "Sessions: 10,000 users x 4 x 30 days = 1,200,000",
        "Messages out: 15,000,000 x 10 room members (sender included)"
        " = 150,000,000 @connections POSTs",
        "API Gateway total: 201.00 USD",
        "Invocations: 15,000,000 + 1,200,000 + 1,200,000 = 17,400,000",
        "DynamoDB total: 3.94 USD",
    ]:
        assert expected in result.output, expected
    assert result.output.rstrip().endswith("= 208.22 USD")
    doc = json.loads(invoke("cost", "chat", *args, "--room-size", "10", "--json").output)
    assert doc["total_usd"] == 208.22
    assert doc["lambda"]["requests"]["requests"] == 17_400_000


@pytest.mark.parametrize("hours", ["0", "25"])
def test_chat_refuses_impossible_hours(hours):
    result = invoke(
        "cost", "chat", "--users", "1", "--hours-per-day", hours,
        "--messages-per-user-per-day", "1", "--room-size", "2",
    )  # fmt: skip
    assert result.exit_code == 2


def test_fargate_and_prices():
    result = invoke("cost", "fargate", "--vcpu", "0.25", "--memory-gb", "0.5", "--tasks", "2")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("= 17.77 USD")
    listing = invoke("cost", "prices").output
    assert "lambda.requests: 0.2 USD per 1,000,000 requests" in listing
    assert "https://aws.amazon.com/fargate/pricing/" in listing


def test_installed_command_prints_the_talks_total():
    result = subprocess.run(
        [sys.executable, "-m", "tbench.cli", *TALK, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout)["bill"]["total_usd"] == 13385.15
