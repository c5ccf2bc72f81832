"""Data transfer out to the internet: bytes per delivered message times messages, tiered per GB."""

from __future__ import annotations

from decimal import Decimal

from cost_model.charges import TieredCharge, tiered_charge
from cost_model.pricing import Pricing
from cost_model.units import SECONDS_PER_DAY

BYTES_PER_GB = Decimal(1024**3)


def monthly_gb_out(
    *, deliveries_per_s: Decimal, bytes_out_per_delivery: Decimal, month_days: Decimal
) -> Decimal:
    """GB sent to clients in a month at a steady delivery rate."""
    return deliveries_per_s * bytes_out_per_delivery * SECONDS_PER_DAY * month_days / BYTES_PER_GB


def data_transfer_bill(gb_out: Decimal, pricing: Pricing) -> TieredCharge:
    """Price a month's GB out, tier by tier (the first tier is the free 100 GB)."""
    return tiered_charge(gb_out, pricing.data_transfer_out)
