from __future__ import annotations

from decimal import Decimal as D

from cost_model.dynamodb import dynamodb_bill, read_units_per_request, write_units_per_item


def test_write_units_per_started_kilobyte(pricing):
    assert write_units_per_item(1, pricing) == 1
    assert write_units_per_item(1024, pricing) == 1
    assert write_units_per_item(1025, pricing) == 2


def test_read_units_per_started_4_kb_halved_when_eventually_consistent(pricing):
    assert read_units_per_request(0, pricing, eventually_consistent=False) == 1  # minimum
    assert read_units_per_request(4096, pricing, eventually_consistent=False) == 1
    assert read_units_per_request(4097, pricing, eventually_consistent=False) == 2
    assert read_units_per_request(10_000, pricing, eventually_consistent=True) == D("1.5")


def test_bill_prices_write_and_read_units(pricing):
    bill = dynamodb_bill(D(4_800_000), D(7_500_000), pricing)
    assert bill.write_charge.usd == D("3.00")  # x 0.625 / M
    assert bill.read_charge.usd == D("0.94")  # x 0.125 / M = 0.9375
    assert bill.total_usd == D("3.94")
