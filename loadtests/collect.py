"""Merge what every Locust process exported at the end into one load-generator result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from contract.histograms import (
    CONNECT,
    DELIVERY,
    DELIVERY_SCHEDULED,
    FIRST_MESSAGE,
    PUBLISH,
    PUBLISH_LAG,
    LatencySet,
)
from contract.loadgen import (
    DeliveryCounts,
    FaultMeasurement,
    FaultSlotCounts,
    LoadCounters,
    LoadgenResult,
    TimelineRecord,
    TrafficWindow,
    WireBytes,
)
from contract.overload import OverloadPhase, OverloadTick, RefusalCounts
from contract.results import SweepStep
from contract.scenario import FaultSlot, Scenario
from loadtests.accounting import PublishLedger, tally, tally_windows
from loadtests.exchange import Outage, ProcessExport, ReceiverRecord


@dataclass
class MergedRun:
    """Every process's export, merged: one ledger, all receivers, summed counters, one HDR set."""

    latencies: LatencySet = field(default_factory=LatencySet)
    ledger: PublishLedger = field(default_factory=PublishLedger)
    receivers: list[ReceiverRecord] = field(default_factory=list)
    counters: LoadCounters = field(default_factory=LoadCounters)
    wire: WireBytes = field(default_factory=WireBytes)
    window: TrafficWindow | None = None
    processes: int = 0
    frozen_at: float = 0.0
    fault_counts: list[FaultSlotCounts] = field(default_factory=list)  # per fault slot
    reconnections: list[Outage] = field(default_factory=list)
    refusals: dict[str, RefusalCounts] = field(default_factory=dict)  # by window name

    def add(self, export: ProcessExport) -> None:
        """Fold in one process's Session.export()."""
        self.processes += 1
        self.latencies.add_encoded(export.histograms)
        self.latencies.below_zero += export.below_zero
        self.ledger.merge(export.ledger)
        self.receivers.extend(export.receivers)
        self.counters = self.counters.plus(export.counters)
        self.wire = self.wire.plus(export.wire)
        if export.window is not None:
            self.window = export.window if self.window is None else self.window.plus(export.window)
        self.frozen_at = max(self.frozen_at, export.frozen_at or 0.0)
        for index, counts in enumerate(export.fault_counts):
            if index == len(self.fault_counts):
                self.fault_counts.append(FaultSlotCounts())
            self.fault_counts[index] = self.fault_counts[index].plus(counts)
        self.reconnections.extend(export.reconnections)
        for window, refused in export.refusals.items():
            self.refusals[window] = self.refusals.get(window, RefusalCounts()).plus(refused)

    def tally(self) -> DeliveryCounts:
        """The delivery accounting over every receiver."""
        return tally(self.ledger, self.receivers, self.frozen_at)

    def fault_results(self, slots: list[FaultSlot]) -> list[FaultMeasurement]:
        """Per fault slot: expected, delivered, lost, duplicated, late, and the reconnections
        that began after the fault hit, inside its slot (a client back at once counts too)."""
        owed = tally_windows(
            self.ledger, self.receivers, self.frozen_at, [(s.start, s.end) for s in slots]
        )
        results = []
        for index, (slot, (expected, delivered, everywhere)) in enumerate(
            zip(slots, owed, strict=True)
        ):
            counts = (
                self.fault_counts[index] if index < len(self.fault_counts) else FaultSlotCounts()
            )
            outages = [o for o in self.reconnections if slot.at <= o.lost_at < slot.end]
            backs = [o.back_at for o in outages if o.back_at is not None]
            durations_ms = sorted(
                (o.back_at - o.lost_at) * 1000.0 for o in outages if o.back_at is not None
            )
            results.append(
                FaultMeasurement(
                    slot=slot,
                    expected=expected,
                    delivered=delivered,
                    lost=expected - delivered,
                    lost_everywhere=everywhere,
                    duplicated=counts.duplicated,
                    late=counts.late,
                    slow_clients=counts.slow_clients,
                    reconnects=len(outages),
                    not_reconnected=len(outages) - len(backs),
                    reconnect_p50_ms=_median(durations_ms),
                    reconnect_max_ms=durations_ms[-1] if durations_ms else None,
                    back_by=max(backs) if backs else None,
                )
            )
        return results


def _median(values: list[float]) -> float | None:
    """The middle of sorted values (the upper one of an even count), or None."""
    return values[len(values) // 2] if values else None


def merge(exports: Iterable[ProcessExport]) -> MergedRun:
    """Merge exports (the master's own first: it holds what worker reports already sent)."""
    merged = MergedRun()
    for export in exports:
        merged.add(export)
    return merged


@dataclass(frozen=True, kw_only=True)
class Conducted:
    """What the conductor ran: the scenario, its timeline, the sweep's steps, the user classes."""

    scenario: Scenario
    timeline: TimelineRecord | None
    sweep_steps: list[SweepStep]
    user_class: str  # comma-separated
    overload: list[OverloadPhase] = field(default_factory=list)
    overload_ticks: list[OverloadTick] = field(default_factory=list)
    latency_floor_ms: float = 0.0


def build_result(
    merged: MergedRun, conducted: Conducted, histogram_files: dict[str, str]
) -> LoadgenResult:
    """The load generator's result document (`loadgen.json`), read by the runner."""
    timeline, sweep_steps = conducted.timeline, conducted.sweep_steps
    knee = [step for step in sweep_steps if step.passed]
    slots = timeline.faults if timeline is not None else []
    return LoadgenResult(
        user_class=conducted.user_class,
        scenario=conducted.scenario,
        processes=merged.processes,
        timeline=timeline,
        delivery=merged.tally(),
        latency={
            name: merged.latencies.summary_ms(name)
            for name in (DELIVERY, DELIVERY_SCHEDULED, PUBLISH, CONNECT, FIRST_MESSAGE, PUBLISH_LAG)
        },
        counters=merged.counters,
        wire=merged.wire,
        window=merged.window,
        clock_skew_samples=merged.latencies.below_zero,
        sweep=sweep_steps,
        knee_users=knee[-1].users if knee else None,
        histograms=histogram_files,
        faults=merged.fault_results(slots) if slots else [],
        late_after_s=timeline.late_after_s if timeline is not None else None,
        refusals=merged.refusals,
        overload=conducted.overload,
        overload_ticks=conducted.overload_ticks,
        latency_floor_ms=conducted.latency_floor_ms,
    )
