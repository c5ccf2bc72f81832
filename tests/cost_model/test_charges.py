from __future__ import annotations

from decimal import Decimal as D

from cost_model.charges import tiered_charge, to_cents


def test_cents_round_half_up_like_the_aws_calculator():
    assert to_cents(D("0.005")) == D("0.01")
    assert to_cents(D("10793.35492")) == D("10793.35")
    assert to_cents(D("2.675")) == D("2.68")


def test_usage_exactly_at_a_tier_bound_stays_in_that_tier(pricing):
    charge = tiered_charge(D(1_000_000_000), pricing.apigw_websocket.messages)
    assert len(charge.tiers) == 1
    assert charge.usd == D("1000.00")


def test_one_unit_over_a_bound_spills_into_the_next_tier(pricing):
    charge = tiered_charge(D(1_000_000_001), pricing.apigw_websocket.messages)
    assert [t.quantity for t in charge.tiers] == [1_000_000_000, 1]
    assert charge.exact_usd == D("1000.0000008")


def test_zero_usage_costs_nothing_and_shows_the_first_price(pricing):
    charge = tiered_charge(D(0), pricing.lambda_.compute.x86_64)
    assert charge.usd == 0
    assert charge.tiers[0].unit_price == D("0.0000166667")
