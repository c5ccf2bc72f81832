"""The report's "Under overload" section: per target, peak RSS against the knee's, refusals by
kind, what resumable clients lost, and the recovery time after the drop."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.figures.overload import overload_outcomes
from analysis.load import RunData
from contract.overload import OverloadOutcome
from reports.formatting import DASH, integer, number


@dataclass(frozen=True)
class OverloadRow:
    """One target's overload, formatted."""

    target: str
    knee_users: str
    knee_source: str
    cap: str
    rss_at_knee_mb: str
    peak_rss_mb: str
    refused: str  # "503 ×1,204; 1013 ×0; ..." only the kinds seen
    silent: str  # timeouts, resets, stalls
    attempts: str
    lost: str  # "0" (resumable), "12 (not resumable)"
    recovery: str  # "3 s (bound 10 s)", "not back"
    verdict: str  # "sheds cleanly" or the problems
    passed: bool
    saturated_phases: str  # phases where the load generator saturated ("" when none)


@dataclass(frozen=True)
class OverloadSection:
    """The overload table and what it is held to."""

    rows: list[OverloadRow]
    slo_p99_ms: float
    recovery_bound_s: float
    phases: str  # "×1 10 s, ×2 15 s, ×4 15 s, ×0.5 30 s"
    quota: str


REFUSAL_LABELS = {
    "http_503": "503",
    "ws_1013": "1013",
    "http_429": "429",
    "throttled": "throttled",
}


def _refused(outcome: OverloadOutcome) -> str:
    refusals = outcome.refusals
    seen = [
        f"{label} ×{getattr(refusals, kind):,}"
        for kind, label in REFUSAL_LABELS.items()
        if getattr(refusals, kind)
    ]
    return "; ".join(seen) or "none"


def _row(key: str, outcome: OverloadOutcome) -> OverloadRow:
    refusals = outcome.refusals
    recovery = (
        "not back"
        if outcome.recovery_s is None
        else f"{outcome.recovery_s:.0f} s (bound {outcome.recovery_bound_s:g} s)"
    )
    verdict = outcome.verdict
    return OverloadRow(
        target=key,
        knee_users=integer(outcome.knee_users),
        knee_source=outcome.knee_source,
        cap=integer(outcome.connection_cap) if outcome.connection_cap else DASH,
        rss_at_knee_mb=number(outcome.rss_at_knee_mb),
        peak_rss_mb=number(outcome.peak_rss_mb),
        refused=_refused(outcome),
        silent=(
            f"{refusals.connect_timeout:,} timeouts, {refusals.reset:,} resets, "
            f"{refusals.stalled:,} stalled"
        ),
        attempts=integer(refusals.attempts),
        lost=f"{outcome.lost:,}" + ("" if outcome.resumable else " (cannot resume)"),
        recovery=recovery,
        verdict="; ".join(verdict.problems) or "shed cleanly, bounded, recovered",
        passed=not verdict.problems,
        saturated_phases=", ".join(
            phase.name.replace("x", "×") for phase in outcome.phases if phase.loadgen_saturated
        ),
    )


def overload_section(data: RunData) -> OverloadSection | None:
    """The section over the targets that ran an overload, or None."""
    outcomes = overload_outcomes(data)
    plan = data.run.scenario.overload
    if not outcomes or plan is None:
        return None
    phases = ", ".join(
        f"×{factor:g} {seconds:g} s"
        for factor, seconds in zip(plan.factors, plan.phase_s, strict=True)
    )
    quota = f"{plan.cpu_quota_vcpu:g} vCPU" if plan.cpu_quota_vcpu else "no CPU quota"
    return OverloadSection(
        rows=[_row(key, outcome) for key, outcome in outcomes.items()],
        slo_p99_ms=plan.slo_p99_ms,
        recovery_bound_s=plan.recovery_bound_s,
        phases=phases,
        quota=quota,
    )
