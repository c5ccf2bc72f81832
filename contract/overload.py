"""Overload: a target driven past its measured knee and back down.

A scenario's `[overload]` table offers the knee's users times each factor, phase after phase:
the knee itself first (its RSS is the reference), then the spike, then the drop that the
server must recover from. What clients were refused, by kind, and what the server used, per
phase, make an `OverloadOutcome` in run.json; the rules it is judged by are here, so the
runner, the report and the tests read one verdict.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.counted import Counted

# What a refused or broken client saw; the first four are a server's documented answers.
RefusalKind = Literal[
    "http_503",  # HTTP 503 Service Unavailable (with Retry-After) at the connection cap
    "ws_1013",  # WebSocket closed 1013 Try Again Later at the connection cap
    "http_429",  # 429 Too Many Requests: API Gateway's throttling (handshake or @connections)
    "throttled",  # API Gateway's "Internal server error" frame: the Lambda was throttled
    "connect_timeout",  # no answer to connect (or to the handshake) in time: a silent refusal
    "reset",  # the connection was reset or closed without an answer
    "stalled",  # a stream or poll that went silent past its timeout
]
DOCUMENTED_REFUSALS: tuple[RefusalKind, ...] = ("http_503", "ws_1013", "http_429", "throttled")
KNEE_FACTOR = 1.0
# run.json flags for a verdict's failures
FLAG_NOT_SHED = "overload_not_shed"  # no documented refusal while over the knee
FLAG_UNBOUNDED = "overload_memory_unbounded"
FLAG_NOT_RECOVERED = "overload_not_recovered"
FLAG_LOST = "overload_lost"  # a resumable target lost messages


class RefusalCounts(Counted):
    """Refusals and breakages clients saw, by kind, and the connection attempts they made."""

    http_503: int = 0
    ws_1013: int = 0
    http_429: int = 0
    throttled: int = 0
    connect_timeout: int = 0
    reset: int = 0
    stalled: int = 0
    attempts: int = 0  # connections or subscriptions tried (refused or not)

    def add(self, kind: RefusalKind) -> None:
        """Count one refusal of `kind`."""
        setattr(self, kind, getattr(self, kind) + 1)

    @property
    def documented(self) -> int:
        """Refusals with a server's documented answer (503, 1013, 429, throttled)."""
        return sum(getattr(self, kind) for kind in DOCUMENTED_REFUSALS)

    @property
    def silent(self) -> int:
        """Failures without an answer: timeouts, resets, stalls."""
        return self.connect_timeout + self.reset + self.stalled


class OverloadPlan(BaseModel):
    """A scenario's `[overload]` table: the phases, and what the outcome is held to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factors: tuple[float, ...] = Field(
        default=(1.0, 2.0, 4.0, 0.5),
        min_length=3,
        description="the knee's users times each, phase after phase: 1 first, the drop last",
    )
    phase_s: tuple[float, ...] = Field(
        default=(10.0, 15.0, 15.0, 30.0), min_length=3, description="how long each phase lasts"
    )
    slo_p99_ms: float = Field(default=100.0, gt=0, description="delivery p99 to recover under")
    cpu_quota_vcpu: float = Field(
        default=0.25, ge=0, le=64, description="the server's cores (as the capacity run's; 0: all)"
    )
    recovery_bound_s: float = Field(
        default=10.0, gt=0, description="after the drop, p99 must be back under the SLO by then"
    )
    max_rss_ratio: float = Field(
        default=1.5, gt=1, description="peak RSS over the knee phase's RSS that is unbounded"
    )
    knee_users: int | None = Field(
        default=None, gt=0, description="the knee in users (default: the measured capacity)"
    )
    lambda_knee_users: int = Field(
        default=50, gt=0, description="the lambda target's knee: its emulator's worker pool"
    )
    lambda_concurrency: int = Field(
        default=4, gt=0, description="the lambda target's concurrency limit (reserved)"
    )
    tick_s: float = Field(default=1.0, gt=0, le=10, description="p99 timeline resolution")

    @model_validator(mode="after")
    def _check_phases(self) -> Self:
        if len(self.factors) != len(self.phase_s):
            raise ValueError(
                f"factors ({len(self.factors)}) and phase_s ({len(self.phase_s)}) must pair up"
            )
        if self.factors[0] != KNEE_FACTOR:
            raise ValueError("the first phase is the knee itself: factors must start with 1")
        if self.factors[-1] >= KNEE_FACTOR or max(self.factors) <= KNEE_FACTOR:
            raise ValueError("factors must rise above 1 (the spike) and end below 1 (the drop)")
        if any(factor <= 0 for factor in self.factors) or any(s <= 0 for s in self.phase_s):
            raise ValueError("every factor and every phase_s must be > 0")
        return self

    @property
    def total_s(self) -> float:
        """All phases, back to back."""
        return sum(self.phase_s)

    def phase_rooms(self, knee_rooms: int) -> list[int]:
        """Rooms of each phase (whole rooms, at least one)."""
        return [max(1, math.ceil(knee_rooms * factor - 1e-9)) for factor in self.factors]


def phase_name(factor: float) -> str:
    """A phase's window name: `x2`, `x0.5`."""
    return f"x{factor:g}"


class OverloadTick(BaseModel):
    """Messages sent in one tick of the timeline, and how they were delivered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float  # epoch s
    sent: int = Field(ge=0)
    delivered: int = Field(ge=0)
    p99_ms: float | None = None


class OverloadPhase(BaseModel):
    """One phase: the load offered, what came through, what was refused, what the server used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    factor: float = Field(gt=0)
    users: int = Field(ge=0, description="users offered")
    joined: int = Field(ge=0, description="users subscribed at the phase's end")
    start: float
    end: float
    offered_per_s: float = Field(ge=0, description="deliveries a second if every user joined")
    delivered_per_s: float = Field(ge=0)
    p99_ms: float | None = None
    refusals: RefusalCounts = Field(default_factory=RefusalCounts)
    server_rss_mb: float | None = None  # peak over the phase
    server_cpu_cores: float | None = None  # mean over the phase
    loadgen_cpu_cores: float | None = None  # the busiest Locust process, mean over the phase
    loadgen_saturated: bool = False  # ... over 90 % of a core: clients, not the server, slowed


class OverloadVerdict(BaseModel):
    """What the outcome is held to, and whether it met each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shed: bool  # refused with a documented answer while the load was over the knee
    memory_bounded: bool | None  # None: RSS not sampled
    recovered: bool
    lost_nothing: bool | None  # None: the target cannot resume, so losses are expected
    problems: tuple[str, ...] = ()


class OverloadOutcome(BaseModel):
    """One target past its knee and back: per phase, the timeline, and the verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knee_users: int = Field(gt=0)
    knee_source: str  # "capacity run <dir>", "scenario", "lambda: emulator worker pool"
    connection_cap: int | None = None  # the server's --max-connections in this run
    cpu_quota_vcpu: float | None = None
    slo_p99_ms: float
    latency_floor_ms: float = 0.0
    # the p99 that recovery waits for: the SLO over the floor, or the knee phase's own p99
    # when that missed it
    recovery_p99_ms: float | None = None
    phases: tuple[OverloadPhase, ...]
    ticks: tuple[OverloadTick, ...] = ()
    rss_at_knee_mb: float | None = None
    peak_rss_mb: float | None = None
    recovery_s: float | None = None  # None: p99 never came back under the SLO
    recovery_bound_s: float
    lost: int = Field(ge=0)
    duplicated: int = Field(ge=0)
    resumable: bool
    verdict: OverloadVerdict

    @property
    def flags(self) -> list[str]:
        """run.json flags for what the verdict failed."""
        verdict = self.verdict
        failed = {
            FLAG_NOT_SHED: not verdict.shed,
            FLAG_UNBOUNDED: verdict.memory_bounded is False,
            FLAG_NOT_RECOVERED: not verdict.recovered,
            FLAG_LOST: verdict.lost_nothing is False,
        }
        return [flag for flag, failing in failed.items() if failing]

    @property
    def refusals(self) -> RefusalCounts:
        """Refusals over every phase."""
        total = RefusalCounts()
        for phase in self.phases:
            total = total.plus(phase.refusals)
        return total


def recovery_s(
    ticks: tuple[OverloadTick, ...], drop_at: float, end: float, slo_ms: float
) -> float | None:
    """Seconds from the drop until messages sent from then on met the SLO in every tick that
    delivered any (0: never missed); None when the last tick with deliveries still missed."""
    after = [t for t in ticks if drop_at <= t.start < end and t.delivered > 0]
    if not after:
        return None
    missed = [t for t in after if t.p99_ms is None or t.p99_ms > slo_ms]
    if not missed:
        return 0.0
    last_miss = missed[-1]
    back = [t for t in after if t.start > last_miss.start]
    return None if not back else max(0.0, back[0].start - drop_at)


def judge(  # noqa: PLR0913 -- keyword-only: each reading named
    plan: OverloadPlan,
    phases: tuple[OverloadPhase, ...],
    *,
    recovery: float | None,
    lost: int,
    resumable: bool,
    rss_at_knee_mb: float | None,
    peak_rss_mb: float | None,
    back_under_ms: float | None = None,
) -> OverloadVerdict:
    """Hold an overload's readings to the plan: shed, bounded, recovered, nothing lost."""
    over = [phase for phase in phases if phase.factor > KNEE_FACTOR]
    shed = any(phase.refusals.documented > 0 for phase in over)
    problems = []
    if not shed:
        joined = max((phase.joined for phase in over), default=0)
        problems.append(
            f"did not shed: no 503 / 1013 / 429 / throttle while {joined:,} users were in "
            f"(knee {phases[0].users:,})"
        )
    bounded = None
    if rss_at_knee_mb is not None and peak_rss_mb is not None:
        bounded = peak_rss_mb <= rss_at_knee_mb * plan.max_rss_ratio
        if not bounded:
            problems.append(
                f"memory not bounded: peak RSS {peak_rss_mb:.0f} MB > {plan.max_rss_ratio:g} × "
                f"{rss_at_knee_mb:.0f} MB at the knee"
            )
    recovered = recovery is not None and recovery <= plan.recovery_bound_s
    if recovery is None:
        target_ms = back_under_ms if back_under_ms is not None else plan.slo_p99_ms
        problems.append(f"did not recover: p99 still over {target_ms:.0f} ms at the end")
    elif not recovered:
        problems.append(f"recovered in {recovery:.0f} s > {plan.recovery_bound_s:g} s")
    lost_nothing = lost == 0 if resumable else None
    if lost_nothing is False:
        problems.append(f"lost {lost:,} messages (a resumable target must lose none)")
    return OverloadVerdict(
        shed=shed,
        memory_bounded=bounded,
        recovered=recovered,
        lost_nothing=lost_nothing,
        problems=tuple(problems),
    )
