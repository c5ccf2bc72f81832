"""The report's "Capacity" and "At your scale" sections: each container target's knee under its
CPU quota, and the fleet, p99 and bill it implies at three scales (`tbench plan`'s rows)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from analysis.load import RunData
from contract.capacity import BOUND_WORDS
from cost_model.at_scale import PlanError, chat_scale
from cost_model.plan import plan
from cost_model.plan_curve import crossovers
from cost_model.plan_sources import SourceRun, sources_beside
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
    crossovers: list[str]
    sources: list[str]  # which run each part came from, when not this one
    notes: list[str]


def capacity_section(data: RunData, pricing: Pricing) -> CapacitySection | None:
    """The sections, or None when neither this run nor one beside it measured capacity.

    Capacity and the lambda target's figures come from this run when it measured them, else
    from the newest run beside it that did (`make bench` measures them in two runs).
    """
    try:
        found = sources_beside(SourceRun(data.path, data.run))
    except PlanError:
        return None
    measured, serverless = found.containers, found.serverless
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
        result = plan(scale, measured, serverless, pricing)
        cheapest = result.cheapest
        for row in result.rows:
            scales.append(
                ScaleRow(
                    users=integer(users),
                    transport=row.transport,
                    servers=row.servers,
                    p99_ms=DASH if row.p99_ms is None else number(row.p99_ms),
                    compute=_usd(_serving(row.lines)),
                    balancer=_usd(row.lines.get("load balancer")),
                    transfer=_usd(row.lines.get("data transfer")),
                    total=_usd(row.total_usd),
                    cheapest=row is cheapest,
                )
            )
            notes += [f"{integer(users)} users, {row.transport}: {note}" for note in row.notes]
        notes += [f"{integer(users)} users: {warning}" for warning in result.warnings]
    crossings = crossovers(chat_scale(1, slo), measured, serverless, pricing) if serverless else []
    sources = [
        f"{part} from run {Path(path).name}"
        for part, path in found.described().items()
        if Path(path) != data.path
    ]
    return CapacitySection(
        slo_p99_ms=number(slo),
        rows=rows,
        scales=scales,
        crossovers=[crossing.describe() for crossing in crossings],
        sources=sources,
        notes=list(dict.fromkeys(notes)),
    )


def _serving(lines: dict[str, Decimal]) -> Decimal | None:
    """What serves the messages: Fargate's compute, or API Gateway + Lambda + DynamoDB."""
    serving = [usd for name, usd in lines.items() if name not in ("load balancer", "data transfer")]
    return sum(serving, Decimal(0)) if serving else None


def _usd(amount: Decimal | None) -> str:
    return DASH if amount is None else f"{amount:,.2f}"
