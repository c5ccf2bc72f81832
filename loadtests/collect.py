"""Merge what every Locust process exported at the end into one load-generator result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loadtests.accounting import DeliveryTally, PublishLedger, tally
from loadtests.histograms import (
    CONNECT,
    DELIVERY,
    FIRST_MESSAGE,
    PUBLISH,
    PUBLISH_LAG,
    LatencySet,
)

RESULT_FILE = "loadgen.json"
STATUS_FILE = "status.json"
HISTOGRAM_DIR = "hdr"


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

    def tally(self) -> DeliveryTally:
        """The delivery accounting over every receiver."""
        return tally(self.ledger, self.receivers, self.frozen_at)


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


def build_result(
    merged: MergedRun,
    scenario: dict[str, Any],
    timeline: dict[str, Any] | None,
    sweep_steps: list[dict[str, Any]],
    user_class: str,
    histogram_files: dict[str, str],
) -> dict[str, Any]:
    """The load generator's result document (`loadgen.json`), read by the runner."""
    delivery = merged.tally()
    knee = [s for s in sweep_steps if s.get("passed")]
    return {
        "user_class": user_class,
        "scenario": scenario,
        "processes": merged.processes,
        "timeline": timeline,
        "delivery": delivery.to_json(),
        "latency": {
            name: merged.latencies.summary_ms(name)
            for name in (DELIVERY, PUBLISH, CONNECT, FIRST_MESSAGE, PUBLISH_LAG)
        },
        "counters": merged.counters,
        "wire": merged.wire,
        "window": merged.window,
        "clock_skew_samples": merged.latencies.below_zero,
        "sweep": sweep_steps,
        "knee_users": knee[-1]["users"] if knee else None,
        "histograms": histogram_files,
    }
