"""A container fleet at the user's scale from measured capacity, checked against hand figures."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from contract.capacity import CapacityStep, capacity_of
from cost_model.at_scale import MeasuredTransport, PlanError, Scale, plan_container
from tests.contract.capacity_steps import ramp


def transport(name: str, steps: tuple[CapacityStep, ...], quota: float = 0.5):
    return MeasuredTransport(
        name=name,
        capacity=capacity_of(steps, cpu_quota_vcpu=quota, slo_p99_ms=100, base_rss_mb=50.0),
        bytes_out_per_delivery=D(427),
        bytes_in_per_delivery=D(50),
        requests_per_delivery=D("0.02"),
    )


WEBSOCKET_RAMP = ramp((2_000, 5, True), (4_000, 40, True), (6_000, 900, False))

# 100,000 users in rooms of 50, a fifth publishing one message every 10 s:
# 2,000 messages/s, 100,000 deliveries/s.
SCALE = Scale(
    users=100_000,
    users_per_room=50,
    publisher_fraction=D("0.2"),
    publish_rate_per_s=D("0.1"),
    payload_bytes=256,
    slo_p99_ms=100,
)


def test_the_load_at_scale():
    assert SCALE.messages_per_s == 2_000
    assert SCALE.deliveries_per_s == 100_000


def test_tasks_are_load_over_measured_capacity_per_task(pricing):
    websocket = transport(
        "websocket", ramp((2_000, 5, True), (4_000, 40, True), (6_000, 900, False))
    )
    plan = plan_container(websocket, SCALE, pricing)
    assert plan.capacity_per_task == 4_000
    assert plan.tasks_for_cpu == 25  # 100,000 / 4,000
    # memory: (70 - 50) MB / 200 connections = 0.1 MB each; 100,000 x 0.1 MB = 9.77 GB
    # over (1 GB - 50 MB) usable per task = 0.951 GB: 11 tasks, fewer than CPU needs.
    assert plan.tasks_for_memory == 11
    assert plan.tasks == 25
    assert plan.task_memory_gb == 1
    assert plan.deliveries_per_task == 4_000
    assert plan.p99_ms == 40
    assert plan.compute.vcpu_hours == D(25) * D("0.5") * 720
    assert plan.compute.total_usd == D("364.32") + D("80.01")  # 9,000 vCPU-h; 18,000 GB-h
    # ALB: 47.7 MB/s processed = 167.6 GB/h binds; 100,000 / 3,000 = 33.3 active
    assert plan.balancer.lcu.binding == "processed bytes"
    assert plan.total_usd == plan.compute.total_usd + plan.balancer.total_usd + plan.transfer.usd
    assert not plan.lower_bound


def test_a_stricter_slo_reads_a_lower_capacity_off_the_curve(pricing):
    websocket = transport(
        "websocket", ramp((2_000, 5, True), (4_000, 40, True), (6_000, 900, False))
    )
    strict = Scale(**{**SCALE.__dict__, "slo_p99_ms": 10})
    plan = plan_container(websocket, strict, pricing)
    assert plan.capacity_per_task == 2_000
    assert plan.tasks == 50


def test_a_slower_transport_needs_more_tasks(pricing):
    fast = transport("websocket", ramp((4_000, 40, True), (6_000, 900, False)))
    slow = transport("long-polling", ramp((1_000, 60, True), (1_500, 300, False)))
    assert plan_container(slow, SCALE, pricing).tasks > plan_container(fast, SCALE, pricing).tasks


def test_bad_scale_names_its_field():
    with pytest.raises(PlanError, match="users_per_room"):
        Scale(**{**SCALE.__dict__, "users_per_room": 0})


def test_no_passing_step_cannot_be_planned(pricing):
    broken = transport("sse", ramp((100, 500, False)))
    with pytest.raises(PlanError, match="sse: no measured step met p99"):
        plan_container(broken, SCALE, pricing)


def test_a_quota_that_is_no_fargate_size_is_refused(pricing):
    odd = transport("sse", ramp((100, 5, True)), quota=0.3)
    with pytest.raises(PlanError, match="not a Fargate task size"):
        plan_container(odd, SCALE, pricing)


def test_short_pollings_own_floor_is_allowed_for_but_the_slo_is_not_met(pricing):
    steps = ramp((400, 995, True), (600, 1_020, True), (900, 1_400, False))
    polling = MeasuredTransport(
        name="short-polling",
        capacity=capacity_of(
            steps, cpu_quota_vcpu=0.5, slo_p99_ms=100, base_rss_mb=50.0, latency_floor_ms=990
        ),
        bytes_out_per_delivery=D(1_119),
        bytes_in_per_delivery=D(400),
        requests_per_delivery=D(1),
    )
    plan = plan_container(polling, SCALE, pricing)
    assert plan.capacity_per_task == 600  # p99 1,020 ms <= 990 ms floor + 100 ms
    assert plan.tasks == 167  # 100,000 / 600
    assert plan.p99_ms is not None
    assert plan.p99_ms > 990
    assert not plan.meets_slo
