"""An overload run's runner side: each target's knee, how its server is started, and the
outcome (the clients' phases joined with the server's RSS and CPU, then judged).

The knee comes from the newest capacity run beside this one (or the scenario's `knee_users`);
a container target's server is capped at what it held there (`connection_cap`), so the surplus
is refused with the documented answer rather than queued. The lambda target has no measured knee
(no CPU quota applies to it): its knee is its emulator's worker pool, and its surplus is shed
by Lambda's concurrency limit, which API Gateway turns into throttling answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.capacity import Capacity
from contract.loadgen import LoadgenResult
from contract.overload import (
    OverloadOutcome,
    OverloadPhase,
    OverloadPlan,
    judge,
    recovery_s,
)
from contract.registry import TargetSpec
from contract.results import LOADGEN_SATURATION_PERCENT
from cost_model.plan_sources import runs_under
from tbench.runner import lambda_target
from tbench.runner.resources import ResourceSeries, summarize

BYTES_PER_MB = 1024 * 1024


class KneeError(Exception):
    """No knee to overload from: the message says how to measure one."""


@dataclass(frozen=True)
class Knee:
    """Where a target's load is multiplied from, where it was read, and its server's cap."""

    users: int
    source: str
    connection_cap: int | None  # --max-connections for the server (None: left as it is)


def _newest_capacity(results: Path, target: str) -> tuple[Path, Capacity] | None:
    """The newest run under `results` (its folders only) that measured this target's capacity."""
    for source in runs_under(results, recursive=False):  # newest first
        result = source.run.targets.get(target)
        if result is not None and result.capacity is not None and result.capacity.users > 0:
            return source.path, result.capacity
    return None


def connection_cap(spec: TargetSpec, knee_users: int, knee_connections: int | None) -> int:
    """What a server is capped at past its knee: a held connection (stream, session, held poll)
    is a user, so the knee's users; a short-polling user holds a keep-alive connection between
    polls, and its cap counts connections (servers/capacity.py), so the connections the server
    held at its knee (its publishers' too), where measured."""
    if spec.family == "short-polling" and knee_connections:
        return knee_connections
    return knee_users


def knee_of(spec: TargetSpec, plan: OverloadPlan, results: Path) -> Knee:
    """The knee this target is overloaded from; KneeError when none is known."""
    if plan.knee_users is not None:
        cap = connection_cap(spec, plan.knee_users, None)
        return Knee(plan.knee_users, "the scenario's knee_users", cap)
    if lambda_target.has_cpu_model(spec):
        return Knee(plan.lambda_knee_users, "the emulator's worker pool (lambda_knee_users)", None)
    newest = _newest_capacity(results, spec.name)
    if newest is None:
        raise KneeError(
            f"no capacity measured for {spec.name} under {results}: run "
            f"`sudo tbench run --scenario capacity --targets {spec.name}` first, or set "
            "[overload] knee_users"
        )
    path, capacity = newest
    bound = "" if capacity.is_knee else f" ({capacity.describe()})"
    passing = [step for step in capacity.steps if step.passed]
    cap = connection_cap(spec, capacity.users, passing[-1].connections if passing else None)
    return Knee(capacity.users, f"capacity run {path.name}{bound}", cap)


def server_args(spec: TargetSpec, plan: OverloadPlan, knee: Knee) -> tuple[str, ...]:
    """The server's flags for the run: its cap at the knee, or Lambda's concurrency limit."""
    if lambda_target.has_cpu_model(spec):
        return ("--concurrency-limit", str(plan.lambda_concurrency))
    if knee.connection_cap is None:
        return ()
    return ("--max-connections", str(knee.connection_cap))


def _with_server(
    phase: OverloadPhase, series: ResourceSeries
) -> tuple[OverloadPhase, float | None]:
    """The phase with the server's peak RSS and mean CPU over it, and the load generator's."""
    inside = [
        row
        for row in series.rows
        if phase.start <= row["time"] <= phase.end and row.get("server_processes", 0) > 0
    ]
    rss = max((row["server_rss_bytes"] for row in inside), default=None)
    used = summarize(series, phase.start, phase.end) if inside else {}
    cpu, loadgen = used.get("server_cpu_percent_mean"), used.get("loadgen_cpu_percent_mean")
    rss_mb = None if rss is None else rss / BYTES_PER_MB
    updated = phase.model_copy(
        update={
            "server_rss_mb": rss_mb,
            "server_cpu_cores": None if cpu is None else float(cpu) / 100,
            "loadgen_cpu_cores": None if loadgen is None else float(loadgen) / 100,
            "loadgen_saturated": loadgen is not None and loadgen > LOADGEN_SATURATION_PERCENT,
        }
    )
    return updated, rss_mb


def read_overload(  # noqa: PLR0913 -- keyword-only: the run's readings, each named
    plan: OverloadPlan,
    knee: Knee,
    loadgen: LoadgenResult,
    series: ResourceSeries,
    *,
    resumable: bool,
    latency_floor_ms: float,
    cpu_quota_vcpu: float | None,
    memory_judged: bool = True,
) -> OverloadOutcome:
    """The outcome of one target's overload, judged by the plan (p99 over the transport's
    own floor, as a capacity step's)."""
    phases, peaks = [], []
    for phase in loadgen.overload:
        updated, rss_mb = _with_server(phase, series)
        phases.append(updated)
        if rss_mb is not None:
            peaks.append(rss_mb)
    ticks = tuple(loadgen.overload_ticks)
    # back under the SLO, or under the knee's own p99 where the knee missed it (the lambda
    # target's knee is its worker pool's, not one at the SLO)
    knee_p99 = phases[0].p99_ms if phases and phases[0].p99_ms is not None else 0.0
    back_under_ms = max(plan.slo_p99_ms + latency_floor_ms, knee_p99)
    drop = phases[-1] if phases else None
    recovery = None if drop is None else recovery_s(ticks, drop.start, drop.end, back_under_ms)
    rss_at_knee = phases[0].server_rss_mb if phases else None
    peak = max(peaks, default=None)
    delivery = loadgen.delivery
    return OverloadOutcome(
        knee_users=knee.users,
        knee_source=knee.source,
        connection_cap=knee.connection_cap,
        cpu_quota_vcpu=cpu_quota_vcpu,
        slo_p99_ms=plan.slo_p99_ms,
        latency_floor_ms=latency_floor_ms,
        recovery_p99_ms=back_under_ms,
        phases=tuple(phases),
        ticks=ticks,
        rss_at_knee_mb=rss_at_knee,
        peak_rss_mb=peak,
        recovery_s=recovery,
        recovery_bound_s=plan.recovery_bound_s,
        lost=delivery.lost,
        duplicated=delivery.duplicated,
        resumable=resumable,
        verdict=judge(
            plan,
            tuple(phases),
            recovery=recovery,
            lost=delivery.lost,
            resumable=resumable,
            # an emulator's RSS grows with the environments it starts, up to its worker pool:
            # not a server's memory, so not held to the bound (its figures stay beside)
            rss_at_knee_mb=rss_at_knee if memory_judged else None,
            peak_rss_mb=peak if memory_judged else None,
            back_under_ms=back_under_ms,
        ),
    )
