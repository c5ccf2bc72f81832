"""The run's phases, driven from the master (or the local runner): spawn, settle, warm up,
measure (or sweep in steps), drain, collect, write results, quit.

Workers learn the timeline through a custom message; at the end each sends its export
(ledger, receivers, counters, last histogram delta) the same way. Histogram deltas flow to
the master with every worker report in between, so live percentiles and sweep decisions use
merged, exact numbers.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from contract.histograms import DELIVERY, DELIVERY_SCHEDULED, PUBLISH_LAG, step_name
from contract.loadgen import LiveStatus, LoadgenResult
from contract.results import HISTOGRAM_DIR, LOADGEN_FILE, STATUS_FILE, SweepStep
from contract.scenario import JOIN_TIMEOUT_S, Faults, Sweep
from loadtests import collect
from loadtests.exchange import MSG_FINALIZE, MSG_TIMELINE, ProcessExport, WorkerReport
from loadtests.overload_run import OverloadSchedule
from loadtests.session import SESSION, Session, Timeline, Window, latency_window
from loadtests.users.base import ChatUser

logger = logging.getLogger(__name__)

COLLECT_TIMEOUT_S = 60.0
SPAWN_TIMEOUT_S = 600.0
STATUS_INTERVAL_S = 1.0
STEP_GRACE_S = 0.5  # a complete step's late deliveries still count this long after its window
# A complete step must deliver this share of what was sent in it (every member of the room gets
# each message): the rest of a per mille covers deliveries in flight across the window's edges,
# not loss (the ledgers count loss). Sends are held to the schedule less one message per
# publisher, whose timer may fall either side of an edge (at 2 msg/s in a 4 s window that one
# message is 1/8 of a publisher's: measured against the schedule alone, a step of 32 rooms
# "missed" by 12 deliveries in 3,200/s while its server used 0.1 of its 0.5 cores).
COMPLETE_SHARE = 0.999


class LostMessage(Exception):
    """Expected but not delivered by the end of the drain period."""


class Conductor:
    """Runs on the master or the local runner; one per Locust process that owns the run."""

    def __init__(self, environment: Environment, session: Session = SESSION) -> None:
        self.environment = environment
        self.session = session
        self.spawned = gevent.event.Event()
        self.phase = "starting"
        self.sweep_steps: list[SweepStep] = []
        self.finals: dict[str, ProcessExport] = {}
        self.report_times: dict[str, float] = {}
        self.joined_by_worker: dict[str, int] = {}
        self.result: LoadgenResult | None = None
        self._finalized = False
        options = environment.parsed_options
        out = getattr(options, "tbench_out", None) if options else None
        self.out_dir = Path(out) if out else None
        self.autostop = self.out_dir is not None  # driven by `tbench run`: quit at the end
        faults = getattr(options, "tbench_faults", None) if options else None
        # `tbench run --faults` hands the plan over; otherwise the scenario's own table
        self.faults: Faults | None = Faults.model_validate_json(faults) if faults else None
        # an overload's knee, from `tbench run` (the measured capacity); the schedule is made
        # once the scenario is known, when the test starts
        self.knee_users: int = getattr(options, "tbench_knee_users", 0) if options else 0
        self.overload: OverloadSchedule | None = None

    # -- messages ---------------------------------------------------------------------------

    @property
    def runner_is_master(self) -> bool:
        """Whether workers do the work (distributed mode)."""
        return isinstance(self.environment.runner, MasterRunner)

    def broadcast_timeline(self, timeline: Timeline) -> None:
        """Adopt the timeline here and tell every worker."""
        self.session.set_timeline(timeline)
        if self.runner_is_master:
            assert self.environment.runner is not None
            self.environment.runner.send_message(MSG_TIMELINE, timeline.to_record().model_dump())

    def on_final(self, node_id: str, export: ProcessExport) -> None:
        """A worker's export arrived."""
        self.finals[node_id] = export

    def on_worker_report(self, client_id: str, report: WorkerReport) -> None:
        """Merge a worker's histogram delta; note when it reported (sweep steps wait on it)."""
        self.session.latencies.add_encoded(report.histograms)
        self.joined_by_worker[client_id] = report.joined
        self.report_times[client_id] = time.time()

    # -- phases -----------------------------------------------------------------------------

    def run(self) -> None:
        """The whole run, from the first spawn to results (and quit, under `tbench run`)."""
        scenario = self.session.scenario
        self.phase = "spawning"
        if scenario.overload is not None:
            knee = self.knee_users or scenario.overload.knee_users or scenario.users
            self.overload = OverloadSchedule.of(scenario, knee)
        overload = self.overload
        self.spawned.wait(SPAWN_TIMEOUT_S)
        self._wait_for_joins(overload.first_users if overload else scenario.users)
        publish_start = time.time() + scenario.settle_s
        measure_start = publish_start + scenario.warmup_s
        if scenario.sweep is not None and self.autostop:
            self._sweep(publish_start, measure_start)
        elif overload is not None and self.autostop:
            self._overload(overload, publish_start, measure_start)
        else:
            end = measure_start + scenario.duration_s if self.autostop else math.inf
            window = latency_window("measure", measure_start, end, False)
            faults = self.faults or scenario.faults
            if faults is not None and self.autostop:  # faults need a window with an end
                slots = faults.schedule(measure_start, scenario.duration_s)
                timeline = Timeline(publish_start, end, (window,), slots, faults.late_after_s)
            else:
                timeline = Timeline(publish_start, end, (window,))
            self.broadcast_timeline(timeline)
            self._sleep_until(measure_start)
            if not self.autostop:
                return  # web UI: runs until the user stops it; test_stopping collects
            self._sleep_until(end)
        self.phase = "draining"
        gevent.sleep(scenario.drain_s)
        self.finalize()
        assert self.environment.runner is not None
        self.environment.runner.quit()

    def _sweep(self, publish_start: float, first_window_start: float) -> None:
        scenario = self.session.scenario
        sweep = scenario.sweep
        assert sweep is not None
        assert self.environment.runner is not None
        rooms = scenario.rooms
        windows: list[Window] = []
        window_start = first_window_start
        while True:
            step = len(windows) + 1
            name = f"step{step}"
            window = latency_window(name, window_start, window_start + scenario.duration_s, True)
            windows.append(window)
            self.broadcast_timeline(Timeline(publish_start, math.inf, tuple(windows)))
            failures_before = self.environment.stats.total.num_failures
            self._sleep_until(window.end + self._grace_s(sweep))
            self._wait_for_reports(after=window.end)
            result = self._step_result(step, rooms, window, failures_before)
            self.sweep_steps.append(result)
            logger.info(
                "sweep %s: %d users, p95 %s ms, p99 %s ms%s",
                name,
                result.users,
                result.p95_ms,
                result.p99_ms,
                f", missed: {result.why_not}" if result.why_not else "",
            )
            if not result.passed or rooms >= sweep.max_rooms:
                break
            rooms = sweep.next_rooms(rooms)
            self.phase = f"spawning step {step + 1}"
            self.spawned.clear()
            self.environment.runner.start(rooms * scenario.users_per_room, scenario.spawn_rate)
            self.spawned.wait(SPAWN_TIMEOUT_S)
            self._wait_for_joins(rooms * scenario.users_per_room)
            window_start = time.time() + scenario.settle_s
        self.broadcast_timeline(Timeline(publish_start, time.time(), tuple(windows)))

    def _overload(self, schedule: OverloadSchedule, publish_start: float, start: float) -> None:
        """Each phase in turn: its users asked of Locust as it starts (refused ones retry on
        their own backoff), its deliveries and refusals kept under its name."""
        runner = self.environment.runner
        assert runner is not None
        scenario = self.session.scenario
        tick_s = schedule.plan.tick_s
        windows: list[Window] = []
        for phase in schedule.phases:
            windows.append(latency_window(phase.name, start, start + phase.seconds, True))
            start += phase.seconds
        # every window known from the start: no message falls between two phases
        timeline = Timeline(publish_start, windows[-1].end, tuple(windows), tick_s=tick_s)
        self.broadcast_timeline(timeline)
        for phase, window in zip(schedule.phases, windows, strict=True):
            self._sleep_until(window.start)
            if phase.users > runner.user_count:
                runner.start(phase.users, scenario.spawn_rate)  # new rooms: the spike
            elif phase.users < runner.user_count:
                # the drop: the first rooms stay, the others' users leave (Locust would stop
                # users at random, publishers among them)
                timeline = dataclasses.replace(timeline, active_rooms=phase.rooms)
                self.broadcast_timeline(timeline)
            self._sleep_until(window.end)
            schedule.ran.append((window.start, window.end, self.joined()))
            logger.info(
                "overload %s: %d users offered, %d in", phase.name, phase.users, self.joined()
            )

    def _grace_s(self, sweep: Sweep) -> float:
        """How long after a step's window its late deliveries may still count: a complete
        step is judged once what was sent at its end had the SLO's time to arrive (over the
        transport's own floor: short polling's next poll)."""
        if not sweep.complete:
            return 0.0
        slo_ms = max(filter(None, (sweep.slo_p95_ms, sweep.slo_p99_ms)))
        return max(STEP_GRACE_S, 2 * slo_ms / 1000 + self._latency_floor_s())

    def _incomplete(self, rooms: int, window: Window, delivered_per_s: float) -> list[str]:
        """What a step fell short of: its schedule's sends, or a delivery of each message sent
        to every member of its room."""
        scenario = self.session.scenario
        duration_s = scenario.duration_s
        sent = self.session.latencies.summary_ms(step_name(PUBLISH_LAG, window.name)).count
        publishers = rooms * scenario.publishers_per_room
        scheduled = publishers * scenario.publish_rate_per_s * duration_s
        short = []
        if sent < scheduled - publishers:
            short.append(f"sent {sent:,} of {scheduled:,.0f} scheduled messages")
        sent_per_s = sent * scenario.users_per_room / duration_s
        if delivered_per_s < sent_per_s * COMPLETE_SHARE:
            short.append(f"delivered {delivered_per_s:,.0f} of {sent_per_s:,.0f}/s sent")
        return short

    def _step_result(
        self, step: int, rooms: int, window: Window, failures_before: int
    ) -> SweepStep:
        """A step's figures, and whether it met the sweep's SLO (and, if asked, lost nothing)."""
        scenario = self.session.scenario
        sweep = scenario.sweep
        assert sweep is not None
        latencies = self.session.latencies
        summary = latencies.summary_ms(step_name(DELIVERY, window.name))
        scheduled = latencies.summary_ms(step_name(DELIVERY_SCHEDULED, window.name))
        p95 = latencies.percentile_ms(step_name(DELIVERY, window.name), 95)
        users = rooms * scenario.users_per_room
        delivered_per_s = summary.count / scenario.duration_s
        offered_per_s = rooms * scenario.room_publish_rate_per_s * scenario.users_per_room
        failures = self.environment.stats.total.num_failures - failures_before
        floor_ms = self._latency_floor_s() * 1000
        slo_p99 = None if sweep.slo_p99_ms is None else sweep.slo_p99_ms + floor_ms
        missed = [
            f"p{quantile} {'unknown' if value is None else f'{value:.0f}'} ms > {slo:g} ms"
            for quantile, value, slo in (
                (95, p95, sweep.slo_p95_ms),
                (99, summary.p99_ms, slo_p99),
            )
            if slo is not None and (value is None or value > slo)
        ]
        if sweep.complete:
            missed += self._incomplete(rooms, window, delivered_per_s)
        if sweep.complete and failures > 0:
            missed.append(f"{failures} requests failed")
        return SweepStep(
            step=step,
            rooms=rooms,
            users=users,
            delivered_per_s=delivered_per_s,
            p50_ms=summary.p50_ms,
            p95_ms=p95,
            p99_ms=summary.p99_ms,
            scheduled_p50_ms=scheduled.p50_ms,
            scheduled_p99_ms=scheduled.p99_ms,
            passed=not missed,
            start=window.start,
            end=window.end,
            offered_per_s=offered_per_s,
            failures=failures,
            why_not="; ".join(missed) or None,
            latency_floor_ms=floor_ms,
        )

    def _latency_floor_s(self) -> float:
        """The transport's own p99 (short polling waits for the next poll), over which a
        capacity ramp's SLO counts: the server is judged by what it adds."""
        scenario = self.session.scenario
        return max(
            (
                cls.latency_floor_s(scenario)
                for cls in self.environment.user_classes
                if issubclass(cls, ChatUser)
            ),
            default=0.0,
        )

    def joined(self) -> int:
        """Users whose subscription is live, in every process (workers: as last reported)."""
        if self.runner_is_master:
            return sum(self.joined_by_worker.values())
        return self.session.joined

    def _wait_for_joins(self, users: int) -> None:
        """Spawned is not joined (a Lambda $connect takes a cold start): wait for the joins,
        so publishing starts with every receiver in its room; give up after a while."""
        self.phase = "joining"
        deadline = time.time() + JOIN_TIMEOUT_S + users / self.session.scenario.spawn_rate
        while self.joined() < users and time.time() < deadline:
            gevent.sleep(0.1)
        if self.joined() < users:
            logger.warning("only %d of %d users joined; publishing anyway", self.joined(), users)

    def _sleep_until(self, at: float) -> None:
        while (remaining := at - time.time()) > 0:
            self.phase = self.phase_at(time.time())
            gevent.sleep(min(remaining, 0.5))
        self.phase = self.phase_at(time.time())

    def _wait_for_reports(self, after: float) -> None:
        """Distributed: wait until every worker has reported since `after` (its histograms)."""
        if not self.runner_is_master:
            return
        deadline = time.time() + 3 * WORKER_REPORT_INTERVAL
        while time.time() < deadline:
            workers = self._live_workers()
            if all(self.report_times.get(worker, 0.0) > after for worker in workers):
                return
            gevent.sleep(0.2)

    def _live_workers(self) -> list[str]:
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        return [node.id for node in runner.clients.all if node.state != STATE_MISSING]

    def phase_at(self, now: float) -> str:
        """The phase name for the live display."""
        timeline = self.session.timeline
        if self._finalized:
            return "done"
        if timeline is None:
            return "joining" if self.spawned.is_set() else "spawning"
        if now < timeline.publish_start:
            return "settling"
        if now >= timeline.publish_end:
            return "draining"
        for slot in timeline.faults:
            if slot.at <= now < slot.end:
                return f"fault: {slot.kind}"
        for window in reversed(timeline.windows):
            if window.start <= now < window.end:
                return "measuring" if window.name == "measure" else window.name
        if timeline.windows and now < timeline.windows[0].start:
            return "warm-up"
        return "spawning" if not self.spawned.is_set() else "settling"

    # -- the end ----------------------------------------------------------------------------

    def finalize(self, ended_early: bool = False) -> None:
        """Collect every process's export, account, write results; once."""
        if self._finalized:
            return
        self._finalized = True
        self.phase = "collecting"
        exports = [self.session.export()]
        if self.runner_is_master:
            assert self.environment.runner is not None
            workers = self._live_workers()
            self.environment.runner.send_message(MSG_FINALIZE)
            deadline = time.time() + COLLECT_TIMEOUT_S
            while time.time() < deadline and not set(workers) <= set(self.finals):
                gevent.sleep(0.1)
            missing = set(workers) - set(self.finals)
            if missing:
                logger.error("no final export from workers %s", ", ".join(sorted(missing)))
            exports += list(self.finals.values())
        merged = collect.merge(exports)
        histogram_files: dict[str, str] = {}
        if self.out_dir is not None:
            histogram_files = merged.latencies.write(self.out_dir / HISTOGRAM_DIR)
        timeline = self.session.timeline
        user_classes = [cls.__name__ for cls in self.environment.user_classes]
        conducted = collect.Conducted(
            scenario=self.session.scenario,
            timeline=timeline.to_record() if timeline else None,
            sweep_steps=self.sweep_steps,
            user_class=",".join(user_classes),
            latency_floor_ms=self._latency_floor_s() * 1000,
        )
        if self.overload is not None and timeline is not None:
            scenario = self.session.scenario
            conducted.overload.extend(
                self.overload.read_phases(scenario, merged.latencies, merged.refusals)
            )
            conducted.overload_ticks.extend(
                self.overload.read_ticks(timeline.publish_start, merged.latencies)
            )
        result = collect.build_result(merged, conducted, histogram_files)
        result.ended_early = ended_early
        self.result = result
        delivery = result.delivery
        self._report_lost(delivery.lost)
        logger.info(
            "delivered %d of %d expected (lost %d, duplicated %d, out of order %d), p50 %s ms",
            delivery.delivered,
            delivery.expected,
            delivery.lost,
            delivery.duplicated,
            delivery.out_of_order,
            result.latency[DELIVERY].p50_ms,
        )
        if self.out_dir is not None:
            result.write(self.out_dir / LOADGEN_FILE)
        self.phase = "done"

    def _report_lost(self, lost: int) -> None:
        """Lost messages become Locust failures too (so the CSVs and the web UI show them)."""
        fire: Callable[..., None] = self.environment.events.request.fire
        for _ in range(min(lost, 1_000_000)):
            fire(
                request_type="CHAT",
                name="lost",
                response_time=0,
                response_length=0,
                exception=LostMessage("expected, not delivered by the end of the drain"),
                context=None,
            )

    # -- live status --------------------------------------------------------------------------

    def write_status_forever(self) -> None:
        """Write `status.json` every second for `tbench run`'s live display."""
        assert self.out_dir is not None
        path = self.out_dir / STATUS_FILE
        while True:
            self.status().write(path)
            gevent.sleep(STATUS_INTERVAL_S)

    def status(self) -> LiveStatus:
        """Phase, users, deliveries per second, p50/p99 of delivery so far."""
        runner = self.environment.runner
        deliver_rps = sum(
            entry.current_rps
            for entry in self.environment.stats.entries.values()
            if entry.name == "deliver"
        )
        latencies = self.session.latencies
        if self.result is not None:
            latency = self.result.latency[DELIVERY]
            p50, p99 = latency.p50_ms, latency.p99_ms
        else:
            p50 = latencies.percentile_ms(DELIVERY, 50)
            p99 = latencies.percentile_ms(DELIVERY, 99)
        timeline = self.session.timeline
        return LiveStatus(
            faults=list(timeline.faults) if timeline else [],
            phase=self.phase if self._finalized else self.phase_at(time.time()),
            users=runner.user_count if runner is not None else 0,
            deliver_per_s=deliver_rps,
            p50_ms=p50,
            p99_ms=p99,
            sweep=self.sweep_steps,
            updated_at=time.time(),
        )


def is_worker(environment: Environment) -> bool:
    """Whether this process is a Locust worker."""
    return isinstance(environment.runner, WorkerRunner)
