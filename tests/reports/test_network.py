"""The report's "Over emulated links" section and delivery-vs-RTT figure, on the smoke run with
`network` blocks added to run.json (as `tbench run --network` writes them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from analysis.figures.network import latency_vs_rtt, network_points
from analysis.load import load_run_dir
from contract.results import NetworkRecord, load_run, save_run
from reports.build import REPORT_HTML, build_report
from reports.network import network_section
from tests.fixtures import copy_smoke_run

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

MEASURED_RTT_MS = {"short-polling": 103.0, "websocket": 131.0}  # websocket's: 31 % off
RELAY_CPU_PERCENT = {"short-polling": 12.0, "websocket": 95.0}  # websocket's relay: saturated


def _with_network(tmp_path: Path) -> Path:
    run_dir = copy_smoke_run(tmp_path / "run")
    run = load_run(run_dir)
    for target, rtt in MEASURED_RTT_MS.items():
        run.targets[target].network = NetworkRecord.model_validate(
            {
                "profile": {"name": "rtt=100ms,loss=1%", "rtt_ms": 100.0, "loss": 0.01},
                "mechanism": "relay+tbf+iptables",
                "rtt_p50_ms": rtt,
                "server_retrans_segs": 3,
                "client_retrans_segs": 4,
                "relay_cpu_us_per_delivered": 41.5,
                "relay_cpu_percent": RELAY_CPU_PERCENT[target],
            }
        )
    save_run(run_dir, run)
    return run_dir


def test_a_resuming_target_losing_messages_over_the_link_is_a_warning(tmp_path: Path):
    run_dir = _with_network(tmp_path / "a")
    run = load_run(run_dir)
    run.targets["short-polling"].metrics["lost"] = 4
    save_run(run_dir, run)
    section = network_section(load_run_dir(run_dir))
    assert section is not None
    assert any(w.startswith("short-polling: 4 messages lost") for w in section.warnings)


def test_one_row_per_target_under_a_profile_and_warnings_for_rtt_off_and_a_busy_relay(
    tmp_path: Path,
):
    section = network_section(load_run_dir(_with_network(tmp_path)))
    assert section is not None
    rows = {row.target: row for row in section.rows}
    assert set(rows) == set(MEASURED_RTT_MS)
    assert rows["short-polling"].rtt == "100 / 103"
    assert rows["short-polling"].retransmits == "7"
    assert rows["short-polling"].loss == "1 %"
    assert rows["short-polling"].off_rtt is None
    assert rows["websocket"].off_rtt is not None
    assert len(section.warnings) == 2
    assert "measured RTT (131.0 ms)" in section.warnings[0]
    assert "relay used 95 %" in section.warnings[1]
    assert all(warning.startswith("websocket") for warning in section.warnings)


def test_no_section_and_no_figure_without_network_profiles(tmp_path: Path):
    data = load_run_dir(copy_smoke_run(tmp_path / "run"))
    assert network_section(data) is None
    assert network_points(data) == {}


def test_the_figure_has_a_line_per_transport_and_short_pollings_theory(tmp_path: Path):
    data = load_run_dir(_with_network(tmp_path))
    assert set(network_points(data)) == set(MEASURED_RTT_MS)
    figure = latency_vs_rtt(data)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert "short-polling" in labels
    assert "websocket" in labels
    assert any("T/2 + 1.5·RTT" in label for label in labels)


def test_the_html_report_shows_the_section(tmp_path: Path):
    run_dir = _with_network(tmp_path)
    build_report(run_dir, ["html"])
    soup = BeautifulSoup((run_dir / REPORT_HTML).read_text(), "html.parser")
    rows = soup.select("#network tbody tr")
    assert [row["data-target"] for row in rows] == ["short-polling", "websocket"]
    assert "contradiction" in rows[1].get("class", [])
    assert soup.select_one("#latency-vs-rtt svg") is not None
