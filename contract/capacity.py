"""Measured capacity: a server confined to a CPU quota, ramped until it misses its SLO.

A step passes when its delivery p99 is within the SLO and nothing was lost or failed. The
capacity is the delivered rate of the last passing step; it is the server's knee only when the
next step failed on the server's side (`bound == "server"`). When the load generator saturated
first, or the ramp ran out of steps, the figure is a lower bound and says so.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Bound = Literal["server", "load-generator", "ramp-ended"]
BOUND_WORDS: dict[Bound, str] = {
    "server": "server",
    "load-generator": "load-generator bound",
    "ramp-ended": "ramp ended",
}


class CapacityStep(BaseModel):
    """One step of the ramp: the load offered and what came of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int = Field(ge=1)
    rooms: int = Field(ge=1)
    users: int = Field(ge=1)
    offered_per_s: float = Field(ge=0, description="deliveries a second the schedule asked for")
    delivered_per_s: float = Field(ge=0)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    scheduled_p99_ms: float | None = None  # from the intended send time (open loop)
    lost: int = Field(default=0, ge=0)
    errors: int = Field(default=0, ge=0)
    server_cpu_cores: float | None = None  # mean over the step
    server_rss_mb: float | None = None
    connections: int | None = None
    retained: int | None = None  # messages the server held in history at the step's end
    loadgen_cpu_cores: float | None = None  # the load generator's processes, mean
    loadgen_saturated: bool = False
    passed: bool
    why_not: str | None = None  # what missed: "p99 140 ms > 100 ms", "3 lost", ...


class Capacity(BaseModel):
    """One target's capacity under its quota, and the curve it was read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_quota_vcpu: float = Field(gt=0)
    slo_p99_ms: float = Field(gt=0)
    steps: tuple[CapacityStep, ...]
    bound: Bound
    delivered_per_s: float = Field(ge=0, description="at the last passing step (0: none)")
    users: int = Field(ge=0, description="users held at the last passing step")
    p99_ms: float | None = None  # at the last passing step
    # at the last passing step: base RSS off, and history's share when it was measured
    rss_mb_per_connection: float | None = None
    base_rss_mb: float | None = None  # the server's RSS before any client connected
    # RSS per message kept in history (None: not measured; then RSS per connection has it in)
    rss_bytes_per_retained_message: float | None = None
    # what the transport itself adds to p99 whatever the load (short polling: 0.99 x its
    # interval); steps were judged by slo_p99_ms over it
    latency_floor_ms: float = 0.0

    @property
    def per_core(self) -> float:
        """Deliveries a second per vCPU at the SLO (capacity ÷ quota)."""
        return self.delivered_per_s / self.cpu_quota_vcpu

    @property
    def is_knee(self) -> bool:
        """Whether the figure is where the server stopped, not a lower bound."""
        return self.bound == "server"

    def describe(self) -> str:
        """The capacity in words: `9,800 deliveries/s (≥, load-generator bound)`."""
        figure = f"{self.delivered_per_s:,.0f} deliveries/s"
        return figure if self.is_knee else f"≥ {figure}, {BOUND_WORDS[self.bound]}"


def capacity_of(  # noqa: PLR0913 -- keyword-only: the ramp's readings, each named
    steps: tuple[CapacityStep, ...],
    *,
    cpu_quota_vcpu: float,
    slo_p99_ms: float,
    base_rss_mb: float | None,
    latency_floor_ms: float = 0.0,
    rss_bytes_per_retained_message: float | None = None,
) -> Capacity:
    """Read the capacity off a ramp's steps: the last passing step, and what ended the ramp."""
    passing = [step for step in steps if step.passed]
    last = passing[-1] if passing else None
    failed = next((step for step in steps if not step.passed), None)
    if failed is None:
        bound: Bound = "ramp-ended"
    elif failed.loadgen_saturated or any(step.loadgen_saturated for step in passing[-1:]):
        bound = "load-generator"
    else:
        bound = "server"
    rss_per_connection = None
    if last is not None and last.server_rss_mb is not None and base_rss_mb is not None:
        connections = last.connections or last.users
        history_mb = (last.retained or 0) * (rss_bytes_per_retained_message or 0.0) / 1_048_576
        grown = last.server_rss_mb - base_rss_mb - history_mb
        rss_per_connection = max(0.0, grown) / max(connections, 1)
    return Capacity(
        cpu_quota_vcpu=cpu_quota_vcpu,
        slo_p99_ms=slo_p99_ms,
        steps=steps,
        bound=bound,
        delivered_per_s=last.delivered_per_s if last else 0.0,
        users=last.users if last else 0,
        p99_ms=last.p99_ms if last else None,
        rss_mb_per_connection=rss_per_connection,
        base_rss_mb=base_rss_mb,
        rss_bytes_per_retained_message=rss_bytes_per_retained_message,
        latency_floor_ms=latency_floor_ms,
    )


def p99_at(capacity: Capacity, delivered_per_s: float) -> float | None:
    """The p99 read off the measured curve at a per-task load (linear between steps).

    None past the last passing step: the curve says nothing there that the SLO allows.
    """
    points = sorted(
        (step.delivered_per_s, step.p99_ms)
        for step in capacity.steps
        if step.passed and step.p99_ms is not None
    )
    if not points or delivered_per_s > points[-1][0]:
        return None
    if delivered_per_s <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= delivered_per_s <= x1:
            share = 0.0 if x1 == x0 else (delivered_per_s - x0) / (x1 - x0)
            return y0 + share * (y1 - y0)
    return points[-1][1]
