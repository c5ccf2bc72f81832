"""Start a target's server as a child process, wait until healthy, stop it without orphans."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from contract.addresses import DEFAULT_HOST, free_port, health_url, host_port
from contract.registry import TargetSpec

logger = logging.getLogger(__name__)


class TargetStartError(RuntimeError):
    """The target's server did not become healthy; carries the tail of its log."""


def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise TargetStartError(f"server exited with code {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    logger.debug("%s healthy after %.2f s", url, time.monotonic() - started)
                    return
                last_error = "healthz did not answer 200"
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
    raise TargetStartError(f"{url} not healthy after {timeout_s:.0f} s ({last_error})")


def spawn_in_own_group(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` with output appended to `log_path`, leading its own process group."""
    logger.debug("starting %s (log %s)", shlex.join(argv), log_path)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # own process group: stop_group() reaches its children too
        )


def stop_group(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM the process group `proc` leads, then SIGKILL what is left after `grace_s`."""
    logger.debug("stopping process group %d", proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)


class ChildServer:
    """A server run as a child process in its own group: liveness, log tail, `with` support.

    Subclasses set `host` and `port` in `__init__`, `proc` (and `log_path`) in `start()`, and
    end the group in `stop()`.
    """

    host: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def address(self) -> str:
        """host:port it listens on (IPv6 bracketed)."""
        return host_port(self.host, self.port)

    @property
    def pid(self) -> int:
        """The server's process id (it leads its process group: its children are in it)."""
        assert self.proc is not None, f"{type(self).__name__} not started"
        return self.proc.pid

    def start(self) -> Self:
        """Start the server and wait until it serves."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and everything it started."""
        raise NotImplementedError

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float, failure: str) -> None:
        """Poll `ready()` until true; if the server exits or `timeout_s` passes first, stop it
        and raise TargetStartError with `failure` and the end of its log."""
        assert self.proc is not None, f"{type(self).__name__} not started"
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise TargetStartError(f"{failure}\n{tail}")
            time.sleep(0.05)

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of the server's log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-max_bytes:].decode(errors="replace")

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Self:
        return self.start() if self.proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, kw_only=True)
class Spawn:
    """How a server's process is started: where it logs, what it adds to the environment, and
    what its command line runs under."""

    log_path: Path | None = None  # None: a temporary file
    env: dict[str, str] | None = None
    launcher: tuple[str, ...] = ()  # an argv prefix, e.g. `ip netns exec NS`


class TargetProcess(ChildServer):
    """A running target server: a child process in its own process group."""

    def __init__(
        self,
        spec: TargetSpec,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        spawn: Spawn = Spawn(),
    ) -> None:
        self.spec = spec
        self.launcher = spawn.launcher
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.extra_args = extra_args
        self.log_path = spawn.log_path
        self.env = spawn.env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return self.spec.url(self.host, self.port)

    def start(self, timeout_s: float = 30.0) -> TargetProcess:
        """Start the server and wait until `/healthz` answers."""
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"tbench-{self.spec.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        argv = [*self.launcher, *self.spec.argv(self.host, self.port, *self.extra_args)]
        self.proc = spawn_in_own_group(argv, self.log_path, self.env)
        try:
            wait_healthy(health_url(self.host, self.port), timeout_s, self.proc)
        except TargetStartError as exc:
            tail = self.log_tail()
            self.stop()
            raise TargetStartError(f"{self.spec.name}: {exc}\n{tail}") from None
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `grace_s`."""
        if self.proc is not None:
            stop_group(self.proc, grace_s)

    def kill(self) -> None:
        """SIGKILL the process group at once (fault injection: a crash)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self, timeout_s: float = 30.0) -> float:
        """The "restart" fault: SIGKILL, then start again on the same port; seconds down."""
        self.kill()
        killed_at = time.monotonic()
        self.start(timeout_s)
        return time.monotonic() - killed_at
