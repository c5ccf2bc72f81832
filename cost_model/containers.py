"""Always-on containers on AWS Fargate: tasks x (vCPU + GB) x hours; sizing from measurements."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model import history_memory
from cost_model.charges import FlatCharge, ceil_whole, flat_charge
from cost_model.pricing import Pricing
from cost_model.units import GB_PER_MB, HOURS_PER_DAY, mb_to_gb


def hours_in_month(month_days: Decimal) -> Decimal:
    """Hours in a month of `month_days` days."""
    return month_days * HOURS_PER_DAY


@dataclass(frozen=True)
class FargateBill:
    """A month of Fargate tasks: vCPU-hours and GB-hours lines and their total."""

    tasks: Decimal
    vcpu_per_task: Decimal
    memory_gb_per_task: Decimal
    hours: Decimal
    vcpu_hours: Decimal
    vcpu_charge: FlatCharge
    gb_hours: Decimal
    memory_charge: FlatCharge
    total_usd: Decimal  # the sum of the cent-rounded lines


def fargate_bill(
    vcpu: Decimal, memory_gb: Decimal, pricing: Pricing, *, tasks: Decimal, hours: Decimal
) -> FargateBill:
    """Price `tasks` tasks of `vcpu` vCPU and `memory_gb` GB running for `hours` each."""
    vcpu_hours = tasks * vcpu * hours
    gb_hours = tasks * memory_gb * hours
    vcpu_charge = flat_charge(vcpu_hours, pricing.fargate.vcpu_hours)
    memory_charge = flat_charge(gb_hours, pricing.fargate.gb_hours)
    return FargateBill(
        tasks=tasks,
        vcpu_per_task=vcpu,
        memory_gb_per_task=memory_gb,
        hours=hours,
        vcpu_hours=vcpu_hours,
        vcpu_charge=vcpu_charge,
        gb_hours=gb_hours,
        memory_charge=memory_charge,
        total_usd=vcpu_charge.usd + memory_charge.usd,
    )


@dataclass(frozen=True)
class TaskSizing:
    """How many tasks of one size a measured load needs, by CPU and by memory."""

    required_vcpu: Decimal
    required_memory_gb: Decimal
    tasks_for_cpu: Decimal
    tasks_for_memory: Decimal
    tasks: Decimal


@dataclass(frozen=True, kw_only=True)
class ServerLoad:
    """A load as a server measures it: messages it delivers, connections it holds, and what
    each costs it in CPU and memory."""

    messages_per_second: Decimal
    cpu_seconds_per_1000_messages: Decimal
    connections: Decimal
    rss_mb_per_connection: Decimal  # history's share not in it
    base_rss_mb: Decimal  # the server's memory with no connection
    rooms: Decimal = Decimal(0)  # the rooms the connections are in
    history_mb_per_room: Decimal = Decimal(0)  # what one room's bounded history holds


def tasks_for_load(
    load: ServerLoad,
    *,
    task_vcpu: Decimal,
    task_memory_gb: Decimal,
    target_utilization: Decimal = Decimal("0.7"),
) -> TaskSizing:
    """Tasks needed to carry a load measured as CPU per message and memory per connection."""
    # CPU-seconds consumed per second of wall time is the number of busy cores.
    required_vcpu = load.messages_per_second * load.cpu_seconds_per_1000_messages / 1000
    tasks_for_cpu = ceil_whole(required_vcpu / (task_vcpu * target_utilization))
    connection_memory_gb = mb_to_gb(load.connections * load.rss_mb_per_connection)
    usable_gb_per_task = task_memory_gb * target_utilization - mb_to_gb(load.base_rss_mb)
    if usable_gb_per_task <= 0:
        raise ValueError(
            f"a {task_memory_gb} GB task at {target_utilization:.0%} utilization has no room "
            f"beyond the server's {load.base_rss_mb} MB base memory"
        )
    tasks_for_memory = history_memory.tasks_for_memory(
        users=load.connections,
        rooms=load.rooms,
        mb_per_connection=load.rss_mb_per_connection,
        mb_per_room=load.history_mb_per_room,
        usable_mb_per_task=usable_gb_per_task / GB_PER_MB,
    )
    tasks = max(Decimal(1), tasks_for_cpu, tasks_for_memory)
    # Every task carries the server's base memory besides its share of the connections, and
    # the history of its users' rooms (at most one room per user, every room per task).
    rooms_held = min(load.connections, tasks * load.rooms)
    required_memory_gb = (
        connection_memory_gb
        + mb_to_gb(rooms_held * load.history_mb_per_room)
        + tasks * mb_to_gb(load.base_rss_mb)
    )
    return TaskSizing(required_vcpu, required_memory_gb, tasks_for_cpu, tasks_for_memory, tasks)
