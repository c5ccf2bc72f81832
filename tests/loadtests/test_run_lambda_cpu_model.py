"""`tbench run -t lambda`: the CPU model in run.json, the short memory tune, --no-cpu-model."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from contract.results import FLAG_DURATIONS_UNMODELLED, TargetResult, TargetStatus, load_run
from servers.cgroups import ROOT_ENV, find_hierarchy
from servers.lambda_ws.cpu_model import GROUP_DIR, quotas_available
from tbench.runner.lambda_target import RUN_TUNE_INVOCATIONS, run_tune_sizes

from .tbench_cli import tbench_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def run_lambda(out: Path, *args: str) -> TargetResult:
    """A smoke run of the lambda target, not verified (verify runs without the CPU model, and
    the conformance tests verify this target: 20 of a run's 44 s); its result."""
    args = ("--scenario", "smoke", "--targets", "lambda", "--run-id", "r", "--no-verify", *args)
    done = tbench_run(out, *args, timeout_s=240)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    result = load_run(out / "r").targets["lambda"]
    assert result.status is TargetStatus.OK, result.error
    return result


@pytest.mark.skipif(
    os.geteuid() != 0 or not quotas_available(), reason="needs root and the cpu controller"
)
def test_a_run_records_the_model_and_tunes_memory_without_contention(tmp_path: Path) -> None:
    result = run_lambda(tmp_path)
    assert result.deployment is not None
    model = result.deployment.cpu_model
    assert model is not None
    assert (model.enabled, model.modelled, model.period_us) == (True, True, 20_000)
    assert result.deployment.function_memory_mb == 256
    assert FLAG_DURATIONS_UNMODELLED not in result.flags
    rows = {row.memory_mb: row for row in result.lambda_tune}
    assert sorted(rows) == run_tune_sizes() == [128, 256, 512, 1769]
    assert all(row.invocations == RUN_TUNE_INVOCATIONS for row in rows.values())
    assert rows[128].duration_p50_ms > rows[1769].duration_p50_ms
    assert "tune/tune-256mb-reports.log" in result.files
    hierarchy = find_hierarchy()
    assert hierarchy is not None
    groups = hierarchy.path / GROUP_DIR
    # none left by an emulator that has ended (other tests' emulators may run meanwhile)
    left = [p for p in groups.iterdir() if p.is_dir()] if groups.exists() else []
    assert [p for p in left if not psutil.pid_exists(int(p.name))] == []


def test_no_cpu_model_flags_the_durations_unmodelled(tmp_path: Path) -> None:
    result = run_lambda(tmp_path, "--no-cpu-model")
    assert result.deployment is not None
    model = result.deployment.cpu_model
    assert model is not None
    assert (model.enabled, model.modelled) == (False, False)
    assert model.reason == "turned off (--no-cpu-model)"
    assert FLAG_DURATIONS_UNMODELLED in result.flags
    assert [row.cpu_modelled for row in result.lambda_tune] == [False] * len(run_tune_sizes())


def test_without_permission_the_run_says_unmodelled_and_does_not_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-cgroup").mkdir()  # the emulator inherits this root: no quota can be set
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "not-a-cgroup"))
    result = run_lambda(tmp_path)
    assert result.deployment is not None
    model = result.deployment.cpu_model
    assert model is not None
    assert (model.enabled, model.modelled) == (True, False)
    assert "no cpu controller" in str(model.reason)
    assert FLAG_DURATIONS_UNMODELLED in result.flags
