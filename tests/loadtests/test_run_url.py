"""`tbench run --url`: the one-target rule and `--server-pid` (several given targets:
test_run_target_urls.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import load_run
from tbench.process import TargetProcess

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`


def test_url_takes_exactly_one_target(tmp_path: Path):
    done = tbench_run(
        tmp_path, "--targets", "sse,websocket", "--url", "http://127.0.0.1:9", timeout_s=60
    )
    assert done.returncode == 2
    assert "exactly one target" in done.stderr


def test_server_pid_samples_the_given_server(tmp_path: Path, websocket_server: TargetProcess):
    assert websocket_server.pid is not None
    done = tbench_run(
        tmp_path,
        *("--scenario", "smoke", "--targets", "websocket", "--no-verify", "--run-id", "given"),
        *("--url", websocket_server.url, "--server-pid", str(websocket_server.pid)),
        timeout_s=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = load_run(tmp_path / "given").targets["websocket"].metrics
    assert metrics["delivered"] == metrics["expected"] > 0
    assert metrics["server_cpu_s"] > 0  # the given process, sampled over the measured window
    assert metrics["server_cpu_s_per_1k_delivered"] > 0
    assert metrics["server_connections_max"] >= 6  # the smoke scenario's users
    assert websocket_server.alive()  # sampled, not stopped


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--server-pid", "1"), "--url"),  # a pid without the server it belongs to
        (("--url", "ws://127.0.0.1:9/ws", "--server-pid", "999999999"), "no such process"),
    ],
)
def test_bad_server_pid_is_refused_saying_why(
    tmp_path: Path, args: tuple[str, ...], complaint: str
):
    done = tbench_run(tmp_path, "--targets", "websocket", *args, timeout_s=60)
    assert done.returncode == 2
    assert complaint in done.stderr
