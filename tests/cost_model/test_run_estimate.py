"""The estimate `tbench aws run` prints before it deploys anything."""

from __future__ import annotations

from decimal import Decimal

from cost_model.run_estimate import describe_estimate, estimate_run
from loadtests import scenario_files


def test_a_run_is_priced_for_its_own_length_and_load(pricing):
    smoke = scenario_files.load("smoke")
    estimate = estimate_run(smoke, pricing, 256, "x86_64")
    assert estimate.bill.workload.month_days == 1
    assert round(estimate.bill.messages_sent, 6) == Decimal(75)  # 6 publishers x 5/s x 2.5 s
    assert estimate.bill.sessions == smoke.users + 20  # the conformance checks' connections too
    assert "under 0.01 USD" in describe_estimate(estimate)
    chat = estimate_run(scenario_files.load("chat"), pricing, 1024, "arm64")
    assert chat.bill.workload.architecture == "arm64"
    assert chat.total_usd > estimate.total_usd
