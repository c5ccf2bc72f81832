from __future__ import annotations

from decimal import Decimal as D

from contract.lambda_report import LambdaReport
from cost_model.init_phase import InitBilling, init_billed_ms, invoke_billed_ms
from cost_model.lambda_cost import LambdaFunction, LambdaUsage, lambda_bill
from cost_model.talk import talk_estimate

# The emulator's cold start: Billed Duration leaves INIT out (the rule before 2025-08-01).
EMULATOR_COLD = LambdaReport("r1", 12.34, 13, 256, 80, 250.12)
# The same kind of cold start as AWS writes it where INIT is billed: INIT + Duration rounded up
# together (1,307.68 + 1,058.15 = 2,365.83 -> 2,366 ms).
AWS_BILLED_COLD = LambdaReport("r2", 1058.15, 2366, 256, 80, 1307.68)
WARM = LambdaReport("r3", 3.2, 4, 256, 60)


def test_init_adds_what_it_adds_to_the_rounded_duration():
    # ceil(12.34 + 250.12) = ceil(262.46) = 263; ceil(12.34) = 13; 263 - 13 = 250 ms
    assert init_billed_ms(EMULATOR_COLD) == 250
    # ceil(2,365.83) = 2,366; ceil(1,058.15) = 1,059; 2,366 - 1,059 = 1,307 ms (not 1,308)
    assert init_billed_ms(AWS_BILLED_COLD) == 1307
    assert init_billed_ms(WARM) == 0


def test_invoke_ms_leave_init_out_whichever_rule_wrote_the_line():
    assert invoke_billed_ms(EMULATOR_COLD) == 13  # as written
    assert invoke_billed_ms(AWS_BILLED_COLD) == 1059  # 2,366 - 1,307
    assert invoke_billed_ms(WARM) == 4


def test_a_failed_start_bills_its_init():
    # the emulator's line for an environment that died in INIT: Duration 0, Billed 1 ms
    failed = LambdaReport("r4", 0.0, 1, 256, 1, 80.5, "error")
    assert invoke_billed_ms(failed) == 1
    assert init_billed_ms(failed) == 80  # ceil(80.5) = 81, less the 1 ms already billed


def cold_month(pricing, rule: InitBilling = "billed"):
    """1 M invocations of 100 ms at 256 MB, 100,000 of them cold starts with 500 ms of INIT."""
    usage = LambdaUsage(
        requests=D(1_000_000),
        seconds=D(100_000),  # 1,000,000 x 100 ms
        init_invocations=D(100_000),
        init_seconds=D(50_000),  # 100,000 x 500 ms
    )
    return lambda_bill(
        usage, LambdaFunction(memory_mb=D(256)), pricing, free_tier=False, init_billing=rule
    )


def test_init_line_against_hand_computed_figures(pricing):
    bill = cold_month(pricing)
    # compute: 100,000 s x 0.25 GB = 25,000 GB-s x 0.0000166667 = 0.4166675 -> 0.42 USD
    assert bill.compute.charge.usd == D("0.42")
    # INIT: 50,000 s x 0.25 GB = 12,500 GB-s x 0.0000166667 = 0.20833375 -> 0.21 USD
    assert bill.init.invocations == 100_000
    assert bill.init.gb_seconds == 12_500
    assert bill.init.exact_usd == D("0.20833375")
    assert bill.init.usd == D("0.21")
    # requests: 1,000,000 x 0.0000002 = 0.20 USD; total 0.42 + 0.21 + 0.20 + 0.00 = 0.83
    assert bill.total_usd == D("0.83")


def test_old_rule_gives_no_init_charge(pricing):
    bill = cold_month(pricing, "free")
    assert bill.init.rule == "free"
    assert bill.init.gb_seconds == 12_500  # still counted, not charged
    assert bill.init.usd == 0
    assert bill.total_usd == D("0.62")  # 0.42 compute + 0.20 requests


def test_init_gb_s_continue_the_compute_tiers(pricing):
    # 1 GB: invocations use 5,999,000,000 GB-s of the 6 B first tier; INIT's 2,000,000 GB-s
    # are 1,000,000 x 0.0000166667 + 1,000,000 x 0.000015 = 16.6667 + 15 = 31.6667 USD.
    usage = LambdaUsage(
        requests=D(1), seconds=D(5_999_000_000), init_invocations=D(1000), init_seconds=D(2_000_000)
    )
    bill = lambda_bill(usage, LambdaFunction(memory_mb=D(1024)), pricing, free_tier=False)
    assert bill.init.exact_usd == D("31.6667")
    assert bill.init.usd == D("31.67")


def test_init_gb_s_use_what_the_free_tier_leaves(pricing):
    # 300,000 GB-s of invocations fit the 400,000 free GB-s; INIT's 200,000 GB-s overflow
    # by 100,000: 100,000 x 0.0000166667 = 1.66667 -> 1.67 USD, compute itself 0.00.
    usage = LambdaUsage(
        requests=D(1000), seconds=D(300_000), init_invocations=D(10), init_seconds=D(200_000)
    )
    bill = lambda_bill(usage, LambdaFunction(memory_mb=D(1024)), pricing)
    assert bill.compute.charge.usd == 0
    assert bill.init.usd == D("1.67")


def test_the_talks_figure_counts_no_cold_starts(pricing):
    bill = talk_estimate(pricing).bill
    assert bill.init.invocations == 0
    assert bill.init.usd == 0
    assert bill.total_usd == D("13385.15")
