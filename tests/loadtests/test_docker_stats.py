"""Compose mode's sampler: Docker Engine API stats (recorded JSON) into resources.csv."""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tbench.runner.docker_stats import (
    LOADGEN_LABEL,
    PROJECT_LABEL,
    TARGET_LABEL,
    ContainerWatch,
    DockerStatsSampler,
    EngineStats,
    MemoryStats,
    compose_project,
    cpu_percent,
    find_containers,
    parse_stats,
    rss_bytes,
)
from tbench.runner.resources import COLUMNS, cpu_percent_between, summarize
from tests.waiting import wait_until

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def stats(reading: dict[str, Any]) -> EngineStats:
    return EngineStats.model_validate(reading)


CGROUP2 = recorded("docker_stats_cgroup2.json")  # a target's container, cgroup v2 host
CGROUP1 = recorded("docker_stats_cgroup1.json")  # a Locust worker's, cgroup v1 host


def test_cpu_percent_is_the_share_of_one_core_between_two_readings():
    # cgroup v2: 0.35 s of CPU in 4 s of system time over 4 online CPUs (1 s of wall clock)
    assert cpu_percent(stats(CGROUP2)) == pytest.approx(35.0)
    # cgroup v1 has no online_cpus: the per-CPU list says 4
    assert cpu_percent(stats(CGROUP1)) == pytest.approx(90.0)


def test_the_first_reading_of_a_stream_has_no_cpu_percent():
    first = copy.deepcopy(CGROUP2)
    first["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    assert cpu_percent(stats(first)) is None
    assert parse_stats(stats(first)).cpu_percent is None
    assert parse_stats(stats(first)).cpu_s == pytest.approx(12.75)


def test_rss_is_anonymous_plus_mapped_memory_on_cgroup_v2():
    # anon 50 MiB + file_mapped 7 MiB; not `usage` (68.1 MiB), which holds the page cache
    assert rss_bytes(stats(CGROUP2).memory_stats) == 52_428_800 + 7_340_032


def test_rss_on_cgroup_v1_uses_the_hierarchy_totals():
    assert rss_bytes(stats(CGROUP1).memory_stats) == 100_663_296 + 6_291_456


def test_rss_without_cgroup_detail_is_usage_less_inactive_files():
    assert rss_bytes(MemoryStats(usage=10_000, stats={"inactive_file": 2_500})) == 7_500
    assert rss_bytes(MemoryStats(usage=10_000)) == 10_000


def test_parse_stats_reads_every_figure():
    reading = parse_stats(stats(CGROUP2))
    assert reading.cpu_s == pytest.approx(12.75)
    assert reading.cpu_percent == pytest.approx(35.0)
    assert reading.rss_bytes == 59_768_832
    assert reading.tasks == 9


class FakeContainer:
    """Streams recorded readings, one per `period_s`, each 0.5 s of CPU after the last."""

    def __init__(self, name: str, reading: dict[str, Any], labels: dict[str, str]) -> None:
        self.id = f"id-{name}"
        self.name = name
        self.labels = labels
        self.reading = reading
        self.period_s = 0.02

    def stats(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert kwargs == {"stream": True, "decode": True}
        return self._stream()

    def _stream(self) -> Iterator[dict[str, Any]]:
        reading = copy.deepcopy(self.reading)
        for _ in range(2000):  # bounded: ~40 s of readings
            yield copy.deepcopy(reading)
            reading["precpu_stats"] = copy.deepcopy(reading["cpu_stats"])
            reading["cpu_stats"]["cpu_usage"]["total_usage"] += 500_000_000
            reading["cpu_stats"]["system_cpu_usage"] += 4_000_000_000
            time.sleep(self.period_s)  # tested: a stream that reads like docker's, one per period


class RecordedStream:
    """A container whose stream is a fixed list of readings (or fails at once)."""

    id = "id-recorded"
    name = "recorded"

    def __init__(self, readings: list[dict[str, Any]] | None) -> None:
        self.readings = readings
        self.closed = False

    def stats(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        if self.readings is None:
            raise ConnectionError("no such container")
        return self._stream(self.readings)

    def _stream(self, readings: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        try:
            yield from readings
        finally:
            self.closed = True


def test_a_stopped_containers_zero_readings_keep_the_last_real_one():
    stopped = copy.deepcopy(CGROUP2)
    stopped["cpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    stopped["memory_stats"] = {}
    container = RecordedStream([CGROUP2, stopped])
    watch = ContainerWatch(container, threading.Event()).start()
    watch.join(5.0)
    assert watch.latest == parse_stats(stats(CGROUP2))
    assert container.closed


def test_a_container_that_vanished_leaves_no_reading_and_no_thread():
    watch = ContainerWatch(RecordedStream(None), threading.Event()).start()
    watch.join(5.0)
    assert watch.latest is None
    assert not [t for t in threading.enumerate() if t.name == "docker-stats-recorded"]


class FakeContainers:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = containers
        self.filters: list[dict[str, Any]] = []

    def list(self, **kwargs: Any) -> list[FakeContainer]:
        self.filters.append(kwargs["filters"])
        wanted = dict(label.split("=", 1) for label in kwargs["filters"]["label"])
        return [
            c
            for c in self.containers
            if all(c.labels.get(key) == value for key, value in wanted.items())
        ]

    def get(self, container_id: str) -> FakeContainer:
        for container in self.containers:
            if container_id in (container.id, container.name):
                return container
        raise LookupError(container_id)


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = FakeContainers(containers)


def compose_stack() -> FakeClient:
    project = {PROJECT_LABEL: "transport-bench"}
    return FakeClient(
        [
            FakeContainer("tb-sse-2", CGROUP2, {TARGET_LABEL: "sse", **project}),
            FakeContainer("tb-sse-1", CGROUP2, {TARGET_LABEL: "sse", **project}),
            FakeContainer("tb-websocket-1", CGROUP2, {TARGET_LABEL: "websocket", **project}),
            FakeContainer("tb-locust-worker-1", CGROUP1, {LOADGEN_LABEL: "true", **project}),
            FakeContainer("other-sse-1", CGROUP2, {TARGET_LABEL: "sse"}),  # another project
        ]
    )


def test_find_containers_selects_by_label_within_the_project():
    client = compose_stack()
    sse = find_containers(client, TARGET_LABEL, "sse", "transport-bench")
    assert [c.name for c in sse] == ["tb-sse-1", "tb-sse-2"]
    assert client.containers.filters[-1]["status"] == "running"
    every_project = find_containers(client, TARGET_LABEL, "sse", None)
    assert [c.name for c in every_project] == ["other-sse-1", "tb-sse-1", "tb-sse-2"]


def test_compose_project_is_read_from_the_runners_own_container(monkeypatch):
    client = compose_stack()
    monkeypatch.setattr("socket.gethostname", lambda: "id-tb-locust-worker-1")
    assert compose_project(client) == "transport-bench"
    monkeypatch.setattr("socket.gethostname", lambda: "a-laptop")  # not in a container
    assert compose_project(client) is None


def test_sampler_writes_the_psutil_schema_from_container_stats(tmp_path: Path):
    client = compose_stack()
    server = find_containers(client, TARGET_LABEL, "sse", "transport-bench")
    loadgen = find_containers(client, LOADGEN_LABEL, "true", "transport-bench")
    sampler = DockerStatsSampler(server, loadgen, interval_s=0.05).start()
    wait_until(
        lambda: len([r for r in sampler.series.rows if r["server_processes"] == 2]) >= 6,
        "six rows with both server containers",
    )
    series = sampler.stop(tmp_path / "resources.csv")
    assert sampler.server_containers == ["tb-sse-1", "tb-sse-2"]
    assert not [t for t in threading.enumerate() if t.name.startswith("docker-stats-")]

    rows = [row for row in series.rows if row["server_processes"] == 2]
    assert len(rows) >= 5
    last = rows[-1]
    # two containers, 12.75 s of CPU each and 0.5 s more per reading: 50 % of a core each
    assert last["server_cpu_s"] > 2 * 12.75
    assert last["server_cpu_percent"] == pytest.approx(2 * 50.0)
    assert last["server_rss_bytes"] == 2 * 59_768_832
    assert last["server_threads"] == 2 * 9
    assert math.isnan(last["server_fds"])
    assert math.isnan(last["server_connections"])
    assert last["loadgen_processes"] == 1
    assert last["loadgen_rss_bytes"] == 106_954_752
    assert last["loadgen_cpu_percent_max"] == pytest.approx(50.0)

    text = (tmp_path / "resources.csv").read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(table[0]) == COLUMNS
    assert table[-1]["server_fds"] == "nan"

    summary = summarize(series, rows[0]["time"], rows[-1]["time"])
    assert summary["server_cpu_s"] > 0
    assert summary["server_rss_max_bytes"] == 2 * 59_768_832
    assert summary["server_fds_max"] is None
    assert summary["server_connections_max"] is None
    assert summary["server_rss_per_connection_bytes"] is None
    assert summary["loadgen_cpu_percent_mean"] is not None


def test_a_member_seen_first_brings_no_rate_of_its_history():
    # the 995 % first sample: a worker container's 9.95 s since it started, in one 1 s step
    before = {4242: 1.0}
    now = {4242: 1.5, "id-locust-worker-1": 9.95}
    assert cpu_percent_between(before, now, 1.0) == pytest.approx(50.0)
    later = {4242: 2.0, "id-locust-worker-1": 10.45}
    assert cpu_percent_between(now, later, 1.0) == pytest.approx(100.0)
    assert cpu_percent_between({}, now, 1.0) == 0.0
    assert cpu_percent_between(now, later, 0.0) == 0.0


def test_sampling_starts_with_every_containers_first_reading():
    client = compose_stack()
    server = find_containers(client, TARGET_LABEL, "sse", "transport-bench")
    loadgen = find_containers(client, LOADGEN_LABEL, "true", "transport-bench")
    sampler = DockerStatsSampler(server, loadgen, interval_s=0.05).start()
    wait_until(lambda: len(sampler.series.rows) >= 3, "three rows sampled")
    series = sampler.stop()
    first = series.rows[0]
    # every container from the first row: the cumulative CPU never jumps by a container's past
    assert all(row["server_processes"] == 2 for row in series.rows)
    assert all(row["loadgen_processes"] == 1 for row in series.rows)
    assert first["server_cpu_s"] >= 2 * 12.75
    assert first["loadgen_cpu_percent"] == 0.0
    # the rates add up to the CPU used while sampling, not the 12.75 s used before it
    rows = series.rows
    used = sum(
        row["loadgen_cpu_percent"] / 100 * (row["time"] - previous["time"])
        for previous, row in itertools.pairwise(rows)
    )
    assert used == pytest.approx(rows[-1]["loadgen_cpu_s"] - first["loadgen_cpu_s"], rel=0.1)
