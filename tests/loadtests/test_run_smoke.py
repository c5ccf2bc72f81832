"""CI: `tbench run --scenario smoke` on the four transports, judged from run.json."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from contract.results import RUN_FILE, SUMMARY_FILE, TargetStatus, load_run

from .tbench_cli import tbench_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

TARGETS = ["short-polling", "long-polling", "sse", "websocket"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    done = tbench_run(
        out,
        "--scenario",
        "smoke",
        "--targets",
        ",".join(TARGETS),
        "--run-id",
        "smoke",
        timeout_s=45 * len(TARGETS),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "smoke"


def test_run_json_has_metadata(smoke_run: Path):
    run = load_run(smoke_run)
    assert run.schema_version >= 1
    assert run.status == "complete"
    assert run.scenario.name == "smoke"
    assert run.host.cpu_count_logical >= 1
    assert run.host.ram_bytes > 0
    assert "locust" in run.packages
    assert run.started_at < (run.ended_at or "")
    assert list(run.targets) == TARGETS


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_delivers_everything_exactly_once(smoke_run: Path, target: str):
    result = load_run(smoke_run).targets[target]
    assert result.status is TargetStatus.OK, result.error
    assert result.verification is not None
    assert result.verification is not None
    assert result.verification.passed
    metrics = result.metrics
    assert metrics["expected"] > 0
    assert metrics["delivered"] == metrics["expected"]
    assert metrics["lost"] == metrics["duplicated"] == metrics["out_of_order"] == 0
    assert metrics["errors"] == 0
    assert metrics["requests"] > 0
    assert metrics["bytes_sent"] > 0
    assert metrics["bytes_received"] > 0
    assert metrics["delivery_p50_ms"] is not None
    assert metrics["resource_samples"] >= 4  # >= 2 Hz over seconds of load
    assert metrics["server_connections_max"] >= 6
    assert metrics["server_cpu_s"] > 0
    assert result.flags == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_leaves_its_files(smoke_run: Path, target: str):
    directory = smoke_run / target
    for name in ("locust_stats.csv", "locust_stats_history.csv", "resources.csv", "loadgen.json"):
        assert (directory / name).stat().st_size > 0, name
    assert (directory / "hdr" / "delivery.hgrm").exists()
    assert (directory / "hdr" / "delivery.hdr").exists()
    with (directory / "resources.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert max(float(row["server_cpu_s"]) for row in rows) > 0
    assert max(int(row["server_fds"]) for row in rows) > 0
    with (directory / "locust_stats.csv").open() as handle:
        names = {row["Name"] for row in csv.DictReader(handle)}
    assert {"deliver", "publish"} <= names


def test_summary_csv_is_one_tidy_row_per_target_and_metric(smoke_run: Path):
    assert (smoke_run / RUN_FILE).exists()
    with (smoke_run / SUMMARY_FILE).open() as handle:
        rows = list(csv.DictReader(handle))
    keys = [(row["target"], row["metric"], row["step"]) for row in rows]
    assert len(keys) == len(set(keys))
    assert {row["target"] for row in rows} == set(TARGETS)
    delivered = {row["target"]: row["value"] for row in rows if row["metric"] == "delivered"}
    expected = {row["target"]: row["value"] for row in rows if row["metric"] == "expected"}
    assert delivered == expected
