"""An overload's phases as the load generator sees them: the schedule, and the reading of what
clients got in each phase and in each tick of the timeline (contract/overload.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from contract.histograms import DELIVERY, PUBLISH_LAG, LatencySet, step_name
from contract.overload import OverloadPhase, OverloadPlan, OverloadTick, RefusalCounts, phase_name
from contract.scenario import Scenario
from loadtests.session import tick_name


@dataclass(frozen=True, slots=True)
class PlannedPhase:
    """One phase: its window name, its factor of the knee, its rooms and users."""

    name: str
    factor: float
    rooms: int
    users: int
    seconds: float


@dataclass
class OverloadSchedule:
    """The phases of one overload run, and when each ran (filled in as it runs)."""

    plan: OverloadPlan
    knee_users: int
    phases: tuple[PlannedPhase, ...]
    ran: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, joined)

    @classmethod
    def of(cls, scenario: Scenario, knee_users: int) -> OverloadSchedule:
        """The phases of the scenario's `[overload]` around a knee of `knee_users` users."""
        plan = scenario.overload
        if plan is None:
            raise ValueError(f"scenario {scenario.name!r} has no [overload] table")
        per_room = scenario.users_per_room
        knee_rooms = max(1, math.ceil(knee_users / per_room))
        phases = tuple(
            PlannedPhase(phase_name(factor), factor, rooms, rooms * per_room, seconds)
            for factor, rooms, seconds in zip(
                plan.factors, plan.phase_rooms(knee_rooms), plan.phase_s, strict=True
            )
        )
        return cls(plan, knee_users, phases)

    @property
    def first_users(self) -> int:
        """Users of the first phase (the knee), spawned before publishing starts."""
        return self.phases[0].users

    def read_phases(
        self, scenario: Scenario, latencies: LatencySet, refusals: dict[str, RefusalCounts]
    ) -> list[OverloadPhase]:
        """What clients got in each phase that ran."""
        readings = []
        for phase, (start, end, joined) in zip(self.phases, self.ran, strict=False):
            summary = latencies.summary_ms(step_name(DELIVERY, phase.name))
            seconds = max(end - start, 1e-9)
            readings.append(
                OverloadPhase(
                    name=phase.name,
                    factor=phase.factor,
                    users=phase.users,
                    joined=joined,
                    start=start,
                    end=end,
                    offered_per_s=phase.rooms
                    * scenario.room_publish_rate_per_s
                    * scenario.users_per_room,
                    delivered_per_s=summary.count / seconds,
                    p99_ms=summary.p99_ms,
                    refusals=refusals.get(phase.name, RefusalCounts()),
                )
            )
        return readings

    def read_ticks(self, publish_start: float, latencies: LatencySet) -> list[OverloadTick]:
        """Per tick of sent_at, from publishing's start to the last phase's end."""
        if not self.ran:
            return []
        tick_s = self.plan.tick_s
        count = math.ceil((self.ran[-1][1] - publish_start) / tick_s - 1e-9)
        ticks = []
        for tick in range(count):
            if publish_start + (tick + 1) * tick_s <= self.ran[0][0]:
                continue  # the warm-up: not measured
            delivered = latencies.summary_ms(tick_name(DELIVERY, tick))
            sent = latencies.summary_ms(tick_name(PUBLISH_LAG, tick)).count
            ticks.append(
                OverloadTick(
                    start=publish_start + tick * tick_s,
                    sent=sent,
                    delivered=delivered.count,
                    p99_ms=delivered.p99_ms,
                )
            )
        return ticks
