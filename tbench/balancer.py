"""Debian's nginx as the load balancer of local replicas: generated config, own temp dir."""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contract.addresses import DEFAULT_HOST, free_port
from tbench.nginx_config import DEFAULT_WORKER_CONNECTIONS, BalancerConfig
from tbench.process import ChildServer, TargetStartError, spawn_in_own_group, stop_group

NGINX_EXECUTABLE = "nginx"  # Debian's nginx-light package
NGINX_FALLBACK_PATH = "/usr/sbin/nginx"  # not on a non-root user's PATH on Debian


def find_nginx(executable: str = NGINX_EXECUTABLE) -> str:
    """The nginx binary, or TargetStartError saying what to install."""
    found = shutil.which(executable)
    if found is None and executable == NGINX_EXECUTABLE and os.access(NGINX_FALLBACK_PATH, os.X_OK):
        found = NGINX_FALLBACK_PATH
    if found is None:
        raise TargetStartError(f"{executable} not found: install Debian's nginx-light package")
    return found


def worker_connections_within_limit() -> int:
    """The default connections per worker, fewer if this process may not open enough files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return DEFAULT_WORKER_CONNECTIONS
    # Two descriptors per proxied connection (nginx cannot raise its limit past the hard one).
    return max(64, min(DEFAULT_WORKER_CONNECTIONS, (hard - 64) // 2))


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class NginxBalancer(ChildServer):
    """nginx in front of `upstreams` ("host:port"), listening on a free port of `host`."""

    def __init__(
        self,
        upstreams: Sequence[str],
        host: str = DEFAULT_HOST,
        worker_processes: int = 1,
        work_dir: Path | None = None,
    ) -> None:
        self.upstreams = tuple(upstreams)
        self.host = host
        self.port = free_port(host)
        self.worker_processes = worker_processes
        self.executable = NGINX_EXECUTABLE
        self.work_dir = work_dir  # kept after stop() if given; a temp dir otherwise
        self._own_work_dir = work_dir is None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The balancer's HTTP root."""
        return f"http://{self.address}"

    def config(self, runtime_dir: Path) -> BalancerConfig:
        """The configuration this balancer runs with."""
        # As root, nginx would hand its workers to "nobody", who cannot enter our temp dir.
        user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
        return BalancerConfig(
            self.upstreams,
            self.address,
            str(runtime_dir),
            self.worker_processes,
            worker_connections_within_limit(),
            user=user,
        )

    def start(self, timeout_s: float = 10.0) -> NginxBalancer:
        """Write the config, start nginx in the foreground, wait until it listens."""
        executable = find_nginx(self.executable)
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="tbench-nginx-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.work_dir / "nginx.conf"
        config_path.write_text(self.config(self.work_dir).render())
        argv = [executable, "-p", str(self.work_dir), "-c", str(config_path)]
        argv += ["-e", str(self.work_dir / "error.log")]  # also for errors before the config
        self.proc = spawn_in_own_group(argv, self.work_dir / "nginx.out")
        self.wait_ready(
            lambda: _listening(self.host, self.port),
            timeout_s,
            f"nginx did not listen on {self.url}",
        )
        return self

    def log_tail(self, max_bytes: int = 2000) -> str:
        """The end of nginx's error log and output, for error messages."""
        if self.work_dir is None:
            return ""
        text = ""
        for name in ("nginx.out", "error.log"):
            path = self.work_dir / name
            if path.exists():
                text += path.read_bytes()[-max_bytes:].decode(errors="replace")
        return text

    def stop(self) -> None:
        """Stop nginx (SIGTERM: fast shutdown) and remove its temp dir if it made one."""
        if self.proc is not None:
            stop_group(self.proc)
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None
