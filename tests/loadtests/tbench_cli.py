"""`tbench run` as a subprocess, the way a user starts it (shared by the runner's tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_until


def _argv(out: Path, args: tuple[str, ...]) -> list[str]:
    # no report: rendering it is the reports' tests' business, and seconds of PDF here
    return [sys.executable, "-m", "tbench.cli", "run", "--no-report", "--out", str(out), *args]


def tbench_run(out: Path, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run to the end; stderr with rich's line wrapping undone, for substring checks."""
    done = subprocess.run(_argv(out, args), capture_output=True, text=True, timeout=timeout_s)
    done.stderr = " ".join(done.stderr.split())
    return done


def start_tbench_run(out: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start a run in the background (to interrupt it, or to break one of its targets)."""
    return subprocess.Popen(_argv(out, args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_file(path: Path, timeout_s: float = 60.0) -> None:
    """Wait until `path` exists (a target's status.json: its Locust run is under way)."""
    wait_until(path.exists, f"{path} written", timeout_s=timeout_s, poll_s=0.2)
