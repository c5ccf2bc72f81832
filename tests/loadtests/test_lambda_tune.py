"""`tbench lambda tune`: the real sendMessage handler at several memory sizes, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servers.cgroups import ROOT_ENV
from servers.lambda_ws.cpu_model import quotas_available
from tbench.lambda_tune import parse_memory_sizes, percentile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROW_FIELDS = {
    "memory_mb",
    "duration_p50_ms",
    "duration_p95_ms",
    "billed_duration_p50_ms",
    "usd_per_million",
    "cheapest",
    "fastest",
    "cpu_modelled",
}
needs_quotas = pytest.mark.skipif(
    os.geteuid() != 0 or not quotas_available(), reason="needs root and the cpu controller"
)


def tbench_tune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tbench lambda tune ARGS` as a subprocess; stderr with rich's wrapping undone."""
    done = subprocess.run(
        [sys.executable, "-m", "tbench.cli", "lambda", "tune", *args],
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, **(env or {})},
    )
    done.stderr = " ".join(done.stderr.split())
    return done


def json_rows(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


@needs_quotas
def test_tune_json_has_the_fields_and_128_mb_is_far_slower_than_1769() -> None:
    rows = json_rows(tbench_tune("--memory", "128,1769", "--invocations", "5", "--json"))
    assert [row["memory_mb"] for row in rows] == [128, 1769]
    for row in rows:
        assert row.keys() >= ROW_FIELDS
        assert row["cpu_modelled"] is True
        assert row["duration_p50_ms"] <= row["duration_p95_ms"]
        assert row["billed_duration_p50_ms"] >= row["duration_p50_ms"]
        assert row["usd_per_million"] > 0.20  # the requests alone cost 0.20 per million
    small, large = rows
    # ~10x on a quiet machine (13.8x the CPU); a busy one cannot give 1,769 MB its whole core
    assert small["duration_p50_ms"] > 2 * large["duration_p50_ms"]
    assert large["fastest"]
    assert not small["fastest"]
    assert sum(row["cheapest"] for row in rows) == 1


def test_without_the_cpu_model_every_row_says_unmodelled() -> None:
    rows = json_rows(
        tbench_tune("--memory", "128,1769", "--invocations", "5", "--json", "--no-cpu-model")
    )
    assert [row["cpu_modelled"] for row in rows] == [False, False]
    assert {row["unmodelled_reason"] for row in rows} == {"turned off (--no-cpu-model)"}


def test_without_a_cgroup_to_write_the_durations_are_marked_unmodelled(tmp_path: Path) -> None:
    done = tbench_tune("--memory", "256", "--invocations", "1", env={ROOT_ENV: str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "durations unmodelled" in done.stderr
    assert "no cpu controller" in done.stderr
    assert "256 MB" in done.stdout


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        ("64", "64 MB is outside Lambda's memory range (128 to 10,240 MB)"),
        ("128,10241", "10241 MB is outside Lambda's memory range"),
        ("abc", "'abc' is not a whole number of MB"),
        (",", "names no size"),
    ],
)
def test_bad_memory_sizes_get_a_clear_error(memory: str, message: str) -> None:
    done = tbench_tune("--memory", memory)
    assert done.returncode == 2
    assert message in done.stderr


def test_memory_sizes_parse_in_order_without_repeats() -> None:
    assert parse_memory_sizes(" 512, 128 ,512,10240") == [512, 128, 10240]


def test_percentiles_are_measured_values() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([7.0], 0.5)) == (
        3.0,
        5.0,
        7.0,
    )
