"""Locust event hooks: command-line options, the conductor, worker reports, custom messages."""

from __future__ import annotations

import os
from typing import Any

import gevent
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, WorkerRunner

from contract.loadgen import TimelineRecord
from loadtests import scenario_files
from loadtests.conductor import Conductor
from loadtests.exchange import (
    MSG_FINAL,
    MSG_FINALIZE,
    MSG_TIMELINE,
    REPORT_KEY,
    ProcessExport,
    WorkerReport,
)
from loadtests.session import DEFAULT_RUN_TAG, SESSION, Timeline

_conductor: Conductor | None = None


def conductor() -> Conductor | None:
    """The conductor of this process (master or local runner), if any."""
    return _conductor


def add_arguments(parser: Any) -> None:
    """The options a tbench locustfile adds to Locust's (also shown in the web UI)."""
    parser.add_argument(
        "--scenario",
        default=os.environ.get("TBENCH_SCENARIO", scenario_files.DEFAULT_SCENARIO),
        help=f"scenario name ({', '.join(scenario_files.scenario_names())}) or a TOML file",
    )
    parser.add_argument(
        "--run-tag",
        default=DEFAULT_RUN_TAG,
        help="prefix of room names (keeps runs against one server apart)",
    )
    parser.add_argument(
        "--tbench-out",
        default="",
        include_in_web_ui=False,
        help="directory for results; when set the run stops itself after its drain period",
    )
    parser.add_argument(
        "--tbench-faults",
        default="",
        include_in_web_ui=False,
        help="faults to inject (JSON of contract.scenario.Faults; set by `tbench run --faults`)",
    )
    parser.add_argument(
        "--tbench-knee-users",
        type=int,
        default=0,
        include_in_web_ui=False,
        help="an overload's knee in users (set by `tbench run` from the measured capacity)",
    )


def _configure_session(environment: Environment) -> None:
    options = environment.parsed_options
    if options is not None:
        SESSION.scenario_ref = options.scenario
        SESSION.run_tag = options.run_tag
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        SESSION.process_rank = max(0, runner.worker_index)
        expected = getattr(options, "expect_workers", 1) if options is not None else 1
        SESSION.process_count = max(1, int(expected or 1), SESSION.process_rank + 1)


def _on_init(environment: Environment, **_: Any) -> None:
    global _conductor
    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_TIMELINE, _on_timeline)
        runner.register_message(MSG_FINALIZE, _on_finalize)
        return
    _conductor = Conductor(environment)
    if isinstance(runner, MasterRunner):
        runner.register_message(MSG_FINAL, _on_final)
    if _conductor.out_dir is not None:
        gevent.spawn(_conductor.write_status_forever)


def _on_final(environment: Environment, msg: Any, **_: Any) -> None:
    if _conductor is not None:  # the current one: a web UI may have started a new test
        _conductor.on_final(msg.node_id, ProcessExport.model_validate(msg.data))


def _on_timeline(environment: Environment, msg: Any, **_: Any) -> None:
    SESSION.set_timeline(Timeline.from_record(TimelineRecord.model_validate(msg.data)))


def _on_finalize(environment: Environment, msg: Any, **_: Any) -> None:
    assert environment.runner is not None
    environment.runner.send_message(MSG_FINAL, SESSION.export().model_dump())


def _on_test_start(environment: Environment, **_: Any) -> None:
    global _conductor
    if SESSION.frozen_at is not None:  # a second test in the same process (web UI)
        SESSION.reset()
        if _conductor is not None:
            _conductor = Conductor(environment)
    _configure_session(environment)
    if _conductor is not None:
        SESSION.scenario  # noqa: B018  (load now: a bad scenario fails the start, loudly)
        gevent.spawn(_conductor.run)


def _on_spawning_complete(user_count: int, **_: Any) -> None:
    if _conductor is not None:
        _conductor.spawned.set()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    frozen = SESSION.frozen_at is not None
    report = WorkerReport(
        # after the final export the histograms belong to it; later samples are not sent
        histograms={} if frozen else SESSION.latencies.take_encoded(),
        counters=SESSION.counters,
        joined=SESSION.joined,
    )
    data[REPORT_KEY] = report.model_dump()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    part = data.get(REPORT_KEY)
    if _conductor is not None and part is not None:
        _conductor.on_worker_report(client_id, WorkerReport.model_validate(part))


def _on_test_stopping(environment: Environment, **_: Any) -> None:
    # the web UI's stop button, or (under `tbench run`) --run-time or a signal cutting the
    # run short: account for what happened so far
    if _conductor is not None and SESSION.timeline is not None:
        _conductor.finalize(ended_early=_conductor.autostop)


def install(events: Events) -> None:
    """Register every hook on Locust's event bus (call once, from the locustfile)."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.spawning_complete.add_listener(_on_spawning_complete)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)
    events.test_stopping.add_listener(_on_test_stopping)
