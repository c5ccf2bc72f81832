"""`tbench run --network`: the shaped path's RTT, loss with real retransmissions, and nothing
left behind (namespaces, veth pairs) after a normal end, Ctrl-C or SIGKILL. Needs root."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from contract.network_profile import RTT_TOLERANCE, parse_network_option
from contract.results import TargetStatus, load_run
from tbench.runner.netns import (
    NETEM,
    RELAY,
    EmulatedLink,
    leftovers,
    netem_available,
    prerequisite_problem,
)
from tests.waiting import wait_until

from .tbench_cli import start_tbench_run, tbench_run, wait_for_file

PROBLEM = prerequisite_problem("relay")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROBLEM is not None, reason=f"cannot build links: {PROBLEM}"),
]
PORT = 8000
NETEM_MISSING = "the kernel has no sch_netem ('Specified qdisc kind is unknown')"


def _wait_clean(pid: int, timeout_s: float) -> None:
    """Wait until the run with this pid has left no namespace and no link behind."""
    wait_until(
        lambda: leftovers(pid) == {"namespaces": [], "links": []},
        f"pid {pid}'s namespaces and links removed",
        timeout_s=timeout_s,
        poll_s=0.2,
    )


@contextlib.contextmanager
def tcp_server(link: EmulatedLink) -> Iterator[None]:
    """A plain TCP server in the link's server namespace, on the shaped path's address."""
    argv = [*link.launcher(link.server_ns), sys.executable, "-m", "http.server"]
    argv += ["--bind", link.addresses.server, str(PORT)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: subprocess.run(
                [*link.launcher(link.server_ns), "ss", "-Hltn", f"sport = :{PORT}"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "the TCP server listening",
            poll_s=0.1,
        )
        yield
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("mechanism", ["relay", "netem"])
def test_path_rtt_is_the_profiles_within_10_percent(mechanism: str):
    if mechanism == "netem" and not netem_available():
        pytest.skip(NETEM_MISSING)
    (profile,) = parse_network_option("rtt=100ms")
    with EmulatedLink(profile, mechanism_choice=mechanism) as link, tcp_server(link):
        assert link.mechanism == (NETEM if mechanism == "netem" else RELAY)
        rtt = link.measure_rtt(PORT)
    assert rtt.rtt_p50_ms == pytest.approx(100.0, rel=RTT_TOLERANCE), rtt
    assert rtt.rtt_min_ms >= 100.0 * (1 - RTT_TOLERANCE), rtt  # never shorter than asked
    _wait_clean(link.pid, 5)


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["relay", "netem"])
def test_loss_retransmits_and_a_resuming_target_loses_nothing(tmp_path: Path, mechanism: str):
    if mechanism == "netem" and not netem_available():
        pytest.skip(NETEM_MISSING)
    done = tbench_run(
        tmp_path,
        *("--targets", "sse", "--scenario", "smoke", "--no-verify", "--run-id", "lossy"),
        *("--network", "rtt=20ms,loss=5%", "--network-mechanism", mechanism),
        timeout_s=240,
    )
    assert done.returncode == 0, done.stderr
    result = load_run(tmp_path / "lossy").targets["sse@rtt=20ms,loss=5%"]
    assert result.status is TargetStatus.OK
    assert result.network is not None
    assert result.network.mechanism == (NETEM if mechanism == "netem" else RELAY)
    assert result.network.profile.loss == pytest.approx(0.05)
    assert result.network.retransmits > 0
    assert result.metrics["delivered"] == result.metrics["expected"] > 0
    assert result.metrics["lost"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_nothing_is_left_after_ctrl_c_or_a_crash(tmp_path: Path, how: signal.Signals):
    runner = start_tbench_run(
        tmp_path,
        *("--targets", "websocket", "--scenario", "chat", "--no-verify", "--run-id", "cut"),
        *("--network", "rtt=40ms,loss=1%,rate=10mbit", "--network-mechanism", "relay"),
    )
    try:
        wait_for_file(tmp_path / "cut" / "websocket@rtt=40ms,loss=1%,rate=10mbit" / "status.json")
        assert leftovers(runner.pid)["namespaces"], "the run built no namespace"
        started = psutil.Process(runner.pid).children(recursive=True)  # server, Locust, relay
        assert len(started) >= 4, [p.cmdline() for p in started]  # ... and the reaper
        runner.send_signal(how)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    # Ctrl-C: the runner removes them; SIGKILL: its reaper does, once the runner is gone
    _wait_clean(runner.pid, 0 if how == signal.SIGINT else 20)
    wait_until(
        lambda: not any(_alive(p) for p in started),
        "every process the run started gone",
        poll_s=0.2,
    )


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_not_root_is_refused_with_the_reason_and_the_fix(tmp_path: Path):
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    argv += ["-m", "tbench.cli", "run", "--targets", "sse", "--network", "4g"]
    done = subprocess.run([*argv, "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "--network needs root" in message
    assert "sudo" in message


def test_a_wrong_profile_field_is_named_before_anything_starts(tmp_path: Path):
    done = tbench_run(tmp_path, "--targets", "sse", "--network", "rtt=80ms,lose=1%", timeout_s=60)
    assert done.returncode == 2
    assert "unknown field 'lose'" in done.stderr
    assert not any(tmp_path.iterdir())
