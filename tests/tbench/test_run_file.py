"""run.json read back: committed runs load as they are; a damaged, foreign or newer file gets
one line naming the file and what is wrong, through `load_run` and `tbench report` alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.results import (
    RUN_FILE,
    SCHEMA_VERSION,
    RunFileError,
    load_run,
    save_run,
)
from contract.scenario import Scenario
from tbench.cli import app
from tests.fixtures import SMOKE_RUN, copy_smoke_run

runner = CliRunner()


def test_every_committed_run_loads_with_its_parts_typed():
    for run_file in sorted(SMOKE_RUN.parent.glob(f"*/{RUN_FILE}")):
        run = load_run(run_file.parent)
        assert isinstance(run.scenario, Scenario)
        assert run.held_equal is not None
        assert run.held_equal.limits.history_size == 10_000
        verification = run.targets["sse"].verification
        assert verification is not None
        assert verification.passed


def test_a_run_written_again_keeps_its_shape(tmp_path: Path):
    run_dir = copy_smoke_run(tmp_path / "run")
    before = json.loads((run_dir / RUN_FILE).read_text())
    save_run(run_dir, load_run(run_dir))
    after = json.loads((run_dir / RUN_FILE).read_text())
    assert after["held_equal"] == before["held_equal"]  # no limits it did not record
    # it predates faults, the memory tune, network profiles, capacity, soaks and overloads:
    # those come as "none"
    added = {
        "faults": [],
        "lambda_tune": [],
        "network": None,
        "capacity": None,
        "soak": None,
        "overload": None,
    }
    assert after["targets"] == {key: old | added for key, old in before["targets"].items()}
    assert after["scenario"] == before["scenario"] | {
        "faults": None,
        "soak": None,
        "overload": None,
    }


def _problem(run_dir: Path) -> str:
    """What `tbench report` says about the run directory (asserting: one line, exit 2)."""
    result = CliRunner().invoke(app, ["report", str(run_dir), "--format", "html"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def _damaged(tmp_path: Path, text: str) -> Path:
    run_dir = copy_smoke_run(tmp_path / "run")
    (run_dir / RUN_FILE).write_text(text)
    return run_dir


def test_a_truncated_run_json_is_one_line_naming_the_file(tmp_path: Path):
    run_dir = _damaged(tmp_path, (SMOKE_RUN / RUN_FILE).read_text()[:400])
    with pytest.raises(RunFileError, match=r"run\.json: not valid JSON \(") as raised:
        load_run(run_dir)
    assert "\n" not in str(raised.value)
    assert _problem(run_dir) == str(raised.value)
    assert str(run_dir / RUN_FILE) in _problem(run_dir)


def test_a_newer_schema_version_is_called_newer(tmp_path: Path):
    run = json.loads((SMOKE_RUN / RUN_FILE).read_text()) | {"schema_version": 99}
    run_dir = _damaged(tmp_path, json.dumps(run))
    problem = _problem(run_dir)
    assert problem.startswith(f"{run_dir / RUN_FILE}: schema_version 99 is newer than this")
    assert f"supports ({SCHEMA_VERSION})" in problem


def test_a_foreign_json_file_names_the_first_field_at_fault(tmp_path: Path):
    run_dir = _damaged(tmp_path, json.dumps({"name": "a package", "version": "1.0"}))
    problem = _problem(run_dir)
    assert problem.startswith(f"{run_dir / RUN_FILE}: not a run.json of schema_version 1:")
    assert "field 'run_id': Field required (and" in problem
    assert _problem(_damaged(tmp_path / "list", "[1, 2]")).endswith(
        "not a run.json (a JSON list, not an object)"
    )


def test_a_damaged_part_is_named_by_its_path(tmp_path: Path):
    run = json.loads((SMOKE_RUN / RUN_FILE).read_text())
    run["scenario"]["users_per_room"] = 0
    problem = _problem(_damaged(tmp_path, json.dumps(run)))
    assert "field 'scenario.users_per_room': Input should be greater than 0" in problem
