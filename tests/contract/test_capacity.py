"""Reading capacity off a ramp: the knee, the lower bounds, and p99 along the curve."""

from __future__ import annotations

import pytest

from contract.capacity import CapacityStep, capacity_of, p99_at


def step(number: int, delivered: float, p99: float, *, passed: bool = True, **more: object):
    return CapacityStep(
        step=number,
        rooms=number * 10,
        users=number * 100,
        offered_per_s=delivered,
        delivered_per_s=delivered,
        p99_ms=p99,
        server_rss_mb=60.0 + number * 10,
        connections=number * 100,
        passed=passed,
        **more,
    )


def test_the_knee_is_the_last_passing_step_when_the_server_missed_next():
    steps = (step(1, 1_000, 5), step(2, 2_000, 20), step(3, 2_400, 300, passed=False))
    capacity = capacity_of(steps, cpu_quota_vcpu=0.5, slo_p99_ms=100, base_rss_mb=60.0)
    assert capacity.bound == "server"
    assert capacity.delivered_per_s == 2_000
    assert capacity.per_core == 4_000
    assert capacity.users == 200
    assert capacity.rss_mb_per_connection == pytest.approx(20 / 200)  # (80 - 60) MB / 200
    assert capacity.describe() == "2,000 deliveries/s"


def test_history_s_share_is_taken_off_rss_per_connection():
    # the last passing step held 8,192 messages at 1,280 B each: 10 MB of its 20 MB growth
    steps = (step(1, 1_000, 5), step(2, 2_000, 20, retained=8_192))
    capacity = capacity_of(
        steps,
        cpu_quota_vcpu=0.5,
        slo_p99_ms=100,
        base_rss_mb=60.0,
        rss_bytes_per_retained_message=1_280.0,
    )
    assert capacity.rss_mb_per_connection == pytest.approx(10 / 200)
    assert capacity.rss_bytes_per_retained_message == 1_280.0


def test_a_saturated_load_generator_makes_a_lower_bound():
    steps = (step(1, 1_000, 5), step(2, 1_900, 150, passed=False, loadgen_saturated=True))
    capacity = capacity_of(steps, cpu_quota_vcpu=1.0, slo_p99_ms=100, base_rss_mb=None)
    assert capacity.bound == "load-generator"
    assert capacity.describe() == "≥ 1,000 deliveries/s, load-generator bound"
    assert capacity.rss_mb_per_connection is None


def test_a_ramp_that_never_failed_ended_before_the_knee():
    capacity = capacity_of(
        (step(1, 1_000, 5), step(2, 2_000, 8)), cpu_quota_vcpu=0.25, slo_p99_ms=100, base_rss_mb=0
    )
    assert capacity.bound == "ramp-ended"
    assert not capacity.is_knee
    assert capacity.describe().startswith("≥ 2,000")


def test_p99_is_interpolated_along_the_passing_steps_and_unknown_past_them():
    steps = (step(1, 1_000, 10), step(2, 2_000, 30), step(3, 3_000, 400, passed=False))
    capacity = capacity_of(steps, cpu_quota_vcpu=0.5, slo_p99_ms=100, base_rss_mb=None)
    assert p99_at(capacity, 500) == 10
    assert p99_at(capacity, 1_500) == pytest.approx(20)
    assert p99_at(capacity, 2_000) == 30
    assert p99_at(capacity, 2_500) is None
