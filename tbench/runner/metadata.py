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

from contract.results import HeldEqual, HostInfo, Limits, Setting

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


def _setting_text(value: object) -> Setting:
    # JSON scalars as they are; a protocol class by its name.
    if isinstance(value, int | float | str | None):
        return value
    return str(getattr(value, "__name__", repr(value)))


def held_equal() -> HeldEqual:
    """What every target shares (broker, serializer, uvicorn settings, limits), for the report."""
    # Imported here: only a run needs the servers' settings, and the emulator pulls in boto3.
    from servers.lambda_ws.emulator import uvicorn_settings as emulator_settings
    from servers.launch import GC_THRESHOLDS, UVICORN_SETTINGS
    from servers.settings import Settings

    settings = Settings.from_env()  # the targets inherit the runner's environment
    return HeldEqual(
        broker=settings.broker_url,
        serializer=f"orjson {package_versions(('orjson',)).get('orjson', '?')} (contract.codec)",
        uvicorn={key: _setting_text(value) for key, value in UVICORN_SETTINGS.items()},
        gc_thresholds=list(GC_THRESHOLDS),
        limits=Limits(
            history_size=settings.history_size,
            history_max_age_s=settings.history_max_age_s,
            queue_size=settings.queue_size,
            long_poll_max_wait_s=settings.long_poll_max_wait_s,
            sse_ping_s=settings.sse_ping_s,
            max_message_bytes=settings.max_message_bytes,
            max_connections=settings.max_connections,
            request_timeout_s=settings.request_timeout_s,
        ),
        lambda_emulator_uvicorn_differs={
            key: _setting_text(value)
            for key, value in emulator_settings().items()
            if UVICORN_SETTINGS.get(key) != value
        },
    )
