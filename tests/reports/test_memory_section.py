"""The report's Memory section: figures apart, and a soak's RSS line with its verdict."""

from __future__ import annotations

from pathlib import Path

from analysis.load import load_run_dir
from contract.results import load_run, save_run
from contract.soak import SoakRule, soak_result
from reports.memory import memory_section
from tests.fixtures import copy_smoke_run


def test_a_soak_shows_its_three_readings_and_its_verdict(tmp_path: Path):
    run_dir = copy_smoke_run(tmp_path / "run")
    run = load_run(run_dir)
    rule = SoakRule(max_rss_growth_percent=5.0)
    run.targets["sse"].soak = soak_result(rule, 40_000_000, 50_000_000, 51_000_000, 900)
    run.targets["websocket"].soak = soak_result(rule, 40_000_000, 50_000_000, 60_000_000, 900)
    run.targets["websocket"].metrics["server_rss_per_connection_net_bytes"] = 20_480
    save_run(run_dir, run)
    section = memory_section(load_run_dir(run_dir))
    assert section is not None
    assert section.soak
    rows = {row.target: row for row in section.rows}
    sse, websocket = rows["sse"], rows["websocket"]
    assert (sse.soak_start_mb, sse.soak_after_warmup_mb, sse.soak_end_mb) == (
        "40.0",
        "50.0",
        "51.0",
    )
    assert sse.soak_growth == "+2.0 % (limit 5 %)"
    assert sse.soak_passed
    assert websocket.soak_growth == "+20.0 % (limit 5 %)"
    assert websocket.soak_passed is False
    assert websocket.per_connection_kib == "20.0"
    assert rows["short-polling"].soak_passed is None  # no soak recorded
    assert rows["lambda"].per_connection_kib == "emulator"
