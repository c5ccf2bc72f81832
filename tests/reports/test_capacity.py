"""The report's "Capacity per core" and "At your scale" sections, on the smoke run with
capacity readings added (as `tbench run --scenario capacity` writes them)."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup

from analysis.load import load_run_dir
from contract.capacity import capacity_of
from contract.lambda_report import REPORT_LOG_FILE
from contract.results import load_run, save_run
from cost_model.pricing import load_pricing
from reports.build import REPORT_HTML, build_report
from reports.capacity import SCALES, capacity_section
from tests.contract.capacity_steps import ramp
from tests.fixtures import copy_smoke_run

RAMPS = {
    "websocket": ramp((2_000, 5, True), (4_000, 12, True), (6_000, 40, True)),
    "sse": ramp((2_000, 8, True), (3_000, 60, True), (4_500, 700, False)),
    "long-polling": ramp((500, 20, True), (800, 400, False)),
}


def _with_capacity(tmp_path: Path) -> Path:
    run_dir = copy_smoke_run(tmp_path / "run")
    run = load_run(run_dir)
    for target, steps in RAMPS.items():
        run.targets[target].capacity = capacity_of(
            steps, cpu_quota_vcpu=0.25, slo_p99_ms=100, base_rss_mb=50.0
        )
    save_run(run_dir, run)
    return run_dir


def test_the_section_has_a_row_per_measured_target_and_says_what_bound_it(tmp_path: Path):
    section = capacity_section(load_run_dir(_with_capacity(tmp_path)), load_pricing())
    assert section is not None
    rows = {row.target: row for row in section.rows}
    assert set(rows) == set(RAMPS)
    assert rows["sse"].capacity == "3,000"
    assert rows["sse"].per_core == "12,000"
    assert rows["sse"].bound == "server"
    assert rows["websocket"].capacity == "≥ 6,000"  # the ramp never failed
    assert rows["websocket"].bound == "ramp ended"


def test_at_your_scale_sizes_each_transport_at_three_scales(tmp_path: Path):
    section = capacity_section(load_run_dir(_with_capacity(tmp_path)), load_pricing())
    assert section is not None
    assert len(section.scales) == len(SCALES) * (len(RAMPS) + 1)  # and the lambda target
    at_million = {row.transport: row for row in section.scales if row.users == "1,000,000"}
    assert at_million["lambda"].servers.startswith("Lambda ")
    # 1,000,000 users x 0.2 x 0.2 msg/s x 10 members = 400,000 deliveries/s
    # websocket: 67 tasks for CPU (/ 6,000 per task), but 1,000,000 x 0.1 MB of connections
    # over 0.45 GB usable a task needs 217
    assert at_million["websocket"].servers.startswith("217 ×")
    assert any("websocket: sized by memory" in note for note in section.notes)
    assert at_million["long-polling"].servers.startswith("800 ×")  # / 500 per task
    assert sum(row.cheapest for row in at_million.values()) == 1


def test_the_html_report_shows_both_sections_and_a_run_without_capacity_does_not(
    tmp_path: Path,
):
    run_dir = _with_capacity(tmp_path)
    build_report(run_dir, formats=("html",))
    page = BeautifulSoup((run_dir / REPORT_HTML).read_text(), "html.parser")
    assert page.select("#capacity tr[data-target='sse']")
    assert len(page.select("#at-your-scale tbody tr")) == len(SCALES) * (len(RAMPS) + 1)
    assert page.select("#at-your-scale ul.crossovers li")
    assert page.select_one('svg[aria-label="fig-cost-vs-users"]') is not None
    plain = copy_smoke_run(tmp_path / "alone" / "plain")
    assert capacity_section(load_run_dir(plain), load_pricing()) is None


def test_a_run_takes_capacity_from_the_run_beside_it_and_says_which(tmp_path: Path):
    # `make bench`: the capacity run (no lambda target), then the chat run (no capacity)
    capacity_dir = _with_capacity(tmp_path / "results")
    (capacity_dir / "lambda" / REPORT_LOG_FILE).unlink()
    chat_dir = copy_smoke_run(tmp_path / "results" / "chat")
    section = capacity_section(load_run_dir(chat_dir), load_pricing())
    assert section is not None
    assert section.sources == [f"capacity from run {capacity_dir.name}"]
    assert {row.transport for row in section.scales} == {*RAMPS, "lambda"}
    assert len(section.crossovers) == len(RAMPS)
    # and the capacity run's own report prices the lambda target measured beside it
    own = capacity_section(load_run_dir(capacity_dir), load_pricing())
    assert own is not None
    assert own.sources == [f"lambda from run {chat_dir.name}"]
