from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost_model.containers import ServerLoad, fargate_bill, hours_in_month, tasks_for_load


def test_fargate_bill_by_hand(pricing):
    bill = fargate_bill(D("0.25"), D("0.5"), pricing, tasks=D(2), hours=hours_in_month(D(30)))
    assert bill.vcpu_hours == 360  # 2 x 0.25 x 720
    assert bill.gb_hours == 720  # 2 x 0.5 x 720
    assert bill.vcpu_charge.usd == D("14.57")  # x 0.04048 = 14.5728
    assert bill.memory_charge.usd == D("3.20")  # x 0.004445 = 3.2004
    assert bill.total_usd == D("17.77")


def test_tasks_sized_by_the_scarcer_of_cpu_and_memory():
    load = ServerLoad(
        messages_per_second=D(10_000),
        cpu_seconds_per_1000_messages=D("0.5"),  # 5 busy cores
        connections=D(100_000),
        rss_mb_per_connection=D("0.05"),  # 5,000 MB of connections
        base_rss_mb=D(100),
    )
    sizing = tasks_for_load(
        load,
        task_vcpu=D(1),
        task_memory_gb=D(2),
        target_utilization=D("0.5"),
    )
    assert sizing.required_vcpu == 5
    assert sizing.tasks_for_cpu == 10  # 5 / (1 x 0.5)
    # each task: 2 GB x 0.5 - 100 MB = 0.90234375 GB usable; 4.8828125 GB / that -> 6
    assert sizing.tasks_for_memory == 6
    assert sizing.tasks == 10


def test_task_too_small_for_the_base_memory_is_refused():
    with pytest.raises(ValueError, match="no room"):
        tasks_for_load(
            ServerLoad(
                messages_per_second=D(1),
                cpu_seconds_per_1000_messages=D(1),
                connections=D(1),
                rss_mb_per_connection=D(1),
                base_rss_mb=D(600),
            ),
            task_vcpu=D("0.25"),
            task_memory_gb=D("0.5"),
        )
