"""Merge what every Locust process exported at the end into one load-generator result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contract.histograms import (
    CONNECT,
    DELIVERY,
    DELIVERY_SCHEDULED,
    FIRST_MESSAGE,
    PUBLISH,
    PUBLISH_LAG,
    LatencySet,
)
from loadtests.accounting import DeliveryTally, PublishLedger, tally, tally_windows


@dataclass
class MergedRun:
    """Every process's export, merged: one ledger, all receivers, summed counters, one HDR set."""

    latencies: LatencySet = field(default_factory=LatencySet)
    ledger: PublishLedger = field(default_factory=PublishLedger)
    receivers: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    wire: dict[str, int] = field(default_factory=dict)
    window: dict[str, float] = field(default_factory=dict)
    processes: int = 0
    frozen_at: float = 0.0
    fault_counts: list[dict[str, int]] = field(default_factory=list)  # per fault slot
    reconnections: list[tuple[float, float | None]] = field(default_factory=list)

    def add(self, export: dict[str, Any]) -> None:
        """Fold in one process's Session.export()."""
        self.processes += 1
        self.latencies.add_encoded(export["histograms"])
        self.latencies.below_zero += export["below_zero"]
        self.ledger.merge_json(export["ledger"])
        self.receivers.extend(export["receivers"])
        _add_into(self.counters, export["counters"])
        _add_into(self.wire, export["wire"])
        if export.get("window"):
            seconds = max(self.window.get("seconds", 0.0), export["window"]["seconds"])
            _add_into(self.window, export["window"])
            self.window["seconds"] = seconds
        self.frozen_at = max(self.frozen_at, float(export["frozen_at"] or 0.0))
        for index, counts in enumerate(export.get("fault_counts") or ()):
            if index == len(self.fault_counts):
                self.fault_counts.append({})
            _add_into(self.fault_counts[index], counts)
        self.reconnections.extend(
            (float(lost), None if back is None else float(back))
            for lost, back in export.get("reconnections") or ()
        )

    def tally(self) -> DeliveryTally:
        """The delivery accounting over every receiver."""
        return tally(self.ledger, self.receivers, self.frozen_at)

    def fault_results(self, slots: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per fault slot: expected, delivered, lost, duplicated, late, and the reconnections
        that began after the fault hit, inside its slot (a client back at once counts too)."""
        owed = tally_windows(
            self.ledger, self.receivers, self.frozen_at, [(s["start"], s["end"]) for s in slots]
        )
        results = []
        for index, (slot, (expected, delivered, everywhere)) in enumerate(
            zip(slots, owed, strict=True)
        ):
            counts = self.fault_counts[index] if index < len(self.fault_counts) else {}
            hit, end = slot["at"], slot["end"]
            outages = [(lost, back) for lost, back in self.reconnections if hit <= lost < end]
            durations_ms = sorted((back - lost) * 1000.0 for lost, back in outages if back)
            backs = [back for _, back in outages if back is not None]
            results.append(
                {
                    **slot,
                    "expected": expected,
                    "delivered": delivered,
                    "lost": expected - delivered,
                    "lost_everywhere": everywhere,
                    "duplicated": counts.get("duplicated", 0),
                    "late": counts.get("late", 0),
                    "slow_clients": counts.get("slow_clients", 0),
                    "reconnects": len(outages),
                    "not_reconnected": len(outages) - len(backs),
                    "reconnect_p50_ms": _median(durations_ms),
                    "reconnect_max_ms": durations_ms[-1] if durations_ms else None,
                    "back_by": max(backs) if backs else None,
                }
            )
        return results


def _median(values: list[float]) -> float | None:
    """The middle of sorted values (the upper one of an even count), or None."""
    return values[len(values) // 2] if values else None


def _add_into(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value


def merge(exports: Iterable[dict[str, Any]]) -> MergedRun:
    """Merge exports (the master's own first: it holds what worker reports already sent)."""
    merged = MergedRun()
    for export in exports:
        merged.add(export)
    return merged


@dataclass(frozen=True, kw_only=True)
class Conducted:
    """What the conductor ran: the scenario, its timeline, the sweep's steps, the user classes."""

    scenario: dict[str, Any]
    timeline: dict[str, Any] | None
    sweep_steps: list[dict[str, Any]]
    user_class: str  # comma-separated


def build_result(
    merged: MergedRun, conducted: Conducted, histogram_files: dict[str, str]
) -> dict[str, Any]:
    """The load generator's result document (`loadgen.json`), read by the runner."""
    scenario, timeline = conducted.scenario, conducted.timeline
    sweep_steps, user_class = conducted.sweep_steps, conducted.user_class
    delivery = merged.tally()
    knee = [s for s in sweep_steps if s.get("passed")]
    slots = (timeline or {}).get("faults") or []
    return {
        "user_class": user_class,
        "scenario": scenario,
        "processes": merged.processes,
        "timeline": timeline,
        "delivery": delivery.to_json(),
        "latency": {
            name: merged.latencies.summary_ms(name)
            for name in (DELIVERY, DELIVERY_SCHEDULED, PUBLISH, CONNECT, FIRST_MESSAGE, PUBLISH_LAG)
        },
        "counters": merged.counters,
        "wire": merged.wire,
        "window": merged.window,
        "clock_skew_samples": merged.latencies.below_zero,
        "sweep": sweep_steps,
        "knee_users": knee[-1]["users"] if knee else None,
        "histograms": histogram_files,
        "faults": merged.fault_results(slots) if slots else [],
        "late_after_s": (timeline or {}).get("late_after_s"),
    }
