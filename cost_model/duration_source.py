"""Which durations price the Lambda target: the run's own, or the tune's without contention.

A saturated run's billed durations include waiting for a CPU the emulator's processes share
(AWS runs each invocation on its own share): priced as they are, the dollar figure inherits
the overload. So the run's own durations are used only when the run was not saturated; else
`sendMessage` is priced at the tune's billed p50 at the configured memory (measured one
invocation at a time after the load), and $connect / $disconnect stay the run's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contract.results import FLAG_LOADGEN_SATURATED, FLAG_UNDER_DELIVERED, TargetResult

SATURATION_FLAGS = (FLAG_LOADGEN_SATURATED, FLAG_UNDER_DELIVERED)
# The emulator (gateway, DynamoDB stand-in, environments) used this share of every core on
# average: invocations queued for CPU, so their durations are contended.
CPU_BOUND_FRACTION = 0.8


@dataclass(frozen=True)
class DurationSource:
    """The per-message billed ms to price with (None: the run's own) and why, in words."""

    send_ms: Decimal | None
    note: str


def saturation(result: TargetResult, cores: int) -> list[str]:
    """Why the run's durations are contended (empty: they are not)."""
    reasons = [flag for flag in SATURATION_FLAGS if flag in result.flags]
    cpu = result.metrics.get("server_cpu_percent_mean")
    if isinstance(cpu, int | float) and cpu >= CPU_BOUND_FRACTION * 100 * cores:
        reasons.append(f"emulator CPU {cpu:.0f} % of {cores * 100} %")
    return reasons


def duration_source(result: TargetResult, cores: int) -> DurationSource:
    """The run's own durations if it was not saturated, else the tune's at the configured size.
    A run on AWS (`tbench aws run`) is priced from AWS's own REPORT lines: nothing contended."""
    if result.deployment is not None and result.deployment.cloud == "aws":
        return DurationSource(None, "AWS's billed durations (REPORT lines from CloudWatch Logs)")
    reasons = saturation(result, cores)
    if not reasons:
        return DurationSource(None, "the run's own billed durations (the run was not saturated)")
    memory = result.deployment.function_memory_mb if result.deployment else None
    row = next((r for r in result.lambda_tune if r.memory_mb == memory), None)
    why = ", ".join(reasons)
    if row is None:
        return DurationSource(
            None, f"the run's own billed durations, though saturated ({why}): no tune to use"
        )
    billed = Decimal(row.billed_duration_p50_ms)
    return DurationSource(
        billed,
        f"sendMessage at {billed} ms billed, the memory tune's p50 at {memory} MB (one "
        f"invocation at a time), as the run was saturated ({why}); $connect and $disconnect "
        "at the run's own",
    )
