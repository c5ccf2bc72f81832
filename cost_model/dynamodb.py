"""DynamoDB on-demand monthly cost: write units per started 1 KB, read units per started 4 KB."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model.charges import FlatCharge, flat_charge
from cost_model.pricing import Pricing
from cost_model.units import BYTES_PER_KB, ceil_div

EVENTUALLY_CONSISTENT_FACTOR = Decimal("0.5")  # an eventually consistent read costs half a unit


def write_units_per_item(item_bytes: int, pricing: Pricing) -> int:
    """Write request units to put or delete one item: one per started 1 KB, at least one."""
    unit_bytes = pricing.dynamodb.write_request_units.unit_kb * BYTES_PER_KB
    return max(1, ceil_div(item_bytes, unit_bytes))


def read_units_per_request(
    bytes_read: int, pricing: Pricing, *, eventually_consistent: bool
) -> Decimal:
    """Read request units for one read or query returning `bytes_read` bytes in total."""
    unit_bytes = pricing.dynamodb.read_request_units.unit_kb * BYTES_PER_KB
    units = Decimal(max(1, ceil_div(bytes_read, unit_bytes)))
    return units * EVENTUALLY_CONSISTENT_FACTOR if eventually_consistent else units


@dataclass(frozen=True)
class DynamoDbBill:
    """A month of on-demand DynamoDB requests: write and read unit lines and their total."""

    write_units: Decimal
    write_charge: FlatCharge
    read_units: Decimal
    read_charge: FlatCharge
    total_usd: Decimal  # the sum of the cent-rounded lines


def dynamodb_bill(write_units: Decimal, read_units: Decimal, pricing: Pricing) -> DynamoDbBill:
    """Price a month's write and read request units."""
    writes = flat_charge(write_units, pricing.dynamodb.write_request_units)
    reads = flat_charge(read_units, pricing.dynamodb.read_request_units)
    return DynamoDbBill(write_units, writes, read_units, reads, writes.usd + reads.usd)
