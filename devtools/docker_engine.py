"""A Docker engine for `make compose-test`: one that answers, else a dockerd started here.

The dockerd started here has its own data-root, exec-root, pidfile and socket in a temp dir,
no iptables rules and no default bridge (compose makes its own network); it is stopped by its
pid (its process group: containerd is its child) and its directory removed, also on failure
and Ctrl-C. Nothing else is ever stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tbench.process import spawn_in_own_group, stop_group

DEFAULT_SOCKET = Path("/var/run/docker.sock")
PING_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0


class EngineUnavailable(RuntimeError):
    """No Docker engine answers and none can be started here; the message says why."""


@dataclass(frozen=True, slots=True)
class Engine:
    """How to reach an engine: DOCKER_HOST for the clients, the socket path for mounts."""

    host: str  # unix:///path
    socket: Path
    started_here: bool

    def env(self) -> dict[str, str]:
        """The environment every docker / docker-compose call gets."""
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}


def socket_of(docker_host: str | None) -> Path | None:
    """The socket a DOCKER_HOST names (None: the default socket); None if it is not unix://."""
    if not docker_host:
        return DEFAULT_SOCKET
    if docker_host.startswith("unix://"):
        return Path(docker_host.removeprefix("unix://"))
    return None  # tcp:// or ssh://: no socket to mount into the runner


def answers(host: str) -> bool:
    """Whether an engine answers `docker version` at `host`."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            env={**os.environ, "DOCKER_HOST": host},
            capture_output=True,
            timeout=PING_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def running_engine() -> Engine | None:
    """The engine DOCKER_HOST (or the default socket) names, if it answers with a socket."""
    socket = socket_of(os.environ.get("DOCKER_HOST"))
    if socket is None:
        return None
    host = f"unix://{socket}"
    return Engine(host, socket, started_here=False) if answers(host) else None


def why_no_engine() -> str | None:
    """Why no engine can run here (None: one answers, or dockerd can be started as root)."""
    if running_engine() is not None:
        return None
    if os.geteuid() != 0:
        return "no Docker engine answers, and starting dockerd needs root"
    tools = ("dockerd", "containerd", "runc", "docker", "debootstrap")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        return f"no Docker engine answers, and {', '.join(missing)} not installed (make install)"
    return None


def dockerd_argv(state: Path) -> list[str]:
    """dockerd with everything it keeps under `state`; no iptables, no default bridge."""
    return [
        "dockerd",
        "--data-root",
        str(state / "data"),
        "--exec-root",
        str(state / "exec"),
        "--pidfile",
        str(state / "dockerd.pid"),
        "--host",
        f"unix://{state / 'docker.sock'}",
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
    ]


@contextlib.contextmanager
def own_dockerd() -> Iterator[Engine]:
    """A dockerd in a fresh temp dir, stopped (by its pid) and removed on the way out."""
    # short: containerd's shim sockets live under the exec-root and unix paths are short
    state = Path(tempfile.mkdtemp(prefix="tbd-"))
    log = state / "dockerd.log"
    proc = spawn_in_own_group(dockerd_argv(state), log)
    engine = Engine(f"unix://{state / 'docker.sock'}", state / "docker.sock", started_here=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(engine.host):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise EngineUnavailable(f"dockerd did not start (log {log}):\n{tail}")
            time.sleep(0.5)
        yield engine
    finally:
        stop_group(proc, grace_s=20.0)  # dockerd stops containerd, its child, on SIGTERM
        unmount_below(state)
        shutil.rmtree(state, ignore_errors=True)


def mounts_below(directory: Path, mounts_text: str) -> list[str]:
    """Mount points under `directory` in a /proc/self/mounts text, deepest first."""
    prefix = f"{directory}/"
    points = [line.split()[1] for line in mounts_text.splitlines() if len(line.split()) > 1]
    return sorted((point for point in points if point.startswith(prefix)), reverse=True)


def unmount_below(directory: Path) -> None:
    """Unmount what the stopped dockerd left mounted in its own directory (its netns)."""
    for point in mounts_below(directory, Path("/proc/self/mounts").read_text()):
        subprocess.run(["umount", point], capture_output=True)


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    """The running engine if one answers, else a dockerd started (and stopped) here."""
    found = running_engine()
    if found is not None:
        yield found
        return
    why = why_no_engine()
    if why is not None:
        raise EngineUnavailable(why)
    with own_dockerd() as engine:
        yield engine
