from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost_model.apigw import apigw_ws_bill, connection_minutes, message_units


@pytest.mark.parametrize(
    ("message_bytes", "units"),
    [
        (0, 1),  # an empty frame is still a message
        (1, 1),
        (32 * 1024, 1),  # exactly 32 KB (KB = 1,024 bytes) is one unit
        (32 * 1024 + 1, 2),
        (33 * 1024, 2),  # a 33 KB message counts as two
        (64 * 1024, 2),
        (128 * 1024, 4),  # API Gateway's largest message
    ],
)
def test_messages_are_metered_per_started_32_kb(pricing, message_bytes, units):
    assert message_units(message_bytes, pricing) == units


def test_connection_minutes_from_users_and_hours():
    assert connection_minutes(D(1000), D(8), D(30)) == 14_400_000


def test_bill_meters_messages_then_prices_tiers_and_minutes(pricing):
    # 2 B messages of 33 KB = 4 B metered: 1 B x 1.00/M + 3 B x 0.80/M = 1,000 + 2,400
    bill = apigw_ws_bill(D(2_000_000_000), 33 * 1024, D(14_400_000), pricing)
    assert bill.units_per_message == 2
    assert bill.metered_messages == 4_000_000_000
    assert bill.message_charge.usd == D("3400.00")
    assert bill.connection_charge.usd == D("3.60")  # 14.4 M x 0.25/M
    assert bill.total_usd == D("3403.60")
