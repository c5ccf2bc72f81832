from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost_model.chat import ChatWorkload, chat_bill, sessions_per_user_per_day


def office_chat(**overrides) -> ChatWorkload:
    # 10,000 users online 8 h a day, 50 messages each per day, rooms of 10.
    fields = {
        "users": D(10_000),
        "hours_per_day": D(8),
        "messages_per_user_per_day": D(50),
        "room_size": 10,
    }
    return ChatWorkload(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("hours", "sessions"), [(D("0.5"), 1), (D(2), 1), (D(3), 2), (D(8), 4), (D(24), 12)]
)
def test_the_two_hour_connection_limit_forces_reconnects(hours, sessions):
    assert sessions_per_user_per_day(hours) == sessions


def test_office_chat_every_line_by_hand(pricing):
    bill = chat_bill(office_chat(), pricing)
    # Sessions: 10,000 x 4 x 30; messages: 10,000 x 50 x 30.
    assert bill.sessions == 1_200_000
    assert bill.messages_sent == 15_000_000
    # API Gateway: 15 M in + 15 M x 10 out = 165 M x 1.00/M; 144 M minutes x 0.25/M.
    assert bill.messages_out == 150_000_000
    assert bill.apigw.metered_messages == 165_000_000
    assert bill.apigw.message_charge.usd == D("165.00")
    assert bill.apigw.connection_minutes == 144_000_000
    assert bill.apigw.connection_charge.usd == D("36.00")
    # Lambda: 15 M sends + 2 x 1.2 M connect/disconnect = 17.4 M invocations;
    # 15 M x 0.1 s + 2.4 M x 0.02 s = 1,548,000 s x 0.25 GB = 387,000 GB-s < 400,000 free.
    assert [f.invocations for f in bill.functions] == [15_000_000, 1_200_000, 1_200_000]
    assert bill.lambda_.requests.requests == 17_400_000
    assert bill.lambda_.compute.gb_seconds == 387_000
    assert bill.lambda_.compute.charge.usd == 0
    assert bill.lambda_.requests.charge.usd == D("3.28")  # 16.4 M x 0.20/M
    # DynamoDB: put + delete per session, each 1 WRU on the table + 1 on the room index;
    # one room-index query per send: 10 x 100 B in one 4 KB unit, eventually consistent = 0.5.
    assert bill.dynamodb.write_units == 4_800_000
    assert bill.dynamodb.read_units == 7_500_000
    assert bill.dynamodb.write_charge.usd == D("3.00")
    assert bill.dynamodb.read_charge.usd == D("0.94")
    assert bill.total_usd == D("208.22")


def test_fan_out_scales_outbound_messages_and_room_queries(pricing):
    bill = chat_bill(office_chat(room_size=100), pricing)
    assert bill.messages_out == 1_500_000_000
    assert bill.apigw.metered_messages == 1_515_000_000
    # 1 B x 1.00/M + 515 M x 0.80/M = 1,000.00 + 412.00
    assert bill.apigw.message_charge.usd == D("1412.00")
    assert bill.room_query_bytes == 10_000  # 100 x 100 B: three 4 KB units, halved
    assert bill.reads[0].units_each == D("1.5")


def test_large_messages_are_metered_in_32_kb_units_both_ways(pricing):
    bill = chat_bill(office_chat(message_bytes=33 * 1024), pricing)
    assert bill.apigw.units_per_message == 2
    assert bill.apigw.metered_messages == 330_000_000
    # 330 M: the first tier only; 330 x 1.00
    assert bill.apigw.message_charge.usd == D("330.00")


def test_given_sessions_override_the_two_hour_rule(pricing):
    bill = chat_bill(office_chat(sessions_per_user_per_day=D(1)), pricing)
    assert bill.sessions == 300_000
    assert bill.dynamodb.write_units == 1_200_000


def test_no_free_tier_bills_every_invocation_and_gb_second(pricing):
    bill = chat_bill(office_chat(free_tier=False), pricing)
    assert bill.lambda_.requests.charge.usd == D("3.48")  # 17.4 M x 0.20/M
    assert bill.lambda_.compute.charge.usd == D("6.45")  # 387,000 x 0.0000166667 = 6.4500129
    assert bill.total_usd == D("214.87")  # 201.00 + 3.48 + 6.45 + 3.94
