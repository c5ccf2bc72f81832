"""The report's "Memory" section: RSS per connection apart from history, RSS per message kept,
and a soak's RSS line (start, after warm-up, end) per target."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.load import RunData
from contract.results import TargetStatus
from reports.formatting import DASH, integer, kib, megabytes, number


@dataclass(frozen=True)
class MemoryRow:
    """One target's memory figures, formatted."""

    target: str
    rss_max_mb: str
    per_connection_kib: str  # history's share off
    per_connection_with_history_kib: str  # the old figure: grows with the run
    per_retained_message_b: str
    retained_max: str
    soak_start_mb: str
    soak_after_warmup_mb: str
    soak_end_mb: str
    soak_growth: str  # "+1.2 % (limit 5 %)"
    soak_passed: bool | None  # None: no soak


@dataclass(frozen=True)
class MemorySection:
    """The memory table; `soak` when any target ran a soak."""

    rows: list[MemoryRow]
    soak: bool
    notes: list[str]


def _metric(data: RunData, target: str, name: str) -> float | None:
    value = data.metric(target, name)
    return None if value != value else value  # NaN: not recorded


def memory_section(data: RunData) -> MemorySection | None:
    """The section over the measured targets, or None when none was measured."""
    rows = []
    for target in data.targets:
        result = data.run.targets[target]
        if result.status is not TargetStatus.OK:
            continue
        soak = result.soak
        per_message = _metric(data, target, "server_rss_per_retained_message_bytes")
        emulated = target in data.serverless  # its connections cost AWS, not a server of ours
        per_connection = kib(_metric(data, target, "server_rss_per_connection_net_bytes"))
        with_history = kib(_metric(data, target, "server_rss_per_connection_bytes"))
        rows.append(
            MemoryRow(
                target=target,
                rss_max_mb=megabytes(_metric(data, target, "server_rss_max_bytes")),
                per_connection_kib=data.serverless_label(target) if emulated else per_connection,
                per_connection_with_history_kib=data.serverless_label(target)
                if emulated
                else with_history,
                per_retained_message_b=number(per_message),
                retained_max=integer(_metric(data, target, "server_retained_messages_max")),
                soak_start_mb=DASH if soak is None else megabytes(soak.rss_start_bytes),
                soak_after_warmup_mb=DASH
                if soak is None
                else megabytes(soak.rss_after_warmup_bytes),
                soak_end_mb=DASH if soak is None else megabytes(soak.rss_end_bytes),
                soak_growth=DASH
                if soak is None
                else f"{soak.growth_percent:+.1f} % (limit {soak.max_growth_percent:g} %)",
                soak_passed=None if soak is None else soak.passed,
            )
        )
    if not rows:
        return None
    notes = []
    if any(not data.on_aws(target) for target in data.serverless):
        notes.append(
            "The lambda target's RSS is the local emulator's whole process tree (API Gateway "
            "and Lambda stand-ins, the execution environments it starts on demand, dynalite): "
            "what a soak holds level, not what AWS bills, so no figure per connection."
        )
    return MemorySection(rows=rows, soak=any(r.soak_passed is not None for r in rows), notes=notes)
