"""What a run records about where it ran: host, git commit, Python and package versions."""

from __future__ import annotations

import datetime as dt
import platform
import secrets
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import psutil

from tbench.results import HostInfo

PACKAGES = (
    "transport-bench",
    "locust",
    "gevent",
    "geventhttpclient",
    "hdrhistogram",
    "uvicorn",
    "uvloop",
    "httptools",
    "websockets",
    "starlette",
    "fastapi",
    "sse-starlette",
    "orjson",
    "psutil",
    "pydantic",
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus a short random suffix."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_info() -> HostInfo:
    """CPU, RAM and OS of this machine."""
    return HostInfo(
        hostname=socket.gethostname(),
        os=platform.platform(),
        cpu_model=_cpu_model(),
        cpu_count_logical=psutil.cpu_count(logical=True) or 1,
        cpu_count_physical=psutil.cpu_count(logical=False),
        ram_bytes=psutil.virtual_memory().total,
    )


def git_state(repo: Path = REPO_ROOT) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout the code runs from; (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
