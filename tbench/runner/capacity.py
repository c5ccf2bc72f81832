"""A capacity ramp's reading: each step joined with what the server and Locust used meanwhile.

The conductor judges each step by latency and completeness; only the runner sees the server's
CPU, memory and connections and the load generator's CPU, so it turns the steps into the
`Capacity` of run.json here, and says when the load generator, not the server, was the limit.
"""

from __future__ import annotations

import math

from contract.capacity import Capacity, CapacityStep, capacity_of
from contract.results import LOADGEN_SATURATION_PERCENT, SweepStep
from contract.scenario import Sweep
from tbench.runner.memory import RETAINED_COLUMN, rss_per_retained_across
from tbench.runner.resources import ResourceSeries, summarize

BYTES_PER_MB = 1024 * 1024


def capacity_step(step: SweepStep, series: ResourceSeries) -> CapacityStep:
    """One ramp step with the resources used over its measured window."""
    used = summarize(series, step.start, step.end) if step.start and step.end else {}
    server_cpu = used.get("server_cpu_percent_mean")
    loadgen_cpu = used.get("loadgen_cpu_percent_mean")
    inside = [
        row
        for row in series.rows
        if step.start is not None
        and step.end is not None
        and step.start <= row["time"] <= step.end
        and row.get("server_processes", 0) > 0
    ]
    rss = max((row["server_rss_bytes"] for row in inside), default=None)
    seen = [
        row["server_connections"] for row in inside if not math.isnan(row["server_connections"])
    ]
    connections = max(seen, default=None)
    kept = [
        row[RETAINED_COLUMN] for row in inside if not math.isnan(row.get(RETAINED_COLUMN, math.nan))
    ]
    return CapacityStep(
        step=step.step,
        rooms=step.rooms,
        users=step.users,
        offered_per_s=step.offered_per_s or 0.0,
        delivered_per_s=step.delivered_per_s,
        p50_ms=step.p50_ms,
        p95_ms=step.p95_ms,
        p99_ms=step.p99_ms,
        scheduled_p99_ms=step.scheduled_p99_ms,
        errors=step.failures or 0,
        server_cpu_cores=None if server_cpu is None else server_cpu / 100,
        server_rss_mb=None if rss is None else rss / BYTES_PER_MB,
        connections=None if connections is None else int(connections),
        retained=int(kept[-1]) if kept else None,
        loadgen_cpu_cores=None if loadgen_cpu is None else loadgen_cpu / 100,
        loadgen_saturated=loadgen_cpu is not None and loadgen_cpu > LOADGEN_SATURATION_PERCENT,
        passed=step.passed,
        why_not=step.why_not,
    )


def read_capacity(sweep: Sweep, steps: list[SweepStep], series: ResourceSeries) -> Capacity:
    """The capacity a confined ramp measured (a lower bound when the server did not bind)."""
    assert sweep.cpu_quota_vcpu is not None
    slo = sweep.slo_p99_ms or sweep.slo_p95_ms
    assert slo is not None
    with_server = [row for row in series.rows if row.get("server_processes", 0) > 0]
    base_rss_mb = with_server[0]["server_rss_bytes"] / BYTES_PER_MB if with_server else None
    return capacity_of(
        tuple(capacity_step(step, series) for step in steps),
        cpu_quota_vcpu=sweep.cpu_quota_vcpu,
        slo_p99_ms=slo,
        base_rss_mb=base_rss_mb,
        latency_floor_ms=(steps[0].latency_floor_ms or 0.0) if steps else 0.0,
        rss_bytes_per_retained_message=rss_per_retained_across(
            series.rows, max((step.end or 0.0 for step in steps), default=0.0)
        ),
    )
