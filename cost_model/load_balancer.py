"""An Application Load Balancer's month: ALB-hours plus LCU-hours from four traffic dimensions.

Polling opens a request per poll and SSE and WebSocket hold connections, so the dimension that
binds differs by transport: that is why the balancer belongs in a comparison of transports.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model.charges import FlatCharge, flat_charge
from cost_model.pricing import Pricing

BYTES_PER_GB = Decimal(1024**3)
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, kw_only=True)
class BalancerTraffic:
    """A steady load through the balancer, as each LCU dimension counts it."""

    new_connections_per_s: Decimal  # TCP connections opened a second (a poll may reuse one)
    active_connections: Decimal  # connections open at once
    processed_bytes_per_s: Decimal  # request and response bytes, both directions
    requests_per_s: Decimal
    rules: int = 1  # listener rules evaluated per request


@dataclass(frozen=True)
class LcuDimensions:
    """LCUs an hour of the traffic needs by each dimension; the largest is billed."""

    new_connections: Decimal
    active_connections: Decimal
    processed_bytes: Decimal
    rule_evaluations: Decimal

    @property
    def billed(self) -> Decimal:
        """The LCUs billed for the hour: the largest dimension's."""
        return max(
            self.new_connections,
            self.active_connections,
            self.processed_bytes,
            self.rule_evaluations,
        )

    @property
    def binding(self) -> str:
        """The name of the dimension that sets the bill."""
        named = {
            "new connections": self.new_connections,
            "active connections": self.active_connections,
            "processed bytes": self.processed_bytes,
            "rule evaluations": self.rule_evaluations,
        }
        return max(named, key=lambda name: named[name])


@dataclass(frozen=True)
class LoadBalancerBill:
    """A month of one ALB: its hours, its LCU-hours and the dimension that set them."""

    hours: Decimal
    lcu: LcuDimensions
    hours_charge: FlatCharge
    lcu_charge: FlatCharge
    total_usd: Decimal


def lcu_dimensions(traffic: BalancerTraffic, pricing: Pricing) -> LcuDimensions:
    """The LCUs `traffic` needs in each of the four dimensions."""
    unit = pricing.alb.lcu
    processed_gb_per_hour = traffic.processed_bytes_per_s * SECONDS_PER_HOUR / BYTES_PER_GB
    billed_rules = max(0, traffic.rules - unit.free_rules)
    return LcuDimensions(
        new_connections=traffic.new_connections_per_s / unit.new_connections_per_s,
        active_connections=traffic.active_connections / unit.active_connections,
        processed_bytes=processed_gb_per_hour / unit.processed_gb_per_hour,
        rule_evaluations=traffic.requests_per_s * billed_rules / unit.rule_evaluations_per_s,
    )


def load_balancer_bill(
    traffic: BalancerTraffic, pricing: Pricing, *, hours: Decimal
) -> LoadBalancerBill:
    """Price one ALB carrying `traffic` steadily for `hours`."""
    lcu = lcu_dimensions(traffic, pricing)
    hours_charge = flat_charge(hours, pricing.alb.hours)
    lcu_charge = flat_charge(lcu.billed * hours, pricing.alb.lcu_hours)
    return LoadBalancerBill(
        hours=hours,
        lcu=lcu,
        hours_charge=hours_charge,
        lcu_charge=lcu_charge,
        total_usd=hours_charge.usd + lcu_charge.usd,
    )
