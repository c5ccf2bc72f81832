"""The report of the committed smoke run: HTML parsed, PDF read back, built once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader
from typer.testing import CliRunner

from analysis.figures import FIGURES
from contract.results import load_run
from reports.build import REPORT_HTML, REPORT_PDF, ReportError, build_report, parse_formats
from tbench.cli import app
from tests.fixtures import copy_smoke_run

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = copy_smoke_run(tmp_path_factory.mktemp("report") / "run")
    written = build_report(run_dir)
    assert written == [run_dir / REPORT_HTML, run_dir / REPORT_PDF]
    return run_dir


@pytest.fixture(scope="module")
def soup(built: Path) -> BeautifulSoup:
    return BeautifulSoup((built / REPORT_HTML).read_text(), "html.parser")


@pytest.fixture(scope="module")
def pdf_pages(built: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(built / REPORT_PDF).pages]


def test_verdict_has_a_row_per_target(soup, built):
    rows = soup.select("table.verdict tbody tr")
    assert [row["data-target"] for row in rows] == list(load_run(built).targets)
    sse = soup.select_one('table.verdict tr[data-target="sse"]')
    cells = [td.get_text(strip=True) for td in sse.find_all("td")]
    assert cells[1] == "ok"
    assert cells[-3] != "–"  # cost per million delivered messages was priced
    lam = soup.select_one('table.verdict tr[data-target="lambda"]')
    assert "emulator" in lam.get_text()  # the emulator's CPU is not shown as Lambda's


def test_every_figure_is_inline_svg_or_an_omission_note(soup):
    for spec in FIGURES:
        figure = soup.find("figure", id=spec.key)
        assert figure is not None, spec.key
        # no sweep, no --network, no capacity and no overload in the smoke run (nor beside
        # it); it predates the memory tune
        omitted = (
            "latency-vs-users",
            "lambda-memory",
            "latency-vs-rtt",
            "cost-vs-users",
            "overload",
        )
        if spec.key in omitted:
            assert "omitted" in figure.get_text()
            assert figure.find("svg") is None
        else:
            assert figure.find("svg") is not None, spec.key
            assert spec.title in figure.figcaption.get_text()
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))  # prefixed per figure: clip paths cannot collide


def test_nothing_is_fetched_from_the_network(soup):
    assert soup.find_all(["img", "script", "link", "iframe"]) == []
    for tag in soup.find_all(True):
        for attribute in ("src", "href", "xlink:href", "data"):
            value = tag.get(attribute)
            if value is not None:
                assert not EXTERNAL.match(str(value)), (tag.name, attribute, value)
    assert "url(http" not in str(soup).replace(" ", "")


def test_guarantees_cost_and_methodology_come_from_the_run(soup, built):
    run = load_run(built)
    guarantees = soup.select_one('#guarantees tr[data-target="lambda"]').get_text()
    assert "no" in guarantees  # API Gateway keeps no history: no resume
    text = soup.get_text(" ")
    assert "13,385.15 USD" in text  # the talk's example
    methodology = soup.select_one("#methodology").get_text(" ")
    assert run.held_equal is not None
    assert str(run.held_equal.serializer) in methodology
    assert "uvloop" in methodology
    assert str(run.git_commit) in methodology
    assert run.host.cpu_model in methodology
    assert "lambda: delivered 132 of 228 expected messages" in text  # its warning


def test_pdf_has_the_expected_pages(built, pdf_pages):
    assert (built / REPORT_PDF).stat().st_size > 20_000
    assert len(pdf_pages) >= 5
    assert "Verdict" in pdf_pages[0]
    assert "short-polling" in pdf_pages[0]
    headings = ("Verdict", "Figures", "Delivery guarantees", "Cost", "Methodology")
    first = {
        heading: next(i for i, text in enumerate(pdf_pages) if heading in text.splitlines())
        for heading in headings
    }
    assert first["Verdict"] == 0
    order = [first[heading] for heading in headings]
    assert order == sorted(order)
    assert first["Methodology"] > first["Delivery guarantees"]  # sections start new pages
    assert any("13,385.15" in text for text in pdf_pages)
    assert "page 1 of" in pdf_pages[0]


def test_a_pricing_file_adds_its_own_cost_table(tmp_path, monkeypatch):
    monkeypatch.setattr("reports.context.figure_blocks", lambda *_: [])  # drawn in `built`
    run_dir = copy_smoke_run(tmp_path / "run")
    prices = tmp_path / "mine.toml"
    prices.write_text("[fargate.vcpu_hours]\nprice = 0.08\n")
    result = runner.invoke(
        app, ["report", str(run_dir), "--format", "html", "--pricing", str(prices)]
    )
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    soup = BeautifulSoup((run_dir / REPORT_HTML).read_text(), "html.parser")
    headings = [h.get_text(" ", strip=True) for h in soup.select("#guarantees h3")]
    assert any("default prices" in h for h in headings)
    assert any("your prices (mine.toml)" in h for h in headings)
    assert "your prices (mine.toml)" in soup.select_one("#verdict").get_text(" ")
    assert not (run_dir / REPORT_PDF).exists()


def test_formats_are_checked():
    assert parse_formats("pdf, html") == ["pdf", "html"]
    with pytest.raises(ReportError, match="unknown format docx"):
        parse_formats("html,docx")


def test_cli_refuses_what_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "html"])
    assert result.exit_code == 2
    assert "is not a run directory" in " ".join(result.output.split())
    result = runner.invoke(app, ["report", str(tmp_path), "--format", "docx"])
    assert result.exit_code == 2
