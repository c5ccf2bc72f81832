"""Sample containers' CPU and memory through the Docker Engine API (compose mode).

Beside the psutil sampler, into the same resources.csv: a target is every running container
labelled `tbench.target=<name>` in the runner's compose project (its server, or its replicas,
Redis and nginx; the Lambda emulator and its DynamoDB), and the Locust workers are the
containers labelled `tbench.loadgen=true`. The engine streams one reading per container
about every second: `cpu_stats` against `precpu_stats` give the CPU share, `memory_stats`
the resident memory. Open descriptors and connections are not in the API: their columns
are NaN here, and their metrics empty.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from tbench.runner.resources import ResourceSampler, ResourceSeries, Usage

TARGET_LABEL = "tbench.target"
LOADGEN_LABEL = "tbench.loadgen"
PROJECT_LABEL = "com.docker.compose.project"
DOCKER_SAMPLE_INTERVAL_S = 1.0  # the engine's own cadence: sampling faster repeats readings
STOP_WAIT_S = 3.0
FIRST_READING_WAIT_S = 5.0  # the engine's first reading of a stream takes a second or two
STREAM_POOL_SIZE = 64


class DockerStatsError(RuntimeError):
    """The Docker engine cannot be reached (socket missing or not readable)."""


class ContainerLike(Protocol):
    """The part of docker's Container model the sampler uses."""

    id: str
    name: str

    def stats(self, **kwargs: Any) -> Any:
        """The engine's stats (a stream of dicts with stream=True, decode=True)."""
        ...


class ContainerListing(Protocol):
    """docker's `client.containers`."""

    def list(self, **kwargs: Any) -> list[Any]:
        """Containers matching filters."""
        ...

    def get(self, container_id: str) -> Any:
        """One container by id or name."""
        ...


class DockerClientLike(Protocol):
    """The part of `docker.DockerClient` the sampler uses."""

    containers: ContainerListing


@dataclass(frozen=True, slots=True)
class ContainerReading:
    """One container's figures from one stats reading."""

    cpu_s: float  # cumulative CPU seconds since the container started
    cpu_percent: float | None  # of one core, since the previous reading; None on the first
    rss_bytes: int
    tasks: int  # pids.current: the cgroup's processes and threads


class CpuUsage(BaseModel):
    """`cpu_usage`: nanoseconds of CPU (cgroup v1 also per CPU)."""

    total_usage: int = 0
    percpu_usage: list[int] | None = None


class CpuStats(BaseModel):
    """`cpu_stats` / `precpu_stats` (a stream's first reading has an empty previous one)."""

    cpu_usage: CpuUsage = Field(default_factory=CpuUsage)
    system_cpu_usage: int | None = None
    online_cpus: int | None = None  # cgroup v2 only


class MemoryStats(BaseModel):
    """`memory_stats`: usage, and the cgroup's own counters (v1 and v2 name them apart)."""

    usage: int | None = None
    stats: dict[str, int] = Field(default_factory=dict)


class PidsStats(BaseModel):
    """`pids_stats`: the cgroup's processes and threads."""

    current: int | None = None


class EngineStats(BaseModel):
    """One reading of the Engine API's stats (`GET /containers/{id}/stats`), the parts used."""

    cpu_stats: CpuStats = Field(default_factory=CpuStats)
    precpu_stats: CpuStats = Field(default_factory=CpuStats)
    memory_stats: MemoryStats = Field(default_factory=MemoryStats)
    pids_stats: PidsStats = Field(default_factory=PidsStats)


def cpu_percent(stats: EngineStats) -> float | None:
    """CPU use between `precpu_stats` and `cpu_stats`, in % of one core (as `docker stats`)."""
    now, before = stats.cpu_stats, stats.precpu_stats
    if not before.system_cpu_usage or now.system_cpu_usage is None:
        return None  # the first reading of a stream has no previous one
    cpu_delta = now.cpu_usage.total_usage - before.cpu_usage.total_usage
    system_delta = now.system_cpu_usage - before.system_cpu_usage
    # cgroup v2 reports online_cpus only; cgroup v1 also lists per-CPU usage
    cpus = now.online_cpus or len(now.cpu_usage.percpu_usage or ()) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return float(cpu_delta / system_delta * cpus * 100.0)


def rss_bytes(memory: MemoryStats) -> int:
    """Resident memory as `ps` counts it: anonymous plus mapped files, not the page cache."""
    detail = memory.stats
    if "anon" in detail:  # cgroup v2
        return detail["anon"] + detail.get("file_mapped", 0)
    if "total_rss" in detail:  # cgroup v1, the container's whole hierarchy
        return detail["total_rss"] + detail.get("total_mapped_file", 0)
    # neither (another platform): what `docker stats` shows, usage less inactive file pages
    inactive = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    usage = memory.usage or 0
    return usage - inactive if inactive < usage else usage


def parse_stats(stats: EngineStats) -> ContainerReading:
    """One stats reading's figures."""
    return ContainerReading(
        cpu_s=stats.cpu_stats.cpu_usage.total_usage / 1e9,
        cpu_percent=cpu_percent(stats),
        rss_bytes=rss_bytes(stats.memory_stats),
        tasks=stats.pids_stats.current or 0,
    )


class ContainerWatch:
    """A thread following one container's stats stream, keeping the latest reading."""

    def __init__(self, container: ContainerLike, stop: threading.Event) -> None:
        self.container = container
        self.latest: ContainerReading | None = None
        self.first_reading = threading.Event()  # set at the first reading, or when it ends
        self._stop = stop
        self._thread = threading.Thread(
            target=self._follow, name=f"docker-stats-{container.name}", daemon=True
        )

    def start(self) -> ContainerWatch:
        """Start following."""
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        """Wait for the thread (it ends at the next reading after stop)."""
        self._thread.join(timeout_s)

    def _follow(self) -> None:
        stream: Iterator[dict[str, Any]] | None = None
        try:
            stream = self.container.stats(stream=True, decode=True)
            for data in stream:
                if self._stop.is_set():
                    break
                stats = EngineStats.model_validate(data)
                # a stopped container's readings are zeros: keep the last real one
                if stats.cpu_stats.cpu_usage.total_usage:
                    self.latest = parse_stats(stats)
                    self.first_reading.set()
        except Exception:  # the container went away, or the engine closed the stream
            return
        finally:
            self.first_reading.set()
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # the HTTP response under the stream


def compose_project(client: DockerClientLike) -> str | None:
    """The compose project of the container this runs in (its hostname), or None outside."""
    try:
        labels = client.containers.get(socket.gethostname()).labels or {}
    except Exception:  # not in a container, or a hostname that is not the container id
        return None
    project = labels.get(PROJECT_LABEL)
    return str(project) if project else None


def find_containers(
    client: DockerClientLike, label: str, value: str, project: str | None
) -> list[ContainerLike]:
    """The running containers labelled `label=value` (in `project`, if given), by name."""
    labels = [f"{label}={value}"] + ([f"{PROJECT_LABEL}={project}"] if project else [])
    found = client.containers.list(filters={"label": labels, "status": "running"})
    return sorted(found, key=lambda container: container.name)


def connect() -> tuple[DockerClientLike, str | None]:
    """A client for the local engine (DOCKER_HOST or the socket) and this compose project."""
    import docker  # only compose mode needs it

    try:
        # one streaming connection per container: replicas, Redis, nginx and the workers
        client = docker.from_env(max_pool_size=STREAM_POOL_SIZE)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerStatsError(
            f"--docker-stats cannot reach the Docker engine: {exc}. Is the socket mounted and "
            "readable by one of this user's groups (compose: DOCKER_GID=$(stat -c %g "
            "/var/run/docker.sock))?"
        ) from None
    return client, compose_project(client)


class DockerStatsSampler(ResourceSampler):
    """resources.csv from containers: the target's as "server", Locust workers' as load."""

    def __init__(
        self,
        server: list[ContainerLike],
        loadgen: list[ContainerLike],
        loadgen_pids: Callable[[], list[int]] | None = None,
        interval_s: float = DOCKER_SAMPLE_INTERVAL_S,
    ) -> None:
        super().__init__(lambda: [], loadgen_pids or (lambda: []), interval_s)
        self._watch_stop = threading.Event()
        self.server_watches = [ContainerWatch(c, self._watch_stop) for c in server]
        self.loadgen_watches = [ContainerWatch(c, self._watch_stop) for c in loadgen]

    @property
    def server_containers(self) -> list[str]:
        """The names of the containers sampled as the target."""
        return [watch.container.name for watch in self.server_watches]

    def start(self) -> DockerStatsSampler:
        """Follow every container's stats; sample once each has its first reading (or after
        FIRST_READING_WAIT_S), so the target's cumulative CPU counts every container from the
        first row rather than jumping when a late one's history arrives."""
        watches = [*self.server_watches, *self.loadgen_watches]
        for watch in watches:
            watch.start()
        deadline = time.monotonic() + FIRST_READING_WAIT_S
        for watch in watches:
            watch.first_reading.wait(max(0.0, deadline - time.monotonic()))
        super().start()
        return self

    def stop(
        self, csv_path: Path | None = None, retained: Sequence[tuple[float, int]] = ()
    ) -> ResourceSeries:
        """Stop sampling, then stop following the containers."""
        series = super().stop(csv_path, retained)
        self._watch_stop.set()
        for watch in [*self.server_watches, *self.loadgen_watches]:
            watch.join(STOP_WAIT_S)
        return series

    def server_usage(self, now: float) -> Usage:
        """The target's containers, summed."""
        readings = [w.latest for w in self.server_watches if w.latest is not None]
        return Usage(
            processes=len(readings),  # containers here, processes in local mode
            cpu_s=sum(r.cpu_s for r in readings),
            rss_bytes=sum(r.rss_bytes for r in readings),
            fds=math.nan,
            threads=sum(r.tasks for r in readings),
            connections=math.nan,
            cpu_percent=sum(r.cpu_percent or 0.0 for r in readings),
            member_cpu_s={
                w.container.id: w.latest.cpu_s for w in self.server_watches if w.latest is not None
            },
        )

    def loadgen_usage(self, now: float) -> Usage:
        """Local Locust processes (the master) plus the worker containers."""
        usage = super().loadgen_usage(now)
        for watch in self.loadgen_watches:
            reading = watch.latest
            if reading is None:
                continue
            usage.processes += 1
            usage.cpu_s += reading.cpu_s
            usage.member_cpu_s[watch.container.id] = reading.cpu_s
            usage.rss_bytes += reading.rss_bytes
            usage.busiest_percent = max(usage.busiest_percent, reading.cpu_percent or 0.0)
            self.series.loadgen_cpu.setdefault(watch.container.id, []).append((now, reading.cpu_s))
        return usage
