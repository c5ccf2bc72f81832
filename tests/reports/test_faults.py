"""The report's "Delivery under faults" section, on the smoke run with faults added to run.json."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from analysis.load import load_run_dir
from contract.results import FLAG_FAULTS, FaultOutcome, load_run, save_run
from contract.scenario import parse_scenario
from loadtests import scenario_files
from reports.build import REPORT_HTML, REPORT_PDF, build_report
from reports.compare import compare_runs
from reports.faults import fault_section, room_rate_per_s
from tests.fixtures import copy_smoke_run

T0 = 1_700_000_000.0  # the first slot's start (epoch s)
SLOT_S = 8.0
KINDS = ("drop", "slow", "restart")
MB = 1_000_000


def _fault(kind: str, index: int, **figures: object) -> FaultOutcome:
    start = T0 + index * SLOT_S
    base: dict[str, object] = {
        "kind": kind,
        "window_start": start,
        "window_end": start + SLOT_S,
        "planned_at": start + 1.0,
        "injected_at": start + 1.0,
        "expected": 240,
        "delivered": 240,
        "late_after_s": 2.0,
        "rss_before_bytes": 40 * MB,
        "rss_peak_bytes": 52 * MB,
        "resume_covers_s": 666.7,  # the smoke run's history_size 10,000 at 15 msg/s per room
    }
    if kind == "restart":
        base |= {"server_down_s": 1.24, "reconnects": 6, "reconnect_p50_ms": 812.0}
        base |= {"reconnect_max_ms": 1430.0, "recovered_s": 2.6, "lost": 30, "delivered": 210}
    if kind == "slow":
        base |= {"slow_clients": 2, "late": 17}
    if kind == "drop":
        base |= {"dropped": 6, "reconnects": 6, "reconnect_p50_ms": 700.0}
        base |= {"reconnect_max_ms": 1400.0, "recovered_s": 1.5}
    return FaultOutcome.model_validate(base | figures)


def _faults(target: str) -> list[FaultOutcome]:
    """drop, slow, restart; sse breaks its drop promise, websocket's loss reached no one."""
    drop: dict[str, object] = {}
    if target == "sse":
        drop = {"lost": 5, "delivered": 235}  # a resuming target losing across a drop
    if target == "websocket":
        drop = {"lost": 3, "delivered": 237, "lost_everywhere": 3}  # sent into the closing socket
    if target == "lambda":
        drop = {"lost": 48, "delivered": 192, "resume_covers_s": None}
    if target == "short-polling":  # polling clients reconnect inside their next request
        drop = {"reconnects": 0, "reconnect_p50_ms": None, "reconnect_max_ms": None}
        drop |= {"recovered_s": None, "dropped": 0}
    faults = [_fault("drop", 0, **drop), _fault("slow", 1), _fault("restart", 2)]
    if target == "long-polling":  # the run ended before its restart
        faults[2] = _fault(
            "restart",
            2,
            injected_at=None,
            error="not injected (the run ended first)",
            server_down_s=None,
            reconnects=0,
            reconnect_p50_ms=None,
            reconnect_max_ms=None,
            recovered_s=None,
            lost=0,
            delivered=240,
        )
    if target == "lambda":
        faults = [fault.model_copy(update={"resume_covers_s": None}) for fault in faults]
        faults[2] = faults[2].model_copy(update={"not_reconnected": 2, "lost": 60})
    return faults


def faults_run(destination: Path, sse_p99_times: float = 1.0) -> Path:
    """The smoke run as if run with --faults drop,slow,restart: outcomes, flag, scenario."""
    run_dir = copy_smoke_run(destination)
    run = load_run(run_dir)
    p99 = run.targets["sse"].metrics["delivery_p99_ms"]
    assert p99 is not None
    run.targets["sse"].metrics["delivery_p99_ms"] = p99 * sse_p99_times
    faults = {
        "kinds": list(KINDS),
        "lead_s": 1.0,
        "late_after_s": 2.0,
        "slow_fraction": 0.2,
        "slow_for_s": 4.0,
    }
    # three slots of SLOT_S: the smoke scenario's measured window is too short for them
    measured_s = SLOT_S * len(KINDS)
    run.scenario = parse_scenario(
        run.scenario.model_dump() | {"duration_s": measured_s, "faults": faults}
    )
    for name, result in run.targets.items():
        result.faults = _faults(name)
        result.flags.append(FLAG_FAULTS)
    save_run(run_dir, run)
    return run_dir


def _no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reports.context.figure_blocks", lambda *_: [])  # drawn in test_report


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _no_figures(monkeypatch)
        run_dir = faults_run(tmp_path_factory.mktemp("faults") / "run")
        build_report(run_dir)  # html and pdf
    return run_dir


@pytest.fixture(scope="module")
def soup(built: Path) -> BeautifulSoup:
    return BeautifulSoup((built / REPORT_HTML).read_text(), "html.parser")


def _cells(soup: BeautifulSoup, target: str, kind: str) -> dict[str, str]:
    table = soup.select_one("#faults table.faults")
    assert table is not None
    headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    row = table.select_one(f'tr[data-target="{target}"][data-fault="{kind}"]')
    assert row is not None
    return dict(
        zip(headers, (td.get_text(" ", strip=True) for td in row.find_all("td")), strict=True)
    )


def test_one_row_per_target_and_fault_in_order(soup, built):
    rows = soup.select("#faults table.faults tbody tr")
    order = [(row["data-target"], row["data-fault"]) for row in rows]
    assert order == [(target, kind) for target in load_run(built).targets for kind in KINDS]
    headers = [th.get_text(" ", strip=True) for th in soup.select("#faults table.faults th")]
    assert "late (> 2 s)" in headers
    assert soup.select_one('nav.toc a[href="#faults"]') is not None


def test_the_rows_carry_the_figures(soup):
    drop = _cells(soup, "sse", "drop")
    assert drop["injected"] == "+0.0 s"
    assert drop["server down"] == "–"  # only a restart has one
    assert drop["reconnects"] == "6"
    assert drop["reconnect p50 / max ms"] == "700 / 1,400"
    assert drop["recovered in"] == "1.50 s"
    assert drop["expected"] == "240"
    assert drop["lost"].startswith("5 (2.1 %)")
    assert drop["server RSS before → peak MB"] == "40.0 → 52.0"
    assert drop["resume covers (at 15 msg/s per room)"] == "11 min"  # 3 publishers × 5 msg/s
    slow = _cells(soup, "sse", "slow")
    assert slow["injected"] == "+8.0 s"
    assert slow["late (> 2 s)"] == "17"
    assert slow["lost"] == "0"
    restart = _cells(soup, "websocket", "restart")
    assert restart["injected"] == "+16.0 s"
    assert restart["server down"] == "1.24 s"
    assert restart["lost"] == "30 (12 %)"
    assert _cells(soup, "websocket", "drop")["lost"] == "3 (1.2 %) 3 reached no one"
    lam = _cells(soup, "lambda", "restart")
    assert lam["reconnects"] == "6, 2 not back"
    assert lam["resume covers (at 15 msg/s per room)"] == "no resume"
    assert lam["server RSS before → peak MB"] == "emulator"  # not what AWS runs
    assert _cells(soup, "long-polling", "restart")["injected"] == (
        "not injected (the run ended first)"
    )
    assert _cells(soup, "short-polling", "drop")["reconnect p50 / max ms"] == "–"


def test_a_resuming_target_losing_across_a_drop_is_marked_and_warned(soup):
    marked = soup.select("#faults tr.contradiction")
    assert [(row["data-target"], row["data-fault"]) for row in marked] == [("sse", "drop")]
    assert "expected 0" in marked[0].get_text()
    warnings = [li.get_text(" ", strip=True) for li in soup.select("#verdict .warnings li")]
    assert (
        "sse lost 5 of 240 messages across a drop although it resumes from its cursor "
        "(Last-Event-ID): expected 0." in warnings
    )
    # not contradictions: lambda has no resume, websocket's loss never reached the server
    assert not any(w.startswith(("lambda lost", "websocket lost")) for w in warnings)


def test_the_run_is_not_presented_as_a_clean_comparison(soup):
    warnings = [li.get_text(" ", strip=True) for li in soup.select("#verdict .warnings li")]
    assert any(
        w.startswith("This run injected faults (drop, slow, restart) into short-polling, ")
        and "latencies, throughput and losses include recovery" in w
        for w in warnings
    )
    assert "This run injected faults" in soup.select_one("#verdict p.small").get_text(" ")
    assert "faults_injected" in soup.select_one('table.verdict tr[data-target="sse"]').get_text()


def test_the_explanation_says_what_each_fault_does_and_expects(soup):
    section = soup.select_one("#faults")
    kinds = {li.strong.get_text(): li.get_text(" ", strip=True) for li in section.select("li")}
    assert list(kinds) == list(KINDS)
    assert (
        "With cursor resume, short-polling (since), long-polling (since), sse (Last-Event-ID) "
        "and websocket (since) are expected to lose 0." in kinds["drop"]
    )
    assert "lambda has no resume" in kinds["drop"]
    assert "loses what the in-memory broker held" in kinds["restart"]
    assert "20 % of the receivers stop reading for 4 s" in kinds["slow"]
    assert "each in its own slot of the measured window, 1 s into it." in section.p.get_text()


def test_the_pdf_has_the_section(built):
    text = "\n".join(page.extract_text() for page in PdfReader(built / REPORT_PDF).pages)
    assert "Delivery under faults" in text
    assert "Last-Event-ID" in text


def test_a_run_without_faults_has_no_section(tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    run_dir = copy_smoke_run(tmp_path / "run")
    assert fault_section(load_run_dir(run_dir)) is None
    build_report(run_dir, ["html"])
    soup = BeautifulSoup((run_dir / REPORT_HTML).read_text(), "html.parser")
    assert soup.select_one("#faults") is None
    assert soup.select_one('nav.toc a[href="#faults"]') is None
    assert "injected faults" not in soup.get_text()


def test_the_room_rate_comes_from_the_scenario():
    smoke = scenario_files.load("smoke").model_dump()
    rates = {"users_per_room": 10, "publisher_fraction": 0.2, "publish_rate_per_s": 1.0}
    assert room_rate_per_s(parse_scenario(smoke | rates)) == 2.0
    assert room_rate_per_s(parse_scenario(smoke | rates | {"publish_rate_per_s": 0})) is None


def test_a_comparison_with_a_fault_run_calls_nothing_better_or_worse(tmp_path):
    clean = load_run_dir(copy_smoke_run(tmp_path / "clean"))
    faulted = load_run_dir(faults_run(tmp_path / "faulted", sse_p99_times=3.0))
    comparison = compare_runs(clean, faulted)
    assert any(
        note.startswith("run B injected faults into short-polling, long-polling, sse, ")
        for note in comparison.differences
    )
    (row,) = [r for r in comparison.rows if (r.target, r.metric) == ("sse", "delivery_p99_ms")]
    assert row.relative == "+200.0 %"
    assert row.verdict == ""  # the faults' doing, not a regression
    assert compare_runs(faulted, faulted).differences[:2] == [
        note.replace("run B", f"run {label}")
        for label in ("A", "B")
        for note in comparison.differences[:1]
    ]
