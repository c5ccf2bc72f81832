"""A throwaway `redis-server` on loopback: no persistence, files in a temp dir, stopped with us."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from contract.addresses import DEFAULT_HOST, free_port
from tbench.process import ChildServer, TargetStartError, spawn_in_own_group, stop_group

REDIS_EXECUTABLE = "redis-server"  # Debian's redis-server package


def redis_argv(executable: str, host: str, port: int, work_dir: Path) -> list[str]:
    """The command line: loopback, nothing written to disk, no background fork."""
    return [
        executable,
        "--bind",
        host,
        "--port",
        str(port),
        "--save",
        "",  # no RDB snapshots
        "--appendonly",
        "no",
        "--dir",
        str(work_dir),
        "--daemonize",
        "no",
        "--logfile",
        "",  # stdout, i.e. our log file
        "--protected-mode",
        "yes",
        "--maxclients",
        "10000",
    ]


def ping(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ChildServer):
    """A `redis-server` child process in its own process group, with its own temp dir."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        executable: str = REDIS_EXECUTABLE,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.executable = executable
        self.log_path = log_path
        self.work_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL the targets take (`--broker`)."""
        return f"redis://{self.address}"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start redis-server and wait until it answers PING."""
        executable = shutil.which(self.executable)
        if executable is None:
            raise TargetStartError(
                f"{self.executable} not found: install Debian's redis-server package"
            )
        self.work_dir = Path(tempfile.mkdtemp(prefix="tbench-redis-"))
        if self.log_path is None:
            self.log_path = self.work_dir / "redis.log"
        argv = redis_argv(executable, self.host, self.port, self.work_dir)
        self.proc = spawn_in_own_group(argv, self.log_path)
        self.wait_ready(
            lambda: ping(self.host, self.port),
            timeout_s,
            f"redis-server did not answer PING on {self.url}",
        )
        return self

    def stop(self) -> None:
        """Stop the server and remove its temp dir (the log too, unless it lives elsewhere)."""
        if self.proc is not None:
            stop_group(self.proc)
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None
