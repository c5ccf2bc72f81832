from __future__ import annotations

import json

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from analysis.figures import (
    FIGURES,
    MissingData,
    build_figures,
    delivery_cdf,
    latency_and_cpu_over_time,
    latency_vs_users,
)
from analysis.load import load_run_dir
from analysis.palette import colour_of
from analysis.theory import short_polling_mean_ms, short_polling_p99_ms
from contract.lambda_report import REPORT_LOG_FILE
from contract.results import RUN_FILE
from tests.fixtures import copy_smoke_run


@pytest.fixture(scope="module")
def rendered(smoke):
    return {r.spec.key: r for r in build_figures(smoke)}


def test_every_figure_is_drawn_or_explained(rendered):
    assert set(rendered) == {spec.key for spec in FIGURES}
    for key, result in rendered.items():
        if key == "latency-vs-users":
            assert result.figure is None
            assert "no sweep" in (result.note or "")
        elif key == "lambda-memory":  # the smoke run predates the tune: test_lambda_memory.py
            assert result.figure is None
            assert "no memory tune" in (result.note or "")
        elif key == "latency-vs-rtt":  # the smoke run ran on loopback, no --network
            assert result.figure is None
            assert "no target measured under a network profile" in (result.note or "")
        elif key == "cost-vs-users":  # drawn in tests/reports/test_capacity.py
            assert result.figure is None
            assert "no capacity measured" in (result.note or "")
        elif key == "overload":  # drawn in tests/loadtests/test_run_overload.py
            assert result.figure is None
            assert "no target ran an overload" in (result.note or "")
        else:
            assert isinstance(result.figure, Figure), (key, result.note)
            assert result.figure.axes


def test_one_colour_per_target_in_every_plot(smoke):
    for build in (delivery_cdf, latency_and_cpu_over_time):
        lines = [line for ax in build(smoke).axes for line in ax.get_lines()]
        labelled = [line for line in lines if line.get_label() in smoke.targets]
        assert labelled
        for line in labelled:
            assert to_hex(line.get_color()) == colour_of(str(line.get_label())).lower()


def test_the_delivery_cdf_uses_a_log_latency_axis(smoke):
    (ax,) = delivery_cdf(smoke).axes
    assert ax.get_xscale() == "log"


def test_without_lambda_its_figures_become_notes(tmp_path):
    run_dir = copy_smoke_run(tmp_path / "run")
    (run_dir / "lambda" / REPORT_LOG_FILE).unlink()
    results = {r.spec.key: r for r in build_figures(load_run_dir(run_dir))}
    assert results["lambda"].figure is None
    assert "REPORT" in (results["lambda"].note or "")
    assert results["cost-vs-users"].figure is None
    assert results["delivery-cdf"].figure is not None


def test_a_sweep_draws_latency_against_users(tmp_path):
    run_dir = copy_smoke_run(tmp_path / "run")
    run = json.loads((run_dir / RUN_FILE).read_text())
    run["scenario"]["sweep"] = {"step_rooms": 2, "max_rooms": 6, "slo_p95_ms": 50.0}
    run["targets"]["sse"]["sweep"] = [
        {"step": i, "rooms": 2 * i, "users": 6 * i, "delivered_per_s": 10.0 * i,
         "p50_ms": 1.0 * i, "p95_ms": 5.0 * i, "p99_ms": 8.0 * i, "passed": True}
        for i in (1, 2, 3)
    ]  # fmt: skip
    (run_dir / RUN_FILE).write_text(json.dumps(run))
    (ax,) = latency_vs_users(load_run_dir(run_dir)).axes
    sse = [line for line in ax.get_lines() if line.get_label() == "sse"]
    assert list(sse[0].get_xdata()) == [6, 12, 18]
    assert list(sse[0].get_ydata()) == [5.0, 10.0, 15.0]


def test_missing_data_is_an_exception_a_caller_can_catch(tmp_path):
    run_dir = copy_smoke_run(tmp_path / "run")
    with pytest.raises(MissingData):
        latency_vs_users(load_run_dir(run_dir))


def test_short_polling_theory():
    assert short_polling_mean_ms(1.0, 2.5) == 502.5
    assert short_polling_p99_ms(0.2) == pytest.approx(198.0)
