"""What the Locust processes of one run send each other: custom messages and worker reports.

Locust carries them as msgpack: each is a model here, dumped (`model_dump()`) on sending and
validated on receipt, so master and workers agree on every field.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from contract.loadgen import FaultSlotCounts, LoadCounters, TrafficWindow, WireBytes
from contract.overload import RefusalCounts

MSG_TIMELINE = "tbench:timeline"  # master -> workers: a contract.loadgen.TimelineRecord
MSG_FINALIZE = "tbench:finalize"  # master -> workers: send your export now (no data)
MSG_FINAL = "tbench:final"  # worker -> master: its ProcessExport
REPORT_KEY = "tbench"  # our part of a worker's periodic report to the master: a WorkerReport


@dataclass(slots=True)
class Outage:
    """A receiver's lost connection: when it broke, and when messages flowed again."""

    lost_at: float
    back_at: float | None = None  # None: not back (yet)


class SenderRecord(BaseModel):
    """What one publisher had acknowledged: seqs and their sent_at, both ascending."""

    model_config = ConfigDict(extra="forbid")

    seqs: list[int] = Field(default_factory=list)
    sent_at: list[float] = Field(default_factory=list)


class ReceiverRecord(BaseModel):
    """One receiver's view: its room and membership, per sender the runs of seqs it saw."""

    model_config = ConfigDict(extra="forbid")

    room: str
    joined_at: float
    left_at: float | None
    runs: dict[str, list[int]]  # sorted runs [start, end, start, end, ...]
    receipts: int
    duplicates: int
    out_of_order: int


class ProcessExport(BaseModel):
    """Everything the master needs from one process at the end."""

    model_config = ConfigDict(extra="forbid")

    process_tag: str
    histograms: dict[str, bytes]  # encoded HDR deltas since the last report
    below_zero: int  # latencies below zero (clocks not in step)
    ledger: dict[str, dict[str, SenderRecord]]  # room -> sender -> acknowledged publishes
    receivers: list[ReceiverRecord]
    counters: LoadCounters
    wire: WireBytes
    window: TrafficWindow | None  # None: the measured window never started here
    frozen_at: float | None
    fault_counts: list[FaultSlotCounts]  # per fault slot
    reconnections: list[Outage]
    refusals: dict[str, RefusalCounts]  # by window name ("" outside any)


class WorkerReport(BaseModel):
    """A worker's periodic report: histogram deltas, counters, receivers that joined."""

    model_config = ConfigDict(extra="forbid")

    histograms: dict[str, bytes]
    counters: LoadCounters
    joined: int
