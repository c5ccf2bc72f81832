"""API Gateway WebSocket API monthly cost: messages metered in 32 KB units, connection-minutes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model.charges import FlatCharge, TieredCharge, flat_charge, tiered_charge
from cost_model.pricing import Pricing
from cost_model.units import BYTES_PER_KB, MINUTES_PER_HOUR, ceil_div


def metering_unit_bytes(pricing: Pricing) -> int:
    """Bytes in one metered message unit (32 KB = 32,768 bytes)."""
    return pricing.apigw_websocket.metered_in_kb * BYTES_PER_KB


def message_units(message_bytes: int, pricing: Pricing) -> int:
    """Billed messages for one message: one per started 32 KB, never fewer than one."""
    return max(1, ceil_div(message_bytes, metering_unit_bytes(pricing)))


def connection_minutes(users: Decimal, hours_per_day: Decimal, month_days: Decimal) -> Decimal:
    """Connection-minutes in a month when `users` each stay connected `hours_per_day`."""
    return users * hours_per_day * MINUTES_PER_HOUR * month_days


@dataclass(frozen=True)
class ApiGatewayWsBill:
    """A month of API Gateway WebSocket: metered messages by tier plus connection-minutes."""

    messages: Decimal
    message_bytes: int  # average size each message is metered at
    units_per_message: int
    metered_messages: Decimal
    message_charge: TieredCharge
    connection_minutes: Decimal
    connection_charge: FlatCharge
    total_usd: Decimal  # the sum of the cent-rounded lines


def apigw_ws_bill(
    messages: Decimal, message_bytes: int, minutes: Decimal, pricing: Pricing
) -> ApiGatewayWsBill:
    """Price `messages` (in and out) of `message_bytes` each and `minutes` of connections."""
    units = message_units(message_bytes, pricing)
    metered = messages * units
    message_charge = tiered_charge(metered, pricing.apigw_websocket.messages)
    connection_charge = flat_charge(minutes, pricing.apigw_websocket.connection_minutes)
    return ApiGatewayWsBill(
        messages=messages,
        message_bytes=message_bytes,
        units_per_message=units,
        metered_messages=metered,
        message_charge=message_charge,
        connection_minutes=minutes,
        connection_charge=connection_charge,
        total_usd=message_charge.usd + connection_charge.usd,
    )
