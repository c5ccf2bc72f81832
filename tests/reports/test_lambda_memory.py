"""The report's Lambda memory figure, its CPU model text, and the durations it prices from.

The committed smoke run predates the memory tune, so a real tune (the emulator, 10 real
WebSocket clients, the real handler) is measured here and put into a copy of it, the way
`tbench run` records one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.figures import lambda_memory
from analysis.load import load_run_dir
from contract.results import (
    FLAG_DURATIONS_UNMODELLED,
    FLAG_UNDER_DELIVERED,
    RUN_FILE,
    TargetResult,
    load_run,
)
from cost_model.duration_source import duration_source
from cost_model.measured import measured_from
from reports.context import report_context
from reports.methodology import methodology, warnings
from tbench.lambda_tune import tune
from tests.fixtures import copy_smoke_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MODELLED = {
    "enabled": True,
    "modelled": True,
    "mechanism": "cgroup v1 cpu.cfs_quota_us",
    "period_us": 20_000,
    "mb_per_vcpu": 1769,
    "reason": None,
}


@pytest.fixture(scope="module")
def tune_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """A real tune at two sizes, two invocations each (the CPU model as this host allows)."""
    directory = tmp_path_factory.mktemp("tune")
    return [row.model_dump() for row in tune([128, 256], 2, directory=directory)]


def run_with(tmp_path: Path, lambda_fields: dict[str, Any]) -> Path:
    """A copy of the smoke run whose lambda target carries `lambda_fields`."""
    run_dir = copy_smoke_run(tmp_path / "run")
    run = json.loads((run_dir / RUN_FILE).read_text())
    run["targets"]["lambda"].update(lambda_fields)
    (run_dir / RUN_FILE).write_text(json.dumps(run))
    return run_dir


def test_a_saturated_run_is_priced_from_the_tune_and_the_figure_shows_it(
    tmp_path: Path, tune_rows: list[dict[str, Any]]
) -> None:
    deployment = {"cpu_model": MODELLED, "function_memory_mb": 256}
    run_dir = run_with(tmp_path, {"deployment": deployment, "lambda_tune": tune_rows})
    data = load_run_dir(run_dir)
    assert FLAG_UNDER_DELIVERED in data.run.targets["lambda"].flags  # the smoke run's own
    at_256 = next(row for row in tune_rows if row["memory_mb"] == 256)
    (serverless,) = measured_from(data.run, run_dir).serverless
    assert float(serverless.send_ms_per_message) == at_256["billed_duration_p50_ms"]
    assert "the memory tune's p50 at 256 MB" in serverless.durations_from
    context = report_context(data)
    assert any(
        "lambda: Lambda priced from sendMessage at" in line
        for line in context.cost_tables[0].assumptions
    )
    figure = next(block for block in context.figures if block.key == "lambda-memory")
    assert figure.svg is not None
    assert figure.note is None
    assert "configured" in figure.svg
    assert "cheapest" in figure.svg
    (_, text), *_ = methodology(data).deployments
    assert text.startswith("Lambda CPU model: each execution environment gets memory / 1,769")


def test_an_unsaturated_run_is_priced_from_its_own_durations(
    tmp_path: Path, tune_rows: list[dict[str, Any]]
) -> None:
    run = load_run(copy_smoke_run(tmp_path / "run"))
    result = TargetResult.model_validate(
        run.targets["lambda"].model_dump()
        | {
            "flags": [],
            "metrics": {"server_cpu_percent_mean": 90.0},
            "lambda_tune": tune_rows,
            "deployment": {"function_memory_mb": 256},
        }
    )
    source = duration_source(result, cores=2)
    assert source.send_ms is None
    assert source.note == "the run's own billed durations (the run was not saturated)"
    busy = result.model_copy(update={"metrics": {"server_cpu_percent_mean": 175.0}})
    assert "emulator CPU 175 % of 200 %" in duration_source(busy, cores=2).note
    assert duration_source(busy, cores=4).send_ms is None  # 175 % of 400 % is not CPU-bound


def test_without_a_tune_the_figure_is_a_note_and_the_run_prices_itself(tmp_path: Path) -> None:
    data = load_run_dir(run_with(tmp_path, {}))
    with pytest.raises(Exception, match="no memory tune"):
        lambda_memory(data)
    (serverless,) = measured_from(data.run, data.path).serverless
    assert serverless.uncontended_send_ms is None
    assert "though saturated" in serverless.durations_from


def test_unmodelled_durations_are_a_warning(tmp_path: Path) -> None:
    state = {**MODELLED, "modelled": False, "mechanism": None, "reason": "no cpu controller"}
    flags = [FLAG_UNDER_DELIVERED, FLAG_DURATIONS_UNMODELLED]
    data = load_run_dir(run_with(tmp_path, {"flags": flags, "deployment": {"cpu_model": state}}))
    notes = warnings(data)
    assert any(
        note.startswith("lambda: Lambda's CPU model was off: no cpu controller.")
        and "not what AWS would bill" in note
        for note in notes
    )
