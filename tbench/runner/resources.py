"""Sample the server's and the load generator's processes with psutil (several times a second)."""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from contract.results import write_bytes_atomic
from tbench.runner.memory import RETAINED_COLUMN, attach_retained

SAMPLE_INTERVAL_S = 0.25  # 4 Hz
CONNECTION_SCAN_BUDGET = 0.05  # at most this share of the interval on counting connections

COLUMNS = (
    "time",
    "elapsed_s",
    "server_processes",
    "server_cpu_s",
    "server_cpu_percent",
    "server_rss_bytes",
    "server_fds",
    "server_threads",
    "server_connections",
    "loadgen_processes",
    "loadgen_cpu_s",
    "loadgen_cpu_percent",
    "loadgen_cpu_percent_max",
    "loadgen_rss_bytes",
    RETAINED_COLUMN,  # joined in after sampling, from /healthz (tbench/runner/memory.py)
)


@dataclass(slots=True)
class _Tree:
    """A process and its descendants, with per-process cumulative CPU seconds."""

    roots: Callable[[], list[int]]
    known: dict[int, psutil.Process] = field(default_factory=dict)
    cpu_seen: dict[int, float] = field(default_factory=dict)  # pid -> last cpu seconds

    def processes(self) -> list[psutil.Process]:
        """The roots and all their descendants now (known Process objects kept for CPU)."""
        found: dict[int, psutil.Process] = {}
        for pid in self.roots():
            try:
                root = self.known.get(pid) or psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    found[process.pid] = self.known.get(process.pid, process)
            except psutil.Error:
                continue
        self.known = found
        return list(found.values())


@dataclass(slots=True)
class ResourceSeries:
    """The samples, as columns, plus per-process CPU series of the load generator."""

    rows: list[dict[str, float]] = field(default_factory=list)
    # per load-generator process (pid) or container (id): (time, cumulative cpu seconds)
    loadgen_cpu: dict[int | str, list[tuple[float, float]]] = field(default_factory=dict)

    def column(self, name: str) -> list[float]:
        """One column's values."""
        return [row[name] for row in self.rows]

    def to_csv(self) -> bytes:
        """The samples as CSV text."""
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return text.getvalue().encode()


def _at(series: list[tuple[float, float]], when: float) -> float:
    """A cumulative series' value at `when`, linearly interpolated (clamped at the ends)."""
    times = [t for t, _ in series]
    index = bisect.bisect_left(times, when)
    if index <= 0:
        return series[0][1]
    if index >= len(series):
        return series[-1][1]
    (t0, v0), (t1, v1) = series[index - 1], series[index]
    return v0 + (v1 - v0) * (when - t0) / (t1 - t0) if t1 > t0 else v1


def _continuous(series: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A cumulative CPU series across restarts: a process started anew (`--faults restart`)
    counts from zero again, so its seconds are added to what the old one had used."""
    offset = previous = 0.0
    joined = []
    for when, value in series:
        if value < previous:
            offset += previous
        previous = value
        joined.append((when, value + offset))
    return joined


def _mean_cpu_percent(series: list[tuple[float, float]], start: float, end: float) -> float | None:
    if len(series) < 2 or end <= start:
        return None
    start, end = max(start, series[0][0]), min(end, series[-1][0])
    if end <= start:
        return None
    return (_at(series, end) - _at(series, start)) / (end - start) * 100.0


@dataclass(slots=True)
class Usage:
    """One reading of a group of processes (or containers): what a resources.csv row holds."""

    processes: int = 0
    cpu_s: float = 0.0  # cumulative
    rss_bytes: float = 0.0
    fds: float = 0.0  # NaN where the source cannot see them (containers)
    threads: float = 0.0
    connections: float = 0.0
    cpu_percent: float | None = None  # measured by the source itself; else from cpu_s deltas
    busiest_percent: float = 0.0  # the busiest single process: load-generator saturation
    # cumulative CPU seconds per process (pid) or container (id): what the rates come from
    member_cpu_s: dict[int | str, float] = field(default_factory=dict)


def cpu_percent_between(
    before: Mapping[int | str, float], now: Mapping[int | str, float], seconds: float
) -> float:
    """CPU use between two readings, in % of one core, over the members in both: one seen
    for the first time brings every second it used before (a container: since it started)."""
    if seconds <= 0:
        return 0.0
    used = sum(
        max(0.0, cpu_s - before[member]) for member, cpu_s in now.items() if member in before
    )
    return used / seconds * 100.0


@dataclass(frozen=True, slots=True)
class Reading:
    """What one sample leaves for the next one's rates."""

    time: float
    server: Mapping[int | str, float]
    loadgen: Mapping[int | str, float]


def _whole(value: float) -> float:
    """A count as an int, NaN (not measured) kept."""
    return value if math.isnan(value) else int(value)


class ResourceSampler:
    """A thread sampling the server tree's and the load generator's CPU, RSS, fds, ..."""

    def __init__(
        self,
        server_pids: Callable[[], list[int]],
        loadgen_pids: Callable[[], list[int]],
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.server = _Tree(server_pids)
        self.loadgen = _Tree(loadgen_pids)
        self.interval_s = interval_s
        self.series = ResourceSeries()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._started_at = time.time()
        self._connections = 0
        self._next_connection_scan = 0.0

    def start(self) -> ResourceSampler:
        """Start sampling."""
        self._started_at = time.time()
        self._thread.start()
        return self

    def stop(
        self, csv_path: Path | None = None, retained: Sequence[tuple[float, int]] = ()
    ) -> ResourceSeries:
        """Stop sampling, join in the messages retained (epoch s, count: /healthz's probes),
        and write the CSV (atomically) if asked."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        attach_retained(self.series.rows, retained)
        if csv_path is not None:
            write_bytes_atomic(csv_path, self.series.to_csv())
        return self.series

    def _run(self) -> None:
        last: Reading | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            with contextlib.suppress(Exception):  # a process vanishing mid-sample is normal
                last = self.sample(last)
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _count_connections(self, processes: Iterable[psutil.Process], now: float) -> int:
        # scanning /proc/net/tcp costs O(all sockets on the host): throttle it at high counts
        if now < self._next_connection_scan:
            return self._connections
        scan_started = time.monotonic()
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += sum(
                    1
                    for conn in process.net_connections(kind="tcp")
                    if conn.status == psutil.CONN_ESTABLISHED
                )
        cost = time.monotonic() - scan_started
        self._next_connection_scan = now + cost / CONNECTION_SCAN_BUDGET
        self._connections = total
        return total

    def server_usage(self, now: float) -> Usage:
        """The server's process tree now."""
        server = self.server.processes()
        usage = Usage(processes=len(server))
        for process in server:
            with contextlib.suppress(psutil.Error), process.oneshot():
                times = process.cpu_times()
                usage.member_cpu_s[process.pid] = times.user + times.system
                usage.cpu_s += times.user + times.system
                usage.rss_bytes += process.memory_info().rss
                usage.fds += process.num_fds()
                usage.threads += process.num_threads()
        usage.connections = self._count_connections(server, now) if server else 0
        return usage

    def loadgen_usage(self, now: float) -> Usage:
        """The load generator's processes now (each one's CPU series kept for saturation)."""
        loadgen = self.loadgen.processes()
        usage = Usage(processes=len(loadgen))
        for process in loadgen:
            with contextlib.suppress(psutil.Error):
                with process.oneshot():
                    times = process.cpu_times()
                    cpu_s = times.user + times.system
                    usage.rss_bytes += process.memory_info().rss
                usage.cpu_s += cpu_s
                usage.member_cpu_s[process.pid] = cpu_s
                series = self.series.loadgen_cpu.setdefault(process.pid, [])
                if series and now > series[-1][0]:
                    busiest = (cpu_s - series[-1][1]) / (now - series[-1][0]) * 100
                    usage.busiest_percent = max(usage.busiest_percent, busiest)
                series.append((now, cpu_s))
        return usage

    def sample(self, last: Reading | None) -> Reading:
        """Take one sample; returns what the next one's rates are computed from."""
        now = time.time()
        server = self.server_usage(now)
        loadgen = self.loadgen_usage(now)
        server_percent = loadgen_percent = 0.0
        if last is not None:
            server_percent = cpu_percent_between(last.server, server.member_cpu_s, now - last.time)
            loadgen_percent = cpu_percent_between(
                last.loadgen, loadgen.member_cpu_s, now - last.time
            )
        if server.cpu_percent is not None:
            server_percent = server.cpu_percent
        self.series.rows.append(
            {
                "time": round(now, 3),
                "elapsed_s": round(now - self._started_at, 3),
                "server_processes": server.processes,
                "server_cpu_s": round(server.cpu_s, 3),
                "server_cpu_percent": round(server_percent, 1),
                "server_rss_bytes": int(server.rss_bytes),
                "server_fds": _whole(server.fds),
                "server_threads": int(server.threads),
                "server_connections": _whole(server.connections),
                "loadgen_processes": loadgen.processes,
                "loadgen_cpu_s": round(loadgen.cpu_s, 3),
                "loadgen_cpu_percent": round(loadgen_percent, 1),
                "loadgen_cpu_percent_max": round(loadgen.busiest_percent, 1),
                "loadgen_rss_bytes": int(loadgen.rss_bytes),
            }
        )
        return Reading(now, server.member_cpu_s, loadgen.member_cpu_s)


def _peak(rows: list[dict[str, float]], column: str) -> int | None:
    """A count column's maximum; None if it was not measured (NaN)."""
    values = [row[column] for row in rows]
    return None if any(math.isnan(value) for value in values) else int(max(values))


def summarize(series: ResourceSeries, start: float, end: float) -> dict[str, float | int | None]:
    """Server and load-generator figures over the measured window [start, end] (epoch s)."""
    rows = series.rows
    summary: dict[str, float | int | None] = {"resource_samples": len(rows)}
    if not rows:
        return summary
    inside = [row for row in rows if start <= row["time"] <= end] or rows
    with_server = [row for row in rows if row["server_processes"] > 0]
    if with_server:
        cpu_series = _continuous([(row["time"], row["server_cpu_s"]) for row in with_server])
        cpu_s = _at(cpu_series, end) - _at(cpu_series, start) if end > start else 0.0
        seconds = max(1e-9, min(end, cpu_series[-1][0]) - max(start, cpu_series[0][0]))
        connections = _peak(with_server, "server_connections")
        rss_max = max(row["server_rss_bytes"] for row in with_server)
        rss_base = with_server[0]["server_rss_bytes"]
        summary |= {
            "server_cpu_s": round(cpu_s, 4),
            "server_cpu_percent_mean": round(cpu_s / seconds * 100, 2),
            "server_cpu_percent_max": max(row["server_cpu_percent"] for row in inside),
            "server_rss_max_bytes": int(rss_max),
            "server_rss_per_connection_bytes": (
                round((rss_max - rss_base) / connections) if connections else None
            ),
            "server_fds_max": _peak(with_server, "server_fds"),
            "server_connections_max": connections,
            "server_threads_max": int(max(row["server_threads"] for row in with_server)),
        }
    means = [
        mean
        for per_process in series.loadgen_cpu.values()
        if (mean := _mean_cpu_percent(per_process, start, end)) is not None
    ]
    if means:
        summary["loadgen_cpu_percent_mean"] = round(max(means), 2)
        summary["loadgen_cpu_percent_max"] = max(row["loadgen_cpu_percent_max"] for row in inside)
    return summary
