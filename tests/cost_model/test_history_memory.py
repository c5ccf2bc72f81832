"""Memory sizing with history apart from connections, checked against hand figures."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from contract.capacity import capacity_of
from cost_model.at_scale import MeasuredTransport, plan_container
from cost_model.history_memory import HistoryBound, tasks_for_memory
from tests.contract.capacity_steps import ramp

from .test_at_scale import SCALE

# 10,000 messages or 60 s per room, ~570 B of RSS each (benchmarks.retained_memory)
BOUND = HistoryBound(history_size=10_000, history_max_age_s=D(60), bytes_per_message=D(570))


def test_a_room_keeps_what_the_stricter_bound_allows():
    assert BOUND.kept_per_room(D(1)) == 60  # the age bound: 60 s at 1 msg/s
    assert BOUND.kept_per_room(D(1_000)) == 10_000  # the count bound
    assert BOUND.mb_per_room(D(1_000)) == D(10_000) * 570 / (1024 * 1024)


def test_history_adds_tasks_beyond_the_connections():
    # 1,000 users at 1 MB each in 100 rooms of 2 MB history, 500 MB usable per task:
    # one room per user: 1,000 x 3 MB / 500 = 6 tasks; every room per task: 1,000 x 1 MB /
    # (500 - 200) = 3.33 -> 4 tasks; the fewer fits.
    sizing = {"users": D(1_000), "mb_per_connection": D(1), "usable_mb_per_task": D(500)}
    assert tasks_for_memory(rooms=D(100), mb_per_room=D(2), **sizing) == 4
    assert tasks_for_memory(rooms=D(100), mb_per_room=D(0), **sizing) == 2  # connections only
    # every room's history fills a task: one room per user is the bound
    assert tasks_for_memory(rooms=D(1_000), mb_per_room=D(2), **sizing) == 6


def test_the_plan_sizes_memory_by_connections_plus_the_rooms_history(pricing):
    measured = MeasuredTransport(
        name="websocket",
        # 0.1 MB per connection over a 50 MB server (capacity_steps' ramp)
        capacity=capacity_of(
            ramp((2_000, 5, True), (4_000, 40, True)),
            cpu_quota_vcpu=0.5,
            slo_p99_ms=100,
            base_rss_mb=50.0,
        ),
        bytes_out_per_delivery=D(427),
        bytes_in_per_delivery=D(50),
        requests_per_delivery=D("0.02"),
    )
    without = plan_container(measured, SCALE, pricing)
    # SCALE: 2,000 rooms of 50 publishing 50 x 0.2 x 0.1 = 1 msg/s: 60 kept, 60 x 570 B =
    # 0.0326 MB a room. One room per user: 100,000 x 0.1326 MB / 974 MB usable = 13.6 -> 14;
    # every room in each task: 65.2 MB, 100,000 x 0.1 MB / 908.8 MB = 11.003 -> 12, the fewer.
    held = plan_container(replace(measured, history=BOUND), SCALE, pricing)
    assert without.tasks_for_memory == 11  # 100,000 x 0.1 MB / 974 MB = 10.3
    assert held.tasks_for_memory == 12
    # a count bound alone (the age bound never reached) keeps 10,000 a room: 5.4 MB; each
    # task then holds every room it can: 2,000 rooms x 5.4 MB > a task, one room per user
    unbounded_age = replace(BOUND, history_max_age_s=D(10**9))
    assert plan_container(replace(measured, history=unbounded_age), SCALE, pricing).tasks > 100
