from __future__ import annotations

import math

from analysis.load import load_run_dir
from analysis.palette import COLOURS, colour_of, target_colours, target_order
from contract.lambda_report import REPORT_LOG_FILE
from contract.registry import TARGETS
from tests.fixtures import SMOKE_RUN


def test_targets_come_in_registry_order(smoke):
    assert smoke.targets == [name for name in TARGETS if name in smoke.run.targets]
    assert smoke.measured == smoke.targets  # every target of the smoke fixture ran
    assert smoke.serverless == ["lambda"]


def test_metrics_frame_has_a_row_per_target_with_summary_csv_values(smoke):
    assert list(smoke.metrics.index) == smoke.targets
    for target in smoke.targets:
        for metric in ("delivered", "expected", "delivery_p50_ms", "bytes_per_delivered"):
            recorded = smoke.run.targets[target].metrics.get(metric)
            value = smoke.metric(target, metric)
            assert (recorded is None and math.isnan(value)) or value == recorded
    assert math.isnan(smoke.metric("sse", "no_such_metric"))


def test_latency_distribution_is_a_cdf_per_target(smoke):
    latency = smoke.latency
    with_deliveries = [t for t in smoke.targets if smoke.metric(t, "delivered") > 0]
    assert set(latency["target"]) == set(with_deliveries)
    for target, rows in latency.groupby("target"):
        assert rows["latency_ms"].is_monotonic_increasing
        assert rows["fraction"].is_monotonic_increasing
        assert rows["fraction"].iloc[-1] == 1.0
        # the histogram's median is the run's p50 (both from the same HDR data)
        median = rows[rows["fraction"] >= 0.5]["latency_ms"].iloc[0]
        assert math.isclose(median, smoke.metric(str(target), "delivery_p50_ms"), rel_tol=0.01)


def test_resources_and_latency_history_share_a_time_axis(smoke):
    resources, history = smoke.resources, smoke.latency_history
    assert set(resources["target"]) == set(smoke.targets)
    assert (resources.groupby("target")["elapsed_s"].min() < 1).all()
    assert not history.empty
    assert (history["elapsed_s"] >= 0).all()
    assert history["p50_ms"].dropna().gt(0).all()  # zeros before the first delivery dropped


def test_lambda_reports_joined_with_the_emulator_notes(smoke):
    reports = smoke.lambda_reports
    log = (SMOKE_RUN / "lambda" / REPORT_LOG_FILE).read_text().splitlines()
    assert len(reports) == sum(line.startswith("REPORT") for line in log)
    assert reports["cold_start"].sum() == sum("Init Duration" in line for line in log)
    assert {"ConnectFunction", "SendMessageFunction"} <= set(reports["function"])
    assert (reports["billed_ms"] >= reports["duration_ms"]).all()


def test_a_run_without_sweep_or_lambda_loads_empty_frames(tmp_path):
    from tests.fixtures import copy_smoke_run

    run_dir = copy_smoke_run(tmp_path / "run")
    (run_dir / "lambda" / REPORT_LOG_FILE).unlink()
    data = load_run_dir(run_dir)
    assert data.sweep.empty
    assert data.lambda_reports.empty
    assert data.serverless == []


def test_palette_follows_the_registry_and_is_stable():
    colours = target_colours()
    assert list(colours)[: len(TARGETS)] == list(TARGETS)
    assert colours["short-polling"] == COLOURS[0]
    assert colour_of("lambda") == colours["lambda"]
    extra = target_colours(["zeta", "alpha"])
    assert extra["alpha"] != extra["zeta"]
    assert target_order(["zeta", "sse", "short-polling"]) == ["short-polling", "sse", "zeta"]
