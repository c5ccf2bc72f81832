"""The report's "Capacity" and "At your scale" sections: each container target's knee under its
CPU quota, and the fleet, p99 and bill it implies at three scales (`tbench plan`'s rows)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from analysis.load import RunData
from contract.capacity import BOUND_WORDS
from cost_model.at_scale import Scale
from cost_model.plan import measured_transports, plan
from cost_model.pricing import Pricing
from reports.formatting import DASH, integer, number

SCALES = (1_000, 100_000, 1_000_000)  # users


@dataclass(frozen=True)
class CapacityRow:
    """One target's capacity, formatted."""

    target: str
    quota: str  # vCPU
    capacity: str  # deliveries/s at the SLO, "≥ …" when a lower bound
    per_core: str
    users: str
    p99_ms: str
    rss_per_connection: str  # KiB
    bound: str


@dataclass(frozen=True)
class ScaleRow:
    """One transport at one scale: servers, p99 and the monthly bill."""

    users: str
    transport: str
    servers: str
    p99_ms: str
    compute: str
    balancer: str
    transfer: str
    total: str
    cheapest: bool


@dataclass(frozen=True)
class CapacitySection:
    """The capacity table and the three-scale table."""

    slo_p99_ms: str
    rows: list[CapacityRow]
    scales: list[ScaleRow]
    notes: list[str]


def capacity_section(data: RunData, pricing: Pricing) -> CapacitySection | None:
    """The sections, or None when no target measured its capacity."""
    measured = measured_transports(data.run)
    if not measured:
        return None
    rows = []
    for transport in measured:
        capacity = transport.capacity
        lower = "" if capacity.is_knee else "≥ "
        rss = capacity.rss_mb_per_connection
        rows.append(
            CapacityRow(
                target=transport.name,
                quota=number(capacity.cpu_quota_vcpu),
                capacity=lower + integer(capacity.delivered_per_s),
                per_core=lower + integer(capacity.per_core),
                users=integer(capacity.users),
                p99_ms=DASH if capacity.p99_ms is None else number(capacity.p99_ms),
                rss_per_connection=DASH if rss is None else number(rss * 1024),
                bound=BOUND_WORDS[capacity.bound],
            )
        )
    slo = measured[0].capacity.slo_p99_ms
    scales: list[ScaleRow] = []
    notes: list[str] = []
    for users in SCALES:
        scale = chat_scale(users, slo)
        result = plan(scale, measured, None, pricing)
        cheapest = result.cheapest
        for row in result.rows:
            scales.append(
                ScaleRow(
                    users=integer(users),
                    transport=row.transport,
                    servers=row.servers,
                    p99_ms=DASH if row.p99_ms is None else number(row.p99_ms),
                    compute=_usd(row.lines.get("compute")),
                    balancer=_usd(row.lines.get("load balancer")),
                    transfer=_usd(row.lines.get("data transfer")),
                    total=_usd(row.total_usd),
                    cheapest=row is cheapest,
                )
            )
            notes += [f"{integer(users)} users, {row.transport}: {note}" for note in row.notes]
        notes += [f"{integer(users)} users: {warning}" for warning in result.warnings]
    return CapacitySection(number(slo), rows, scales, list(dict.fromkeys(notes)))


def chat_scale(users: int, slo_p99_ms: float) -> Scale:
    """The chat scenario's habits at `users`: rooms of 10, a fifth posting at 0.2 msg/s."""
    return Scale(
        users=users,
        users_per_room=10,
        publisher_fraction=Decimal("0.2"),
        publish_rate_per_s=Decimal("0.2"),
        payload_bytes=256,
        slo_p99_ms=slo_p99_ms,
    )


def _usd(amount: Decimal | None) -> str:
    return DASH if amount is None else f"{amount:,.2f}"
