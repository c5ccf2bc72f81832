"""Money arithmetic every bill shares: cent rounding, flat charges and tiered charges."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from cost_model.pricing import Rate, TieredRate

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """Round money to the cent, half up, as the AWS Pricing Calculator does at each line's end."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def whole(quantity: Decimal) -> Decimal:
    """Round a count (requests, messages) to a whole number, half up."""
    return quantity.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def ceil_whole(quantity: Decimal) -> Decimal:
    """Round a quantity up to a whole number."""
    return quantity.quantize(Decimal(1), rounding=ROUND_CEILING)


@dataclass(frozen=True)
class FlatCharge:
    """`quantity` units at one rate; `usd` is the line's amount rounded to the cent."""

    quantity: Decimal
    unit_price: Decimal
    exact_usd: Decimal
    usd: Decimal


def flat_charge(quantity: Decimal, rate: Rate) -> FlatCharge:
    """Price a quantity at a flat rate."""
    exact = quantity * rate.unit_price
    return FlatCharge(quantity, rate.unit_price, exact, to_cents(exact))


@dataclass(frozen=True)
class TierLine:
    """The part of a quantity that falls in one tier, at that tier's unit price."""

    quantity: Decimal
    unit_price: Decimal
    exact_usd: Decimal


@dataclass(frozen=True)
class TieredCharge:
    """A quantity spread over the tiers it reaches; `usd` is the total rounded to the cent."""

    quantity: Decimal
    tiers: tuple[TierLine, ...]
    exact_usd: Decimal
    usd: Decimal


def tiered_charge(quantity: Decimal, rate: TieredRate) -> TieredCharge:
    """Price a monthly quantity tier by tier: each tier's price applies only to usage inside it."""
    lines: list[TierLine] = []
    lower = Decimal(0)
    for tier in rate.tiers:
        upper = Decimal(tier.up_to) if tier.up_to is not None else None
        in_tier = quantity - lower if upper is None else min(quantity, upper) - lower
        if in_tier <= 0:
            break
        unit_price = tier.price / rate.per
        lines.append(TierLine(in_tier, unit_price, in_tier * unit_price))
        if upper is None:
            break
        lower = upper
    if not lines:  # zero usage still shows the first tier's price
        lines.append(TierLine(Decimal(0), rate.tiers[0].price / rate.per, Decimal(0)))
    exact = sum((line.exact_usd for line in lines), Decimal(0))
    return TieredCharge(quantity, tuple(lines), exact, to_cents(exact))
