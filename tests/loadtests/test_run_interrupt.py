"""Ctrl-C (SIGINT) during `tbench run` stops every child process and keeps partial results."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil

from contract.results import TargetStatus, load_run
from tests.waiting import wait_until

from .tbench_cli import start_tbench_run


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_sigint_leaves_no_child_process(tmp_path: Path):
    runner = start_tbench_run(
        tmp_path,
        *("--scenario", "chat", "--targets", "sse", "--no-verify", "--run-id", "interrupted"),
    )
    seen: dict[int, psutil.Process] = {}
    try:
        status = tmp_path / "interrupted" / "sse" / "status.json"

        def spawning() -> bool:  # the server and Locust up, the users spawning
            seen.update((child.pid, child) for child in _descendants(runner.pid))
            return status.exists()

        wait_until(spawning, "Locust's first status", timeout_s=60, poll_s=0.2)
        for child in _descendants(runner.pid):
            seen[child.pid] = child
        assert len(seen) >= 2  # at least the target server and Locust
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=30) == 130
    finally:
        if runner.poll() is None:
            runner.kill()
    alive = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
    run = load_run(tmp_path / "interrupted")
    assert run.status == "interrupted"
    assert run.targets["sse"].status is TargetStatus.INTERRUPTED
