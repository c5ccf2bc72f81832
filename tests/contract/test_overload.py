"""The overload plan's rules, the recovery time read off a timeline, and the verdict."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contract.overload import (
    FLAG_NOT_RECOVERED,
    FLAG_NOT_SHED,
    OverloadOutcome,
    OverloadPhase,
    OverloadPlan,
    OverloadTick,
    RefusalCounts,
    judge,
    recovery_s,
)
from contract.scenario import ScenarioError, parse_scenario

BASE = {
    "name": "t",
    "rooms": 2,
    "users_per_room": 50,
    "publisher_fraction": 0.02,
    "publish_rate_per_s": 2.0,
    "payload_bytes": 64,
    "spawn_rate": 100.0,
    "warmup_s": 1.0,
    "duration_s": 10.0,
}


@pytest.mark.parametrize(
    ("factors", "phase_s", "words"),
    [
        ((2.0, 4.0, 0.5), (1.0, 1.0, 1.0), "start with 1"),
        ((1.0, 2.0, 1.5), (1.0, 1.0, 1.0), "end below 1"),
        ((1.0, 1.0, 0.5), (1.0, 1.0, 1.0), "rise above 1"),
        ((1.0, 2.0, 4.0, 0.5), (1.0, 1.0, 1.0), "pair up"),
    ],
)
def test_a_plan_must_rise_past_the_knee_and_drop_below_it(
    factors: tuple[float, ...], phase_s: tuple[float, ...], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        OverloadPlan(factors=factors, phase_s=phase_s)


def test_an_overload_sets_its_own_phases() -> None:
    with pytest.raises(ScenarioError, match="no sweep, faults or soak"):
        parse_scenario(
            {**BASE, "overload": {}, "sweep": {"growth": 2, "max_rooms": 4, "slo_p99_ms": 100}}
        )


def test_phases_are_whole_rooms() -> None:
    plan = OverloadPlan()
    assert plan.phase_rooms(3) == [3, 6, 12, 2]  # ×0.5 of 3 rooms rounds up


def ticks(*p99s: float | None) -> tuple[OverloadTick, ...]:
    return tuple(
        OverloadTick(start=float(i), sent=2, delivered=0 if p is None else 100, p99_ms=p)
        for i, p in enumerate(p99s)
    )


def test_recovery_is_when_every_later_tick_meets_the_slo() -> None:
    timeline = ticks(500, 900, 400, 80, 200, 60, 50, 40)
    # drop at 1: 200 ms at tick 4 is the last miss, so recovery is tick 5's start
    assert recovery_s(timeline, drop_at=1.0, end=8.0, slo_ms=100) == 4.0
    assert recovery_s(timeline, drop_at=5.0, end=8.0, slo_ms=100) == 0.0
    assert recovery_s(ticks(50, 500, 500), drop_at=0.0, end=3.0, slo_ms=100) is None


def test_ticks_without_deliveries_neither_miss_nor_meet() -> None:
    assert recovery_s(ticks(500, None, 50), drop_at=0.0, end=3.0, slo_ms=100) == 2.0


def phase(factor: float, refused: int = 0, joined: int = 100) -> OverloadPhase:
    return OverloadPhase(
        name=f"x{factor:g}",
        factor=factor,
        users=int(100 * factor),
        joined=joined,
        start=0.0,
        end=1.0,
        offered_per_s=0.0,
        delivered_per_s=0.0,
        refusals=RefusalCounts(http_503=refused, attempts=refused),
    )


def test_a_server_that_refuses_nothing_over_its_knee_did_not_shed() -> None:
    plan = OverloadPlan()
    phases = (phase(1), phase(2, joined=200), phase(4, joined=400), phase(0.5))
    verdict = judge(
        plan, phases, recovery=None, lost=0, resumable=True, rss_at_knee_mb=50, peak_rss_mb=60
    )
    assert not verdict.shed
    assert not verdict.recovered
    assert any("did not shed" in problem and "400" in problem for problem in verdict.problems)


def test_a_clean_shed_passes_and_memory_is_held_to_the_knee() -> None:
    plan = OverloadPlan(max_rss_ratio=1.5)
    phases = (phase(1), phase(2, refused=30), phase(4, refused=90), phase(0.5))
    clean = judge(
        plan, phases, recovery=2.0, lost=0, resumable=True, rss_at_knee_mb=50, peak_rss_mb=70
    )
    assert clean.shed
    assert clean.recovered
    assert clean.memory_bounded
    assert not clean.problems
    grown = judge(
        plan, phases, recovery=2.0, lost=3, resumable=True, rss_at_knee_mb=50, peak_rss_mb=80
    )
    assert grown.memory_bounded is False
    assert grown.lost_nothing is False
    assert len(grown.problems) == 2


def test_flags_name_each_failure() -> None:

    plan = OverloadPlan()
    phases = (phase(1), phase(2), phase(4), phase(0.5))
    verdict = judge(
        plan, phases, recovery=30.0, lost=0, resumable=False, rss_at_knee_mb=None, peak_rss_mb=None
    )
    outcome = OverloadOutcome(
        knee_users=100,
        knee_source="test",
        slo_p99_ms=100,
        phases=phases,
        recovery_s=30.0,
        recovery_bound_s=10,
        lost=5,
        duplicated=0,
        resumable=False,
        verdict=verdict,
    )
    assert outcome.flags == [FLAG_NOT_SHED, FLAG_NOT_RECOVERED]
