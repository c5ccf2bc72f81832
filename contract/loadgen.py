"""What the load generator hands the runner: `loadgen.json` at the end, `status.json` meanwhile.

The Locust process that owns a run (loadtests/conductor.py) writes both through these models,
and `tbench run` (tbench/runner/) reads them through the same ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.counted import Counted
from contract.histograms import LatencySummary
from contract.overload import OverloadPhase, OverloadTick, RefusalCounts
from contract.results import SweepStep, validation_problem, write_model_atomic
from contract.scenario import FaultSlot, Scenario


class LoadCounters(Counted):
    """Event counts of the load generator's users (whole run)."""

    requests: int = 0  # HTTP requests, WebSocket upgrades and frames sent
    empty_polls: int = 0
    publishes: int = 0  # attempted
    publish_errors: int = 0
    connect_errors: int = 0
    receive_errors: int = 0
    reconnects: int = 0
    # resumes answered "history lost" (docs/protocol.md): messages the server no longer kept
    history_lost: int = 0

    @property
    def errors(self) -> int:
        """Connect, publish and receive errors."""
        return self.connect_errors + self.publish_errors + self.receive_errors


class WireBytes(Counted):
    """Bytes sent and received at the client sockets, and connections opened (whole run)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    connections_opened: int = 0


class TrafficWindow(Counted):
    """The clients' traffic in the measured window."""

    seconds: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    requests: int = 0
    empty_polls: int = 0
    receipts: int = 0

    def plus(self, other: Self) -> Self:
        """Traffic added; the window is the longer one (the processes measured it side by side)."""
        return super().plus(other).model_copy(update={"seconds": max(self.seconds, other.seconds)})


class DeliveryCounts(Counted):
    """The per-target delivery accounting (docs/metrics.md)."""

    published: int = 0
    receivers: int = 0
    expected: int = 0
    delivered: int = 0  # distinct expected messages that arrived
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0  # distinct arrivals outside the expectation (inside the margins)
    receipts: int = 0  # every arrival, duplicates included


class FaultSlotCounts(Counted):
    """What the clients saw of one fault slot (messages attributed by their `sent_at`)."""

    duplicated: int = 0
    late: int = 0
    slow_clients: int = 0


class WindowRecord(BaseModel):
    """A measured stretch of `sent_at` times (the run, or a sweep step); `end` None: open."""

    model_config = ConfigDict(extra="forbid")

    name: str
    start: float
    end: float | None
    histograms: list[str]  # delivery histograms a message sent in the window goes to
    scheduled: list[str] = Field(default_factory=list)  # ... and its scheduled latency


class TimelineRecord(BaseModel):
    """When publishers start and stop and which windows are measured (epoch s; None: open)."""

    model_config = ConfigDict(extra="forbid")

    publish_start: float
    publish_end: float | None
    windows: list[WindowRecord]
    faults: list[FaultSlot] = Field(default_factory=list)
    late_after_s: float | None = None  # a delivery slower than this is "late" (faults only)
    tick_s: float | None = None  # an overload's timeline resolution
    active_rooms: int | None = None  # an overload's drop: the rooms that stay

    def measured_window(self) -> tuple[float, float]:
        """(start, end) of what was measured: the first window's start to the publish end."""
        start = self.windows[0].start if self.windows else 0.0
        last_end = self.windows[-1].end if self.windows else None
        end = self.publish_end or last_end or start
        return start, end


class FaultMeasurement(BaseModel):
    """One fault slot as the clients measured it: deliveries owed and made, reconnections."""

    model_config = ConfigDict(extra="forbid")

    slot: FaultSlot
    expected: int
    delivered: int
    lost: int
    lost_everywhere: int  # of `lost`: messages no receiver got at all
    duplicated: int
    late: int
    slow_clients: int
    reconnects: int  # receivers that lost their connection in the slot, after the fault
    not_reconnected: int
    reconnect_p50_ms: float | None
    reconnect_max_ms: float | None
    back_by: float | None  # when the last of them was back (epoch s)


class LoadgenResult(BaseModel):
    """A target's load-generator result (`loadgen.json`)."""

    model_config = ConfigDict(extra="forbid")

    user_class: str
    scenario: Scenario
    processes: int  # Locust processes that reported: the master (or local runner) and workers
    timeline: TimelineRecord | None
    delivery: DeliveryCounts
    latency: dict[str, LatencySummary]  # per histogram (contract.histograms names)
    counters: LoadCounters
    wire: WireBytes
    window: TrafficWindow | None  # None: the measured window never started
    clock_skew_samples: int
    sweep: list[SweepStep] = Field(default_factory=list)
    knee_users: int | None = None
    histograms: dict[str, str] = Field(default_factory=dict)  # name -> file in hdr/
    faults: list[FaultMeasurement] = Field(default_factory=list)
    late_after_s: float | None = None
    ended_early: bool = False  # Locust stopped before the scenario's end
    refusals: dict[str, RefusalCounts] = Field(default_factory=dict)  # by window ("" outside)
    overload: list[OverloadPhase] = Field(default_factory=list)  # its phases, clients' side
    overload_ticks: list[OverloadTick] = Field(default_factory=list)
    latency_floor_ms: float = 0.0  # what the transport adds to p99 at any load (short polling)

    def measured_window(self) -> tuple[float, float]:
        """(start, end) epoch seconds of the measured window (0, 0 without a timeline)."""
        return self.timeline.measured_window() if self.timeline is not None else (0.0, 0.0)

    def users(self) -> int:
        """Users at the end: the last sweep step's, else the scenario's."""
        return self.sweep[-1].users if self.sweep else self.scenario.users

    def write(self, path: Path) -> None:
        """Write atomically."""
        write_model_atomic(path, self)

    @classmethod
    def read(cls, path: Path) -> LoadgenResult:
        """Read one; OSError, or a ValueError of one line naming the file and the problem."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise ValueError(f"{path}: {validation_problem(exc)}") from None


class LiveStatus(BaseModel):
    """How a run is going, rewritten every second (`status.json`, for the live display)."""

    model_config = ConfigDict(extra="forbid")

    phase: str
    users: int
    deliver_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    faults: list[FaultSlot] = Field(default_factory=list)  # the schedule, once known
    sweep: list[SweepStep] = Field(default_factory=list)
    updated_at: float

    def write(self, path: Path) -> None:
        """Write atomically."""
        write_model_atomic(path, self)

    @classmethod
    def read(cls, path: Path) -> LiveStatus | None:
        """The status, or None before it is written (or if it cannot be read)."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None


def open_end(value: float) -> float | None:
    """Infinity (an open end) as None, the way JSON carries it."""
    return None if math.isinf(value) else value


def closed_end(value: float | None) -> float:
    """None (an open end) back to infinity."""
    return math.inf if value is None else value
