"""The ALB and data-transfer lines against figures computed by hand from the price file."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost_model.containers import hours_in_month
from cost_model.data_transfer import data_transfer_bill, monthly_gb_out
from cost_model.load_balancer import BalancerTraffic, lcu_dimensions, load_balancer_bill
from cost_model.pricing import load_pricing

GIB = 1024**3


def test_held_connections_bill_by_active_connections(pricing):
    # 30,000 websocket clients, 10 reconnects a second, 3 MB/s through the balancer.
    traffic = BalancerTraffic(
        new_connections_per_s=D(10),
        active_connections=D(30_000),
        processed_bytes_per_s=D(3 * 1024**2),
        requests_per_s=D(10),
    )
    lcu = lcu_dimensions(traffic, pricing)
    assert lcu.new_connections == D("0.4")  # 10 / 25
    assert lcu.active_connections == 10  # 30,000 / 3,000
    assert lcu.processed_bytes == D("10.546875")  # 3 MiB/s x 3600 s = 10.546875 GB/h
    assert lcu.rule_evaluations == 0  # one rule: inside the 10 free ones
    assert lcu.binding == "processed bytes"
    bill = load_balancer_bill(traffic, pricing, hours=hours_in_month(D(30)))
    assert bill.hours_charge.usd == D("16.20")  # 720 h x 0.0225
    assert bill.lcu_charge.usd == D("60.75")  # 10.546875 x 720 x 0.008 = 60.75
    assert bill.total_usd == D("76.95")


def test_polling_bills_by_new_connections_when_each_poll_opens_one(pricing):
    traffic = BalancerTraffic(
        new_connections_per_s=D(1_000),  # clients that do not keep the connection alive
        active_connections=D(500),
        processed_bytes_per_s=D(1_000_000),
        requests_per_s=D(1_000),
        rules=15,
    )
    lcu = lcu_dimensions(traffic, pricing)
    assert lcu.new_connections == 40  # 1,000 / 25
    assert lcu.rule_evaluations == 5  # 1,000 requests/s x 5 billed rules / 1,000
    assert lcu.binding == "new connections"
    bill = load_balancer_bill(traffic, pricing, hours=D(720))
    assert bill.lcu_charge.usd == D("230.40")  # 40 x 720 x 0.008


def test_monthly_gb_out_from_bytes_per_delivery():
    gb = monthly_gb_out(deliveries_per_s=D(1_000), bytes_out_per_delivery=D(427), month_days=D(30))
    assert gb == D(1_000 * 427 * 86_400 * 30) / GIB  # 1,030.77 GB
    assert round(gb, 2) == D("1030.77")


def test_data_transfer_tiers_start_with_the_free_100_gb(pricing):
    assert data_transfer_bill(D(100), pricing).usd == 0
    assert data_transfer_bill(D(1_100), pricing).usd == D("90.00")  # 1,000 x 0.09
    # 100 free + 10,140 at 0.09 + 1,000 at 0.085
    assert data_transfer_bill(D(11_240), pricing).usd == D("997.60")


def test_a_price_file_can_override_the_balancer_rates(tmp_path):
    override = tmp_path / "prices.toml"
    override.write_text("[alb.lcu_hours]\nprice = 0.01\n")
    assert load_pricing(override).alb.lcu_hours.price == D("0.01")
    with pytest.raises(ValueError, match="alb"):
        load_pricing(rates=["alb.lcu.active_connections=0"])
