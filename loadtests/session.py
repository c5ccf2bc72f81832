"""What one Locust process knows about the run: scenario, timeline, counters, HDR, ledger."""

from __future__ import annotations

import itertools
import math
import secrets
import time
from dataclasses import asdict, dataclass, field

import gevent.event
from locust.event import EventHook

from contract.histograms import (
    DELIVERY,
    DELIVERY_SCHEDULED,
    PUBLISH,
    PUBLISH_LAG,
    LatencySet,
    step_name,
)
from contract.loadgen import (
    FaultSlotCounts,
    LoadCounters,
    TimelineRecord,
    TrafficWindow,
    WindowRecord,
    WireBytes,
    closed_end,
    open_end,
)
from contract.overload import RefusalCounts, RefusalKind
from contract.scenario import FaultSlot, Scenario
from loadtests import scenario_files
from loadtests.accounting import PublishLedger, ReceiveLog
from loadtests.deferred_events import DeferredRequestEvents
from loadtests.exchange import Outage, ProcessExport
from loadtests.wire import WireCounter

DEFAULT_RUN_TAG = "tbench"


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of `sent_at` times whose latencies are measured (the run, or a sweep step)."""

    name: str
    start: float
    end: float
    histograms: tuple[str, ...]  # delivery histograms a message sent in the window goes to
    scheduled: tuple[str, ...] = ()  # ... and its latency from the intended send time

    @property
    def per_step(self) -> bool:
        """Whether the window has histograms of its own (a sweep step), beside the run's."""
        return len(self.histograms) > 1


@dataclass(frozen=True, slots=True)
class Timeline:
    """When publishers start and stop, and which windows are measured (wall clock, epoch s)."""

    publish_start: float
    publish_end: float
    windows: tuple[Window, ...]
    faults: tuple[FaultSlot, ...] = ()  # `tbench run --faults`: one slot per fault
    late_after_s: float = math.inf  # a delivery slower than this is "late" (faults only)
    tick_s: float | None = None  # an overload's timeline: deliveries also by tick of sent_at
    # an overload's drop: only rooms numbered below this stay; the others' users leave
    active_rooms: int | None = None

    def to_record(self) -> TimelineRecord:
        """For the workers' message and loadgen.json (an open end travels as None)."""
        return TimelineRecord(
            publish_start=self.publish_start,
            publish_end=open_end(self.publish_end),
            windows=[
                WindowRecord(
                    name=w.name,
                    start=w.start,
                    end=open_end(w.end),
                    histograms=list(w.histograms),
                    scheduled=list(w.scheduled),
                )
                for w in self.windows
            ],
            faults=list(self.faults),
            late_after_s=open_end(self.late_after_s),
            tick_s=self.tick_s,
            active_rooms=self.active_rooms,
        )

    @classmethod
    def from_record(cls, record: TimelineRecord) -> Timeline:
        """Inverse of to_record."""
        windows = tuple(
            Window(w.name, w.start, closed_end(w.end), tuple(w.histograms), tuple(w.scheduled))
            for w in record.windows
        )
        return cls(
            record.publish_start,
            closed_end(record.publish_end),
            windows,
            tuple(record.faults),
            closed_end(record.late_after_s),
            record.tick_s,
            record.active_rooms,
        )

    def fault_index(self, at: float) -> int | None:
        """The fault slot a time falls in, if any."""
        for index, slot in enumerate(self.faults):
            if slot.start <= at < slot.end:
                return index
        return None


@dataclass(frozen=True, slots=True)
class Seat:
    """Where a simulated user sits: its room, whether it publishes, its sender id."""

    room: str
    publisher: bool
    sender: str
    number: int = 0  # the room's number (rooms are filled in order)


@dataclass(slots=True)
class Snapshot:
    """Cumulative traffic at one instant (window rates are differences of two)."""

    at: float
    bytes_sent: int
    bytes_received: int
    requests: int
    empty_polls: int
    receipts: int

    def minus(self, earlier: Snapshot) -> TrafficWindow:
        """The traffic between `earlier` and this snapshot."""
        return TrafficWindow(
            seconds=self.at - earlier.at,
            bytes_sent=self.bytes_sent - earlier.bytes_sent,
            bytes_received=self.bytes_received - earlier.bytes_received,
            requests=self.requests - earlier.requests,
            empty_polls=self.empty_polls - earlier.empty_polls,
            receipts=self.receipts - earlier.receipts,
        )


@dataclass
class Session:
    """Per-process run state; the Locust users and the event hooks share the one instance."""

    scenario_ref: str = scenario_files.DEFAULT_SCENARIO
    run_tag: str = DEFAULT_RUN_TAG
    process_rank: int = 0  # worker index (0 when local)
    process_count: int = 1  # workers (1 when local)
    process_tag: str = field(default_factory=lambda: secrets.token_hex(3))
    wire: WireCounter = field(default_factory=WireCounter)
    counters: LoadCounters = field(default_factory=LoadCounters)
    latencies: LatencySet = field(default_factory=LatencySet)
    ledger: PublishLedger = field(default_factory=PublishLedger)
    receivers: list[ReceiveLog] = field(default_factory=list)
    timeline: Timeline | None = None
    fault_counts: list[FaultSlotCounts] = field(default_factory=list)
    late_after_s: float = math.inf  # the timeline's, here for the hot path
    tick_s: float | None = None  # the timeline's (an overload's), here for the hot path
    # receivers' lost connections, epoch s (faults show here)
    reconnections: list[Outage] = field(default_factory=list)
    # refusals and connection attempts, by the window they happened in ("" outside any)
    refusals: dict[str, RefusalCounts] = field(default_factory=dict)
    window_start_snapshot: Snapshot | None = None
    window_end_snapshot: Snapshot | None = None
    frozen_at: float | None = None
    _scenario: Scenario | None = None
    _timeline_event: gevent.event.Event = field(default_factory=gevent.event.Event)
    _user_numbers: itertools.count[int] = field(default_factory=itertools.count)
    _window: Window | None = None
    _deferred: DeferredRequestEvents | None = None

    def reset(self) -> None:
        """Forget a finished test (the web UI can start another in the same process)."""
        fresh = Session(self.scenario_ref, self.run_tag, self.process_rank, self.process_count)
        for name in self.__dataclass_fields__:
            if name != "_deferred":  # its drainer greenlet stays, now empty
                setattr(self, name, getattr(fresh, name))

    def deferred_events(self, request_event: EventHook) -> DeferredRequestEvents:
        """The process's queue of request events (created, and its drainer started, once)."""
        if self._deferred is None:
            self._deferred = DeferredRequestEvents(request_event)
        return self._deferred

    @property
    def scenario(self) -> Scenario:
        """The scenario, loaded on first use (workers learn its name from the master)."""
        if self._scenario is None:
            self._scenario = scenario_files.load(self.scenario_ref)
        return self._scenario

    def take_seat(self) -> Seat:
        """Seat the next user: global index i sits in room i // users_per_room."""
        local = next(self._user_numbers)
        index = local * self.process_count + self.process_rank
        scenario = self.scenario
        room_number, position = divmod(index, scenario.users_per_room)
        return Seat(
            room=f"{self.run_tag}-{room_number}",
            publisher=position < scenario.publishers_per_room,
            sender=f"{self.process_tag}-{local}",
            number=room_number,
        )

    def seat_active(self, seat: Seat) -> bool:
        """Whether the seat's room is still in the run (an overload's drop leaves rooms)."""
        timeline = self.timeline
        return (
            timeline is None
            or timeline.active_rooms is None
            or seat.number < (timeline.active_rooms)
        )

    @property
    def joined(self) -> int:
        """Receivers subscribed and not gone."""
        return sum(1 for receiver in self.receivers if receiver.left_at is None)

    # -- timeline ---------------------------------------------------------------------------

    def set_timeline(self, timeline: Timeline) -> None:
        """Adopt the conductor's timeline; schedule the window-start traffic snapshot."""
        first_run = self.timeline is None
        self.timeline = timeline
        if len(self.fault_counts) != len(timeline.faults):
            self.fault_counts = [FaultSlotCounts() for _ in timeline.faults]
        self.late_after_s = timeline.late_after_s
        self.tick_s = timeline.tick_s
        self._window = timeline.windows[-1] if timeline.windows else None
        self._timeline_event.set()
        if first_run and timeline.windows:
            delay = max(0.0, timeline.windows[0].start - time.time())
            gevent.spawn_later(delay, self._mark_window_start)
        if not math.isinf(timeline.publish_end):
            delay = max(0.0, timeline.publish_end - time.time())
            gevent.spawn_later(delay, self._mark_window_end)

    def wait_timeline(self) -> Timeline:
        """Block (this greenlet) until the conductor has set the timeline."""
        self._timeline_event.wait()
        assert self.timeline is not None
        return self.timeline

    def _mark_window_start(self) -> None:
        if self.window_start_snapshot is None:
            self.window_start_snapshot = self.snapshot()

    def _mark_window_end(self) -> None:
        if self.window_end_snapshot is None:
            self.window_end_snapshot = self.snapshot()

    def snapshot(self) -> Snapshot:
        """Cumulative traffic now."""
        return Snapshot(
            at=time.time(),
            bytes_sent=self.wire.bytes_sent,
            bytes_received=self.wire.bytes_received,
            requests=self.counters.requests,
            empty_polls=self.counters.empty_polls,
            receipts=sum(r.receipts for r in self.receivers),
        )

    # -- the hot path -----------------------------------------------------------------------

    def record_delivery(
        self, latency_s: float, sent_at: float, scheduled_latency_s: float | None = None
    ) -> None:
        """Record a delivery latency (and the one from the intended send time, if known) in
        the histograms of the window its message was sent in."""
        window = self._window
        if window is None or not window.start <= sent_at < window.end:
            window = self._window_of(sent_at)
            if window is None:
                return
        record = self.latencies.record
        for name in window.histograms:
            record(name, latency_s)
        if scheduled_latency_s is not None:
            for name in window.scheduled:
                record(name, scheduled_latency_s)
        if self.tick_s is not None and (tick := self._tick_of(sent_at)) is not None:
            record(tick_name(DELIVERY, tick), latency_s)

    def record_publish(self, latency_s: float, sent_at: float) -> None:
        """Record a publish latency, if its message was sent in a measured window."""
        if self._window_of(sent_at) is not None:
            self.latencies.record(PUBLISH, latency_s)

    def record_publish_lag(self, lag_s: float, sent_at: float) -> None:
        """Record how late a publish left against its schedule, if in a measured window (and
        in the window's own histogram for a sweep step: its count is the messages sent)."""
        window = self._window_of(sent_at)
        if window is None:
            return
        self.latencies.record(PUBLISH_LAG, lag_s)
        if window.per_step:
            self.latencies.record(step_name(PUBLISH_LAG, window.name), lag_s)
        if (tick := self._tick_of(sent_at)) is not None:
            self.latencies.record(tick_name(PUBLISH_LAG, tick), lag_s)

    def record_attempt(self) -> None:
        """A user tries to connect or subscribe (counted by the window it happens in)."""
        self._refusals_now().attempts += 1

    def record_refusal(self, kind: RefusalKind) -> None:
        """A user was refused, or its connection broke, this way (by the window it is in)."""
        self._refusals_now().add(kind)

    def _refusals_now(self) -> RefusalCounts:
        window = self._window_of(time.time())
        key = window.name if window is not None else ""
        counts = self.refusals.get(key)
        if counts is None:
            counts = self.refusals[key] = RefusalCounts()
        return counts

    def _tick_of(self, sent_at: float) -> int | None:
        timeline = self.timeline
        if timeline is None or timeline.tick_s is None or sent_at < timeline.publish_start:
            return None
        return int((sent_at - timeline.publish_start) // timeline.tick_s)

    def fault_counts_of(self, sent_at: float) -> FaultSlotCounts | None:
        """The counts of the fault slot a message sent at `sent_at` belongs to, if any."""
        timeline = self.timeline
        if timeline is None or not timeline.faults:
            return None
        index = timeline.fault_index(sent_at)
        return None if index is None else self.fault_counts[index]

    def _window_of(self, sent_at: float) -> Window | None:
        timeline = self.timeline
        if timeline is None:
            return None
        for window in reversed(timeline.windows):
            if window.start <= sent_at < window.end:
                return window
        return None

    # -- the end ----------------------------------------------------------------------------

    def freeze(self) -> None:
        """Stop the accounting clock: receivers leave now (their later receipts do not count)."""
        if self.frozen_at is not None:
            return
        self.frozen_at = time.time()
        if self._deferred is not None:
            self._deferred.flush()  # Locust's stats complete before the final report
        for receiver in self.receivers:
            if receiver.left_at is None:
                receiver.left_at = self.frozen_at

    def export(self) -> ProcessExport:
        """Everything the master needs from this process at the end."""
        self.freeze()
        end = self.window_end_snapshot or self.snapshot()
        start = self.window_start_snapshot
        return ProcessExport(
            process_tag=self.process_tag,
            histograms=self.latencies.take_encoded(),
            below_zero=self.latencies.below_zero,
            ledger=self.ledger.rooms,
            receivers=[receiver.to_record() for receiver in self.receivers],
            counters=self.counters,
            wire=WireBytes.model_validate(asdict(self.wire)),
            window=end.minus(start) if start is not None else None,
            frozen_at=self.frozen_at,
            fault_counts=self.fault_counts,
            reconnections=self.reconnections,
            refusals=self.refusals,
        )


def delivery_histograms(
    window_name: str, per_window: bool, metric: str = DELIVERY
) -> tuple[str, ...]:
    """The delivery histograms of a window: the overall one, plus its own for sweep steps."""
    return (metric, step_name(metric, window_name)) if per_window else (metric,)


def tick_name(metric: str, tick: int) -> str:
    """The histogram of `metric` for messages sent in one tick of an overload's timeline."""
    return step_name(metric, f"t{tick}")


def latency_window(name: str, start: float, end: float, per_window: bool) -> Window:
    """A measured window whose deliveries go to the send- and the schedule-based histograms."""
    return Window(
        name,
        start,
        end,
        delivery_histograms(name, per_window),
        delivery_histograms(name, per_window, DELIVERY_SCHEDULED),
    )


SESSION = Session()
"""The one session of this process (a Locust process runs one environment)."""
