"""`tbench run` as a subprocess, the way a user starts it (shared by the runner's tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.2)
    assert path.exists(), f"{path} did not appear within {timeout_s:g} s"
