"""`tbench plan`: every transport at the user's own scale — servers, p99 and the monthly bill.

Container transports are sized from the capacity a run measured under a fixed CPU quota
(`cost_model.at_scale`); the serverless one is priced with the durations a run measured on the
Lambda target (`cost_model.measured.serverless_cost`), plus data transfer out. AWS's quotas
that the scale crosses are said in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from contract.results import RunResult, TargetStatus
from cost_model.at_scale import MeasuredTransport, PlanError, Scale, plan_container
from cost_model.data_transfer import data_transfer_bill, monthly_gb_out
from cost_model.history_memory import HistoryBound
from cost_model.measured import Load, MeasuredLambda, serverless_cost
from cost_model.pricing import Pricing

APIGW_NEW_CONNECTIONS_PER_S = 500  # per account and region
LAMBDA_CONCURRENCY = 1_000  # default concurrent executions per account and region
APIGW_IDLE_S = 600  # a WebSocket with no message for 10 minutes is closed
APIGW_MAX_CONNECTION_S = 7_200  # and every one after 2 hours
SECONDS_PER_DAY = Decimal(86_400)


@dataclass(frozen=True)
class PlanRow:
    """One transport at the scale: what it needs, how fast it is there, what it costs."""

    transport: str
    kind: str  # "containers" or "serverless"
    servers: str  # e.g. "25 × 0.25 vCPU / 0.5 GB tasks", "Lambda 256 MB"
    p99_ms: float | None  # expected at the per-task load; None where unknown or past the SLO
    meets_slo: bool
    lines: dict[str, Decimal]  # bill lines, USD a month
    total_usd: Decimal | None  # None: it could not be sized (the notes say why)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """The rows, and the cheapest that meets the SLO."""

    scale: Scale
    rows: list[PlanRow]
    warnings: list[str]

    @property
    def cheapest(self) -> PlanRow | None:
        """The cheapest row whose p99 meets the SLO (None when none does)."""
        meeting = [row for row in self.rows if row.meets_slo and row.total_usd is not None]
        return min(meeting, key=lambda row: row.total_usd or Decimal(0)) if meeting else None


def measured_transports(run: RunResult) -> list[MeasuredTransport]:
    """The container targets of a run that measured their capacity, with their wire figures."""
    measured = []
    for name, result in run.targets.items():
        if result.status is not TargetStatus.OK or result.capacity is None:
            continue
        metrics = result.metrics
        delivered = float(metrics.get("delivered") or 0)
        if delivered <= 0:
            continue
        measured.append(
            MeasuredTransport(
                name=name,
                capacity=result.capacity,
                bytes_out_per_delivery=_per(metrics.get("bytes_received"), delivered),
                bytes_in_per_delivery=_per(metrics.get("bytes_sent"), delivered),
                requests_per_delivery=Decimal(str(metrics.get("requests_per_delivered") or 0)),
                history=history_bound(run, result.capacity.rss_bytes_per_retained_message),
            )
        )
    return measured


def history_bound(run: RunResult, bytes_per_message: float | None) -> HistoryBound | None:
    """The run's history bounds with RSS per kept message; None when either is not known."""
    limits = run.held_equal.limits if run.held_equal is not None else None
    if (
        bytes_per_message is None
        or limits is None
        or limits.history_size is None
        or limits.history_max_age_s is None
    ):
        return None
    return HistoryBound(
        history_size=limits.history_size,
        history_max_age_s=Decimal(str(limits.history_max_age_s)),
        bytes_per_message=Decimal(str(round(bytes_per_message))),
    )


def _per(total: float | int | None, delivered: float) -> Decimal:
    return Decimal(str(round(float(total or 0) / delivered, 3)))


def plan(
    scale: Scale,
    containers: list[MeasuredTransport],
    serverless: MeasuredLambda | None,
    pricing: Pricing,
) -> Plan:
    """Every measured transport at `scale`; PlanError when none could be planned."""
    rows = [_container_row(transport, scale, pricing) for transport in containers]
    if serverless is not None:
        rows.append(_serverless_row(serverless, scale, pricing))
    if not rows:
        raise PlanError("the run measured no capacity and no lambda target: nothing to plan")
    return Plan(scale, rows, quota_warnings(scale, serverless))


def _container_row(transport: MeasuredTransport, scale: Scale, pricing: Pricing) -> PlanRow:
    try:
        fleet = plan_container(transport, scale, pricing)
    except PlanError as exc:
        note = str(exc).removeprefix(f"{transport.name}: ")
        return PlanRow(transport.name, "containers", "-", None, False, {}, None, [note])
    notes = (
        []
        if not fleet.lower_bound
        else [f"capacity {transport.capacity.describe()}: the fleet may be smaller"]
    )
    if fleet.tasks_for_memory > fleet.tasks_for_cpu:
        notes.append("sized by memory per connection, not by CPU")
    if transport.capacity.latency_floor_ms > scale.slo_p99_ms:
        notes.append(
            f"its own p99 floor is {transport.capacity.latency_floor_ms:.0f} ms (a poll's wait): "
            "sized for the SLO over that floor"
        )
    return PlanRow(
        transport=transport.name,
        kind="containers",
        servers=f"{fleet.tasks} × {fleet.task_vcpu} vCPU / {fleet.task_memory_gb} GB tasks",
        p99_ms=fleet.p99_ms,
        meets_slo=fleet.meets_slo,
        lines={
            "compute": fleet.compute.total_usd,
            "load balancer": fleet.balancer.total_usd,
            "data transfer": fleet.transfer.usd,
        },
        total_usd=fleet.total_usd,
        notes=notes,
    )


def _serverless_row(measured: MeasuredLambda, scale: Scale, pricing: Pricing) -> PlanRow:
    load = Load(
        users=Decimal(scale.users),
        messages_per_user_per_day=scale.publisher_fraction
        * scale.publish_rate_per_s
        * SECONDS_PER_DAY,
        room_size=scale.users_per_room,
        month_days=scale.month_days,
    )
    cost = serverless_cost(measured, load, pricing)
    assert cost.chat is not None
    bill = cost.chat
    transfer = data_transfer_bill(
        monthly_gb_out(
            deliveries_per_s=scale.deliveries_per_s,
            bytes_out_per_delivery=Decimal(measured.message_bytes),
            month_days=scale.month_days,
        ),
        pricing,
    )
    init_usd = bill.lambda_.init.usd
    lines = {
        "API Gateway": bill.apigw.total_usd,
        "Lambda": bill.lambda_.total_usd - init_usd,
        "INIT": init_usd,
        "DynamoDB": bill.dynamodb.total_usd,
        "data transfer": transfer.usd,
    }
    return PlanRow(
        transport=measured.target,
        kind="serverless",
        servers=f"Lambda {measured.memory_mb} MB",
        p99_ms=None,
        meets_slo=False,
        lines=lines,
        total_usd=bill.total_usd + transfer.usd,
        notes=["p99 at scale is not measured for Lambda: API Gateway's latency is not local"],
    )


def quota_warnings(scale: Scale, serverless: MeasuredLambda | None) -> list[str]:
    """AWS quotas the scale crosses, in words."""
    warnings = []
    new_per_s = scale.users / (scale.session_minutes * 60)
    if new_per_s > APIGW_NEW_CONNECTIONS_PER_S:
        warnings.append(
            f"{new_per_s:,.0f} new connections/s is over API Gateway's "
            f"{APIGW_NEW_CONNECTIONS_PER_S} per second per account: ask AWS for more, or spread "
            "the reconnects"
        )
    if serverless is not None:
        busy = scale.messages_per_s * serverless.send_ms_per_message / 1000
        if busy > LAMBDA_CONCURRENCY:
            warnings.append(
                f"{busy:,.0f} concurrent sendMessage executions is over Lambda's default "
                f"{LAMBDA_CONCURRENCY:,}: invocations beyond it are throttled"
            )
    per_user_s = scale.publisher_fraction * scale.publish_rate_per_s
    if per_user_s == 0 or 1 / per_user_s > APIGW_IDLE_S:
        warnings.append(
            "most users send less than once in 10 minutes: API Gateway closes idle WebSockets "
            "after 10 minutes, so clients need a heartbeat (each one a billed message)"
        )
    if scale.session_minutes * 60 > APIGW_MAX_CONNECTION_S:
        warnings.append(
            "sessions longer than 2 hours: API Gateway closes every WebSocket at 2 hours, "
            "so clients reconnect (and $connect runs again)"
        )
    return warnings
