"""`tbench run --faults`: every fault kind on every target, judged from run.json.

One short run per target (tests/loadtests/fixtures/faults_ci.toml): slow readers, a drop and
a restart, each in its own 6-s slot. What the issue expects, asserted per target:
- drop: the targets that resume from a cursor lose nothing the server had taken (a WebSocket
  publish sent into the connection as it closed is lost by the publisher, and told apart as
  `lost_everywhere`); the Lambda target reconnects everyone, with no resume;
- slow: nothing lost, the paused readers' messages arrive late;
- restart: the server is killed and back, every client reconnects, and the loss is counted.
Plus: a run survives a target crashing or hanging mid-run (no --faults); bad --faults are refused.
"""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import psutil
import pytest

from contract.registry import TARGETS
from contract.results import FLAG_FAULTS, SUMMARY_FILE, FaultOutcome, TargetStatus, load_run

from .tbench_cli import start_tbench_run, tbench_run, wait_for_file

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

SCENARIO = Path(__file__).parent / "fixtures" / "faults_ci.toml"
ALL = list(TARGETS)
RESUMING = [name for name, spec in TARGETS.items() if spec.supports_resume]
STREAMING = ["sse", "websocket", "lambda"]  # a connection per subscriber that a drop ends
USERS = 8  # faults_ci.toml: 2 rooms × 4


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    done = tbench_run(
        out,
        "--scenario",
        str(SCENARIO),
        "--targets",
        ",".join(ALL),
        "--no-verify",  # conformance has its own tests; this is about faults
        # the fault mechanics at full speed: under Lambda's CPU model (tested on its own) the
        # emulator's queue after the drop's reconnects can outlast the 1.5-s slow-reader window,
        # which then sees no message to pause on
        "--no-cpu-model",
        "--run-id",
        "faults",
        timeout_s=90 * len(ALL),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "faults"


def _fault(run_dir: Path, target: str, kind: str) -> FaultOutcome:
    result = load_run(run_dir).targets[target]
    assert result.status is TargetStatus.OK, result.error
    assert FLAG_FAULTS in result.flags
    (outcome,) = [fault for fault in result.faults if fault.kind == kind]
    assert outcome.error is None, outcome.error
    assert outcome.injected_at is not None
    assert outcome.expected > 0
    assert outcome.lost == outcome.expected - outcome.delivered
    assert outcome.not_reconnected == 0
    return outcome


def test_run_json_has_one_outcome_per_fault_in_order(faults_run: Path):
    run = load_run(faults_run)
    assert run.scenario.faults is not None
    assert run.scenario.faults.kinds == ("slow", "drop", "restart")
    for target in ALL:
        faults = run.targets[target].faults
        assert [fault.kind for fault in faults] == ["slow", "drop", "restart"]
        starts = [fault.window_start for fault in faults]
        assert starts == sorted(starts)
        for fault in faults:
            assert fault.window_start < fault.planned_at < fault.window_end
    with (faults_run / SUMMARY_FILE).open() as handle:
        rows = {(row["target"], row["metric"]): row["value"] for row in csv.DictReader(handle)}
    for target in ALL:
        (drop,) = [fault for fault in run.targets[target].faults if fault.kind == "drop"]
        lost = drop.lost
        assert rows[(target, "fault_drop_lost")] == str(lost)
        assert (target, "fault_drop_server_down_s") not in rows  # only a restart has one
        assert (target, "fault_restart_server_down_s") in rows


@pytest.mark.parametrize("target", RESUMING)
def test_drop_loses_nothing_the_server_took_with_cursor_resume(faults_run: Path, target: str):
    drop = _fault(faults_run, target, "drop")
    assert drop.lost - drop.lost_everywhere == 0
    assert drop.duplicated == 0
    assert drop.resume_covers_s is not None
    assert drop.resume_covers_s > 60
    if target in STREAMING:
        assert drop.dropped is not None
        assert drop.dropped >= USERS
        assert drop.reconnects == USERS
        assert drop.reconnect_max_ms is not None
        assert drop.recovered_s is not None


def test_drop_on_lambda_reconnects_everyone_without_resume(faults_run: Path):
    """No cursor: what a receiver misses while away is gone. Here publishers are dropped too
    and a receiver's $connect registers it before most publishers are back, so the loss is
    small; it is counted, not assumed (see the issue note for the figures at scale)."""
    drop = _fault(faults_run, "lambda", "drop")
    assert drop.resume_covers_s is None
    assert drop.dropped == USERS
    assert drop.reconnects == USERS
    assert drop.duplicated == 0  # nothing is replayed: there is no history to replay


@pytest.mark.parametrize("target", ALL)
def test_slow_readers_lose_nothing_and_get_their_messages_late(faults_run: Path, target: str):
    slow = _fault(faults_run, target, "slow")
    assert slow.slow_clients is not None
    assert slow.slow_clients > 0
    assert slow.lost == 0
    assert slow.late > 0
    assert slow.rss_before_bytes is not None
    assert slow.rss_peak_bytes is not None


@pytest.mark.parametrize("target", ALL)
def test_restart_brings_every_client_back_and_counts_the_loss(faults_run: Path, target: str):
    restart = _fault(faults_run, target, "restart")
    assert restart.server_down_s is not None
    assert restart.server_down_s > 0
    assert restart.reconnects >= (USERS if target in STREAMING else 1)
    assert restart.recovered_s is not None
    assert restart.recovered_s >= restart.server_down_s
    assert restart.duplicated == 0  # a cursor from before the restart is not replayed twice


def test_bad_faults_are_refused_before_anything_starts(tmp_path: Path):
    unknown = tbench_run(tmp_path, "--faults", "unplug", "--targets", "sse", timeout_s=60)
    assert unknown.returncode == 2
    assert "unknown fault 'unplug'" in unknown.stderr
    too_short = tbench_run(tmp_path, "--faults", "drop", "--scenario", "smoke", timeout_s=60)
    assert too_short.returncode == 2
    assert "raise duration_s" in too_short.stderr
    given = tbench_run(
        tmp_path,
        "--faults",
        "restart",
        "--scenario",
        str(SCENARIO),
        "--targets",
        "sse",
        "--url",
        "http://127.0.0.1:9",
        timeout_s=60,
    )
    assert given.returncode == 2
    assert "needs a target started here" in given.stderr
    assert not any(tmp_path.iterdir())  # refused up front: no run directory


# smoke's load for long enough that a crash or a hang is seen before the scenario ends
ROBUSTNESS_SCENARIO = """
rooms = 2
users_per_room = 3
publisher_fraction = 1.0
publish_rate_per_s = 5.0
payload_bytes = 64
poll_interval_s = 0.2
spawn_rate = 50.0
settle_s = 0.5
warmup_s = 0.5
duration_s = 8.0
drain_s = 1.0
"""


@pytest.mark.parametrize(
    ("stop_signal", "error"),
    [
        (signal.SIGKILL, "the server exited during the run"),
        (signal.SIGSTOP, "the server hung: no answer on http://127.0.0.1:"),
    ],
    ids=["crash", "hang"],
)
def test_a_run_survives_one_target_crashing_or_hanging(
    tmp_path: Path, stop_signal: signal.Signals, error: str
):
    """kill -9 / SIGSTOP the SSE server mid-run (no --faults): SSE is recorded failed with
    the reason, the WebSocket target after it is measured as usual."""
    scenario = tmp_path / "robustness.toml"
    scenario.write_text(ROBUSTNESS_SCENARIO)
    runner = start_tbench_run(
        tmp_path,
        *("--scenario", str(scenario), "--targets", "sse,websocket", "--no-verify"),
        *("--hang-timeout-s", "3", "--run-id", "robustness"),
    )
    try:
        wait_for_file(tmp_path / "robustness" / "sse" / "status.json")
        servers = [
            child
            for child in psutil.Process(runner.pid).children(recursive=True)
            if "servers.sse:app" in " ".join(child.cmdline())
        ]
        assert len(servers) == 1
        servers[0].send_signal(stop_signal)
        assert runner.wait(timeout=90) == 1  # a failed target: exit 1, after the others
    finally:
        if runner.poll() is None:
            runner.kill()
    run = load_run(tmp_path / "robustness")
    assert run.status == "complete"
    sse, websocket = run.targets["sse"], run.targets["websocket"]
    assert sse.status is TargetStatus.FAILED
    assert sse.error is not None
    assert error in sse.error
    assert not servers[0].is_running() or servers[0].status() == psutil.STATUS_ZOMBIE
    assert websocket.status is TargetStatus.OK
    assert websocket.metrics["delivered"] == websocket.metrics["expected"] > 0
