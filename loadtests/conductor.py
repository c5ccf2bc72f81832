"""The run's phases, driven from the master (or the local runner): spawn, settle, warm up,
measure (or sweep in steps), drain, collect, write results, quit.

Workers learn the timeline through a custom message; at the end each sends its export
(ledger, receivers, counters, last histogram delta) the same way. Histogram deltas flow to
the master with every worker report in between, so live percentiles and sweep decisions use
merged, exact numbers.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from contract.histograms import DELIVERY, DELIVERY_SCHEDULED, step_name
from contract.results import HISTOGRAM_DIR, LOADGEN_FILE, STATUS_FILE, write_json_atomic
from contract.scenario import JOIN_TIMEOUT_S, Faults
from loadtests import collect
from loadtests.session import SESSION, Session, Timeline, Window, latency_window

logger = logging.getLogger(__name__)

MSG_TIMELINE = "tbench:timeline"
MSG_FINALIZE = "tbench:finalize"
MSG_FINAL = "tbench:final"
COLLECT_TIMEOUT_S = 60.0
SPAWN_TIMEOUT_S = 600.0
STATUS_INTERVAL_S = 1.0


class LostMessage(Exception):
    """Expected but not delivered by the end of the drain period."""


class Conductor:
    """Runs on the master or the local runner; one per Locust process that owns the run."""

    def __init__(self, environment: Environment, session: Session = SESSION) -> None:
        self.environment = environment
        self.session = session
        self.spawned = gevent.event.Event()
        self.phase = "starting"
        self.sweep_steps: list[dict[str, Any]] = []
        self.finals: dict[str, dict[str, Any]] = {}
        self.report_times: dict[str, float] = {}
        self.joined_by_worker: dict[str, int] = {}
        self.result: dict[str, Any] | None = None
        self._finalized = False
        options = environment.parsed_options
        out = getattr(options, "tbench_out", None) if options else None
        self.out_dir = Path(out) if out else None
        self.autostop = self.out_dir is not None  # driven by `tbench run`: quit at the end
        faults = getattr(options, "tbench_faults", None) if options else None
        # `tbench run --faults` hands the plan over; otherwise the scenario's own table
        self.faults: Faults | None = Faults.model_validate_json(faults) if faults else None

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
            self.environment.runner.send_message(MSG_TIMELINE, timeline.to_json())

    def on_final(self, environment: Environment, msg: Any, **_: Any) -> None:
        """A worker's export arrived."""
        self.finals[msg.node_id] = msg.data

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        """Merge a worker's histogram delta; note when it reported (sweep steps wait on it)."""
        part = data.get("tbench")
        if part is None:
            return
        self.session.latencies.add_encoded(part["histograms"])
        self.joined_by_worker[client_id] = part.get("joined", 0)
        self.report_times[client_id] = time.time()

    # -- phases -----------------------------------------------------------------------------

    def run(self) -> None:
        """The whole run, from the first spawn to results (and quit, under `tbench run`)."""
        scenario = self.session.scenario
        self.phase = "spawning"
        self.spawned.wait(SPAWN_TIMEOUT_S)
        self._wait_for_joins(scenario.users)
        publish_start = time.time() + scenario.settle_s
        measure_start = publish_start + scenario.warmup_s
        if scenario.sweep is not None and self.autostop:
            self._sweep(publish_start, measure_start)
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
            self._sleep_until(window.end)
            self._wait_for_reports(after=window.end)
            p95 = self.session.latencies.percentile_ms(step_name(DELIVERY, name), 95)
            summary = self.session.latencies.summary_ms(step_name(DELIVERY, name))
            passed = p95 is not None and p95 <= sweep.slo_p95_ms
            count = int(summary["count"] or 0)
            scheduled = self.session.latencies.summary_ms(step_name(DELIVERY_SCHEDULED, name))
            self.sweep_steps.append(
                {
                    "step": step,
                    "rooms": rooms,
                    "users": rooms * scenario.users_per_room,
                    "delivered_per_s": count / scenario.duration_s,
                    "p50_ms": summary.get("p50_ms"),
                    "p95_ms": p95,
                    "p99_ms": summary.get("p99_ms"),
                    # from the intended send time: a publisher's stall shows here only
                    "scheduled_p50_ms": scheduled.get("p50_ms"),
                    "scheduled_p99_ms": scheduled.get("p99_ms"),
                    "passed": passed,
                }
            )
            logger.info("sweep %s: %d users, p95 %s ms", name, rooms * scenario.users_per_room, p95)
            if not passed or rooms >= sweep.max_rooms:
                break
            rooms = min(rooms + sweep.step_rooms, sweep.max_rooms)
            self.phase = f"spawning step {step + 1}"
            self.spawned.clear()
            self.environment.runner.start(rooms * scenario.users_per_room, scenario.spawn_rate)
            self.spawned.wait(SPAWN_TIMEOUT_S)
            self._wait_for_joins(rooms * scenario.users_per_room)
            window_start = time.time() + scenario.settle_s
        self.broadcast_timeline(Timeline(publish_start, time.time(), tuple(windows)))

    def joined(self) -> int:
        """Users whose subscription is live, in every process (workers: as last reported)."""
        if self.runner_is_master:
            return sum(self.joined_by_worker.values())
        return len(self.session.receivers)

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
            scenario=self.session.scenario.model_dump(),
            timeline=timeline.to_json() if timeline else None,
            sweep_steps=self.sweep_steps,
            user_class=",".join(user_classes),
        )
        self.result = collect.build_result(merged, conducted, histogram_files)
        self.result["ended_early"] = ended_early
        self._report_lost(self.result["delivery"]["lost"])
        delivery = self.result["delivery"]
        logger.info(
            "delivered %d of %d expected (lost %d, duplicated %d, out of order %d), p50 %s ms",
            delivery["delivered"],
            delivery["expected"],
            delivery["lost"],
            delivery["duplicated"],
            delivery["out_of_order"],
            self.result["latency"][DELIVERY].get("p50_ms"),
        )
        if self.out_dir is not None:
            write_json_atomic(self.out_dir / LOADGEN_FILE, self.result)
        self.phase = "done"

    def _report_lost(self, lost: int) -> None:
        """Lost messages become Locust failures too (so the CSVs and the web UI show them)."""
        fire = self.environment.events.request.fire
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
            write_json_atomic(path, self.status())
            gevent.sleep(STATUS_INTERVAL_S)

    def status(self) -> dict[str, Any]:
        """Phase, users, deliveries per second, p50/p99 of delivery so far."""
        runner = self.environment.runner
        deliver_rps = sum(
            entry.current_rps
            for entry in self.environment.stats.entries.values()
            if entry.name == "deliver"
        )
        latencies = self.session.latencies
        if self.result is not None:
            latency = self.result["latency"][DELIVERY]
            p50, p99 = latency.get("p50_ms"), latency.get("p99_ms")
        else:
            p50 = latencies.percentile_ms(DELIVERY, 50)
            p99 = latencies.percentile_ms(DELIVERY, 99)
        timeline = self.session.timeline
        return {
            "faults": [slot.to_json() for slot in timeline.faults] if timeline else [],
            "phase": self.phase if self._finalized else self.phase_at(time.time()),
            "users": runner.user_count if runner is not None else 0,
            "deliver_per_s": deliver_rps,
            "p50_ms": p50,
            "p99_ms": p99,
            "sweep": self.sweep_steps,
            "updated_at": time.time(),
        }


def is_worker(environment: Environment) -> bool:
    """Whether this process is a Locust worker."""
    return isinstance(environment.runner, WorkerRunner)
