"""Locust as child processes (`locust --headless`, plus `--worker`s in distributed mode).

Subprocesses, not the library in-process: Locust needs gevent's monkey-patching, which the
runner (threads, psutil sampling, rich display) must not have; a child is also exactly what
a user runs by hand, and its whole process group can be stopped at once — no orphans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import loadtests
from contract.addresses import free_port
from contract.log_level import LOG_LEVEL_ENV

LOCUSTFILE = Path(loadtests.__file__).resolve().parent / "locustfile.py"
STOP_GRACE_S = 10.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocustPlan:
    """Everything one Locust run needs."""

    user_class: str
    url: str
    scenario_ref: str  # a shipped scenario's name, or an absolute path
    users: int
    spawn_rate: float
    out_dir: Path
    run_tag: str
    run_time_s: float  # a safety cap: the conductor normally ends the run itself
    workers: int = 0  # local worker processes; 0 = one local (non-distributed) process
    remote_workers: int = 0  # workers expected from other machines (--master-host)
    master_port: int | None = None
    faults_json: str = ""  # contract.scenario.Faults as JSON (`tbench run --faults`)
    knee_users: int = 0  # an overload's knee (0: not an overload, or the scenario's own)
    launcher: tuple[str, ...] = ()  # an argv prefix: `ip netns exec NS` (--network)

    def common_args(self) -> list[str]:
        """Options master, local and worker processes share."""
        return [*self.launcher, sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]

    def main_argv(self, master_port: int | None) -> list[str]:
        """The local runner, or the master when workers are used."""
        argv = [
            *self.common_args(),
            self.user_class,
            "--headless",
            "--host",
            self.url,
            "--users",
            str(self.users),
            "--spawn-rate",
            f"{self.spawn_rate:g}",
            "--run-time",
            f"{int(self.run_time_s) + 1}s",
            "--scenario",
            self.scenario_ref,
            "--run-tag",
            self.run_tag,
            "--tbench-out",
            str(self.out_dir),
            "--csv",
            str(self.out_dir / "locust"),
            "--csv-full-history",
            "--only-summary",
            "--logfile",
            str(self.out_dir / "locust.log"),
            "--exit-code-on-error",
            "0",  # failures are measured and reported, not a crash of the tool
        ]
        if self.faults_json:
            argv += ["--tbench-faults", self.faults_json]
        if self.knee_users:
            argv += ["--tbench-knee-users", str(self.knee_users)]
        if master_port is not None:
            argv += [
                "--master",
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(self.workers + self.remote_workers),
                "--expect-workers-max-wait",
                "120",
            ]
        return argv

    def worker_argv(self, master_port: int) -> list[str]:
        """One local worker."""
        return [
            *self.common_args(),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(master_port),
            "--only-summary",
        ]


def locust_log_level() -> dict[str, str]:
    """LOCUST_LOGLEVEL set to a chosen TBENCH_LOG_LEVEL; empty if none was chosen.

    Unchosen, Locust keeps its own INFO: its log file is part of the run's record, not the
    terminal, and the conductor's sweep and summary lines are INFO.
    """
    level = os.environ.get(LOG_LEVEL_ENV, "").strip()
    return {"LOCUST_LOGLEVEL": level} if level else {}


class LocustRun:
    """The Locust processes of one target: started together, stopped together."""

    def __init__(self, plan: LocustPlan) -> None:
        self.plan = plan
        self.main: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.master_port: int | None = None

    @property
    def distributed(self) -> bool:
        """Whether a master and workers run (rather than one local process)."""
        return self.plan.workers + self.plan.remote_workers > 0

    def start(self) -> None:
        """Start the main process, then the workers, each in its own process group."""
        plan = self.plan
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        if self.distributed:
            self.master_port = plan.master_port or free_port("127.0.0.1")
        self.main = self._spawn(plan.main_argv(self.master_port), "locust.out")
        if self.master_port is not None:
            for index in range(plan.workers):
                argv = plan.worker_argv(self.master_port)
                self.workers.append(self._spawn(argv, f"locust-worker-{index}.out"))

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        logger.debug("starting %s (log %s)", shlex.join(argv), self.plan.out_dir / log_name)
        with (self.plan.out_dir / log_name).open("ab") as log:
            return subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **locust_log_level()},
                # each its own process group (and session: a terminal's Ctrl-C reaches only
                # the runner, which stops them in order); killpg reaches anything they fork
                start_new_session=True,
            )

    @property
    def pids(self) -> list[int]:
        """Process ids of the load generator (main first)."""
        return [p.pid for p in ([self.main] if self.main else []) + self.workers]

    def poll(self) -> int | None:
        """The main process's exit code, or None while it runs."""
        return self.main.poll() if self.main is not None else None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the group (Locust shuts down cleanly), SIGKILL whatever is left."""
        if self.main is None:
            return
        processes = [self.main, *self.workers]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)

    def log_tail(self, max_bytes: int = 3000) -> str:
        """The end of the main process's output, for error messages."""
        path = self.plan.out_dir / "locust.out"
        if not path.exists():
            return ""
        return path.read_bytes()[-max_bytes:].decode(errors="replace")
