from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost_model.lambda_cost import (
    LambdaFunction,
    LambdaUsage,
    estimate_lambda,
    lambda_bill,
    price_compute,
    throughput_from_concurrency,
    throughput_from_monthly_requests,
    usd_per_million_invocations,
)


def talk_estimate(pricing, free_tier=True, **function):
    throughput = throughput_from_concurrency(D(1000), D(200), D(30))
    lambda_function = LambdaFunction(memory_mb=D(256), **function)
    return estimate_lambda(throughput, lambda_function, pricing, free_tier=free_tier)


def test_littles_law_gives_the_talks_throughput():
    rate = throughput_from_concurrency(D(1000), D(200), D(30))
    assert rate.per_second == 5_000
    assert rate.per_minute == 300_000
    assert rate.per_hour == 18_000_000
    assert rate.per_day == 432_000_000
    assert rate.per_month == 12_960_000_000


def test_talks_bill_to_the_cent(pricing):
    bill = talk_estimate(pricing).bill
    assert bill.requests.requests == 12_960_000_000
    assert bill.compute.compute_seconds == 2_592_000_000
    assert bill.compute.memory_gb == D("0.25")
    assert bill.compute.gb_seconds == 648_000_000
    assert bill.compute.billable_gb_seconds == 647_600_000
    assert len(bill.compute.charge.tiers) == 1  # far below the 6 B GB-s first tier
    assert bill.compute.charge.exact_usd == D("10793.35492")
    assert bill.compute.charge.usd == D("10793.35")
    assert bill.requests.billable_requests == 12_959_000_000
    assert bill.requests.charge.usd == D("2591.80")
    assert bill.ephemeral_storage.charge.usd == 0
    assert bill.total_usd == D("13385.15")


def test_without_free_tier_everything_is_billed(pricing):
    bill = talk_estimate(pricing, free_tier=False).bill
    assert bill.compute.billable_gb_seconds == 648_000_000
    # 648,000,000 x 0.0000166667 = 10,800.0216; 12,960,000,000 x 0.20 / 1M = 2,592.00
    assert bill.compute.charge.usd == D("10800.02")
    assert bill.requests.charge.usd == D("2592.00")
    assert bill.total_usd == D("13392.02")


def test_free_tier_covers_a_small_workload_entirely(pricing):
    usage = LambdaUsage(requests=D(900_000), seconds=D(900_000))
    bill = lambda_bill(usage, LambdaFunction(memory_mb=D(256)), pricing)  # 225,000 GB-s
    assert bill.compute.net_gb_seconds == -175_000
    assert bill.compute.billable_gb_seconds == 0
    assert bill.requests.billable_requests == 0
    assert bill.total_usd == 0


def test_x86_tiers_apply_only_to_usage_inside_them(pricing):
    # 10 B GB-s at 1 GB: 6 B x 0.0000166667 + 4 B x 0.000015 = 100,000.20 + 60,000.00
    charge = price_compute(D(10_000_000_000), D(1024), pricing, "x86_64", free_tier=False)
    assert [(t.quantity, t.unit_price) for t in charge.charge.tiers] == [
        (6_000_000_000, D("0.0000166667")),
        (4_000_000_000, D("0.000015")),
    ]
    assert charge.charge.usd == D("160000.20")


def test_x86_usage_above_the_second_tier_reaches_the_third(pricing):
    # 20 B GB-s: 6 B x 0.0000166667 + 9 B x 0.000015 + 5 B x 0.0000133334
    #          = 100,000.20 + 135,000.00 + 66,667.00
    charge = price_compute(D(20_000_000_000), D(1024), pricing, "x86_64", free_tier=False)
    assert [t.quantity for t in charge.charge.tiers] == [
        6_000_000_000,
        9_000_000_000,
        5_000_000_000,
    ]
    assert charge.charge.usd == D("301667.20")


def test_free_tier_comes_off_before_the_tiers(pricing):
    # 6,000,400,000 GB-s less 400,000 free is exactly the first tier: nothing at tier 2.
    charge = price_compute(D(6_000_400_000), D(1024), pricing, "x86_64", free_tier=True)
    assert len(charge.charge.tiers) == 1
    assert charge.charge.usd == D("100000.20")


def test_arm64_has_its_own_cheaper_tiers(pricing):
    # 10 B GB-s: 7.5 B x 0.0000133334 + 2.5 B x 0.0000120001 = 100,000.50 + 30,000.25
    charge = price_compute(D(10_000_000_000), D(1024), pricing, "arm64", free_tier=False)
    assert [t.unit_price for t in charge.charge.tiers] == [D("0.0000133334"), D("0.0000120001")]
    assert charge.charge.usd == D("130000.75")


def test_talks_workload_on_arm64(pricing):
    bill = talk_estimate(pricing, architecture="arm64").bill
    # 647,600,000 x 0.0000133334 = 8,634.71 (8,634.70984)
    assert bill.compute.charge.usd == D("8634.71")
    assert bill.total_usd == D("11226.51")


def test_ephemeral_storage_above_512_mb_is_billed_per_gb_second(pricing):
    bill = talk_estimate(pricing, ephemeral_mb=D(2048)).bill
    storage = bill.ephemeral_storage
    assert storage.billable_gb == D("1.5")
    assert storage.gb_seconds == 3_888_000_000  # 1.5 GB x 2,592,000,000 s
    assert storage.charge.usd == D("120.14")  # x 0.0000000309 = 120.1392
    assert bill.total_usd == D("13505.29")


def test_monthly_requests_give_the_same_bill_and_imply_the_concurrency(pricing):
    rate = throughput_from_monthly_requests(D(12_960_000_000), D(200), D(30))
    assert rate.per_second == 5_000
    assert rate.concurrency == 1_000
    estimate = estimate_lambda(rate, LambdaFunction(memory_mb=D(256)), pricing)
    assert estimate.bill.total_usd == D("13385.15")


def test_fractional_rates_round_requests_to_whole_invocations():
    rate = throughput_from_concurrency(D(1), D(300), D(30))  # 3.33.. requests per second
    assert rate.per_month == 8_640_000  # 2,592,000 s / 0.3 s
    assert rate.per_second == pytest.approx(D("3.3333333"))


def test_a_million_invocations_cost_compute_plus_requests_unrounded(pricing):
    # 1e6 x 0.358 s x 0.125 GB = 44,750 GB-s at 0.0000166667, + 1e6 requests at 0.20 / 1e6
    cost = usd_per_million_invocations(D(358), D(128), pricing)
    assert cost == D(44_750) * D("0.0000166667") + D("0.20")
    arm = usd_per_million_invocations(D(358), D(128), pricing, "arm64")
    assert arm == D(44_750) * D("0.0000133334") + D("0.20")
