"""A container transport's fleet and bill at the user's own scale, from its measured capacity.

Tasks are sized by the capacity measured at the SLO under a fixed CPU quota (one task = that
quota), not by extrapolating CPU measured at a light load: tasks = ⌈load ÷ capacity per task⌉,
or more if the connections' memory needs them. The bill adds what differs most by transport:
the load balancer's LCUs and the data sent out, both from bytes and requests measured per
delivered message.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contract.capacity import Capacity, p99_at
from cost_model.charges import TieredCharge, ceil_whole
from cost_model.containers import FargateBill, fargate_bill, hours_in_month
from cost_model.data_transfer import data_transfer_bill, monthly_gb_out
from cost_model.history_memory import HistoryBound, tasks_for_memory
from cost_model.load_balancer import BalancerTraffic, LoadBalancerBill, load_balancer_bill
from cost_model.pricing import Pricing

SECONDS_PER_MINUTE = Decimal(60)
# Fargate's smallest memory for each CPU size (GB): the task size a quota is priced as.
FARGATE_MIN_MEMORY_GB = {
    Decimal("0.25"): Decimal("0.5"),
    Decimal("0.5"): Decimal(1),
    Decimal(1): Decimal(2),
    Decimal(2): Decimal(4),
    Decimal(4): Decimal(8),
}


class PlanError(ValueError):
    """A scale or a measurement that cannot be planned for; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class Scale:
    """The user's own load: who chats how much, and the latency they need."""

    users: int
    users_per_room: int
    publisher_fraction: Decimal
    publish_rate_per_s: Decimal  # messages a second per publisher
    payload_bytes: int
    slo_p99_ms: float
    month_days: Decimal = Decimal(30)
    session_minutes: Decimal = Decimal(60)  # how long a user stays before reconnecting

    def __post_init__(self) -> None:
        checks = {
            "users": self.users > 0,
            "users_per_room": self.users_per_room > 0,
            "publisher_fraction": 0 <= self.publisher_fraction <= 1,
            "publish_rate_per_s": self.publish_rate_per_s >= 0,
            "payload_bytes": self.payload_bytes >= 0,
            "slo_p99_ms": self.slo_p99_ms > 0,
            "month_days": self.month_days > 0,
            "session_minutes": self.session_minutes > 0,
        }
        for field, ok in checks.items():
            if not ok:
                raise PlanError(f"{field} = {getattr(self, field)} is out of range")

    @property
    def messages_per_s(self) -> Decimal:
        """Messages published a second."""
        return self.users * self.publisher_fraction * self.publish_rate_per_s

    @property
    def rooms(self) -> Decimal:
        """Rooms the users are in."""
        return Decimal(self.users) / self.users_per_room

    @property
    def room_messages_per_s(self) -> Decimal:
        """Messages published into each room a second."""
        return self.users_per_room * self.publisher_fraction * self.publish_rate_per_s

    @property
    def deliveries_per_s(self) -> Decimal:
        """Messages delivered a second: every member of a room gets each, the sender too."""
        return self.messages_per_s * self.users_per_room


# The chat habits a plan assumes unless told otherwise (`tbench plan`'s defaults, the report's
# scales): rooms of 10, a fifth of users posting, each at 0.2 messages a second, 256 B bodies.
CHAT_USERS_PER_ROOM = 10
CHAT_PUBLISHER_FRACTION = Decimal("0.2")
CHAT_PUBLISH_RATE_PER_S = Decimal("0.2")
CHAT_PAYLOAD_BYTES = 256
DEFAULT_SLO_P99_MS = 100.0


def chat_scale(users: int, slo_p99_ms: float = DEFAULT_SLO_P99_MS) -> Scale:
    """`users` with the default chat habits. Raises PlanError for a count below 1."""
    return Scale(
        users=users,
        users_per_room=CHAT_USERS_PER_ROOM,
        publisher_fraction=CHAT_PUBLISHER_FRACTION,
        publish_rate_per_s=CHAT_PUBLISH_RATE_PER_S,
        payload_bytes=CHAT_PAYLOAD_BYTES,
        slo_p99_ms=slo_p99_ms,
    )


@dataclass(frozen=True, kw_only=True)
class MeasuredTransport:
    """What a run measured of one container transport."""

    name: str
    capacity: Capacity
    bytes_out_per_delivery: Decimal  # server to clients, headers and framing included
    bytes_in_per_delivery: Decimal  # clients to server (polls, publishes)
    requests_per_delivery: Decimal  # HTTP requests or WebSocket frames in
    # the history bounds the servers ran with and RSS per kept message (None: not measured,
    # memory is then sized by connections alone, whose figure has history in)
    history: HistoryBound | None = None


@dataclass(frozen=True)
class ContainerPlan:
    """A transport's fleet at the user's scale and its monthly bill, line by line."""

    name: str
    tasks: Decimal
    task_vcpu: Decimal
    task_memory_gb: Decimal
    tasks_for_cpu: Decimal
    tasks_for_memory: Decimal
    capacity_per_task: Decimal  # deliveries a second one task carries within the SLO
    deliveries_per_task: Decimal
    p99_ms: float | None  # read off the measured curve at the per-task load
    slo_p99_ms: float
    compute: FargateBill
    balancer: LoadBalancerBill
    transfer: TieredCharge
    total_usd: Decimal
    lower_bound: bool  # the capacity was a lower bound: the fleet may be smaller

    @property
    def meets_slo(self) -> bool:
        """Whether the measured curve puts the per-task load within the SLO."""
        return self.p99_ms is not None and self.p99_ms <= self.slo_p99_ms


def capacity_at_slo(capacity: Capacity, slo_p99_ms: float) -> Decimal:
    """Deliveries a second one task carries with p99 within `slo_p99_ms` over the transport's
    own floor (short polling's wait for the next poll), 0 if no step did."""
    limit = slo_p99_ms + capacity.latency_floor_ms
    within = [
        step.delivered_per_s
        for step in capacity.steps
        if step.passed and step.p99_ms is not None and step.p99_ms <= limit
    ]
    return Decimal(str(max(within))) if within else Decimal(0)


def task_memory_gb(vcpu: Decimal) -> Decimal:
    """The Fargate task memory a quota is priced with: the smallest its CPU size allows."""
    try:
        return FARGATE_MIN_MEMORY_GB[vcpu]
    except KeyError:
        sizes = ", ".join(str(size) for size in FARGATE_MIN_MEMORY_GB)
        raise PlanError(f"cpu quota {vcpu} vCPU is not a Fargate task size ({sizes})") from None


def plan_container(measured: MeasuredTransport, scale: Scale, pricing: Pricing) -> ContainerPlan:
    """Size and price one container transport at `scale`; PlanError if it cannot be sized."""
    capacity = measured.capacity
    vcpu = Decimal(str(capacity.cpu_quota_vcpu))
    memory_gb = task_memory_gb(vcpu)
    per_task = capacity_at_slo(capacity, scale.slo_p99_ms)
    if per_task <= 0:
        raise PlanError(
            f"{measured.name}: no measured step met p99 ≤ {scale.slo_p99_ms:g} ms under {vcpu} vCPU"
        )
    tasks_for_cpu = ceil_whole(scale.deliveries_per_s / per_task)
    tasks_for_memory = _tasks_for_memory(capacity, scale, memory_gb, measured.history)
    tasks = max(Decimal(1), tasks_for_cpu, tasks_for_memory)
    deliveries_per_task = scale.deliveries_per_s / tasks
    hours = hours_in_month(scale.month_days)
    compute = fargate_bill(vcpu, memory_gb, pricing, tasks=tasks, hours=hours)
    balancer = load_balancer_bill(_balancer_traffic(measured, scale), pricing, hours=hours)
    gb_out = monthly_gb_out(
        deliveries_per_s=scale.deliveries_per_s,
        bytes_out_per_delivery=measured.bytes_out_per_delivery,
        month_days=scale.month_days,
    )
    transfer = data_transfer_bill(gb_out, pricing)
    return ContainerPlan(
        name=measured.name,
        tasks=tasks,
        task_vcpu=vcpu,
        task_memory_gb=memory_gb,
        tasks_for_cpu=tasks_for_cpu,
        tasks_for_memory=tasks_for_memory,
        capacity_per_task=per_task,
        deliveries_per_task=deliveries_per_task,
        p99_ms=p99_at(capacity, float(deliveries_per_task)),
        slo_p99_ms=scale.slo_p99_ms,
        compute=compute,
        balancer=balancer,
        transfer=transfer,
        total_usd=compute.total_usd + balancer.total_usd + transfer.usd,
        lower_bound=not capacity.is_knee,
    )


def _tasks_for_memory(
    capacity: Capacity, scale: Scale, memory_gb: Decimal, history: HistoryBound | None
) -> Decimal:
    """Tasks the connections' and their rooms' history's memory needs (none measured: memory
    does not size the fleet)."""
    if capacity.rss_mb_per_connection is None:
        return Decimal(0)
    base_mb = Decimal(str(capacity.base_rss_mb or 0))
    try:
        return tasks_for_memory(
            users=Decimal(scale.users),
            rooms=scale.rooms,
            mb_per_connection=Decimal(str(capacity.rss_mb_per_connection)),
            mb_per_room=Decimal(0)
            if history is None
            else history.mb_per_room(scale.room_messages_per_s),
            usable_mb_per_task=memory_gb * 1024 - base_mb,
        )
    except ValueError:
        raise PlanError(
            f"a {memory_gb} GB task has no room beyond the server's base memory"
        ) from None


def _balancer_traffic(measured: MeasuredTransport, scale: Scale) -> BalancerTraffic:
    """The load through the ALB: every user's connection, its requests and its bytes."""
    deliveries = scale.deliveries_per_s
    return BalancerTraffic(
        new_connections_per_s=scale.users / (scale.session_minutes * SECONDS_PER_MINUTE),
        active_connections=Decimal(scale.users),
        processed_bytes_per_s=deliveries
        * (measured.bytes_out_per_delivery + measured.bytes_in_per_delivery),
        requests_per_s=deliveries * measured.requests_per_delivery,
    )
