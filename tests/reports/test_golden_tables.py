"""Golden file: every table of the smoke run's report.html, cell by cell, as committed.

A change to what the report's tables say fails here with a diff. When the change is
intended, regenerate the golden file and commit it with the change:

    TBENCH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports/test_golden_tables.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from reports.build import REPORT_HTML, build_report
from tests.fixtures import copy_smoke_run

GOLDEN = Path(__file__).resolve().parent / "golden" / "smoke-run-tables.txt"
UPDATE_ENV = "TBENCH_UPDATE_GOLDEN"


def _cell_text(cell: Tag) -> str:
    """A cell's text with runs of whitespace as one space (the HTML's indentation is not data)."""
    return " ".join(cell.get_text(" ").split())


def _table_lines(index: int, table: Tag) -> list[str]:
    """A heading naming the table, then one line a row: `th`/`td` cells joined by ` | `."""
    where = table.get("id") or table.find_parent(id=True)
    anchor = where if isinstance(where, str) else (where.get("id") if where else "")
    classes = " ".join(table.get("class") or [])
    lines = [f"## table {index} in #{anchor} .{classes}"]
    for row in table.find_all("tr"):
        cells = row.find_all(["th", "td"])
        lines.append(" | ".join(f"{cell.name}:{_cell_text(cell)}" for cell in cells))
    return lines


def report_tables(html: str) -> str:
    """Every <table> of a report, in document order, as normalised text."""
    soup = BeautifulSoup(html, "html.parser")
    lines: list[str] = []
    for index, table in enumerate(soup.find_all("table"), start=1):
        lines += _table_lines(index, table)
        lines.append("")
    return "\n".join(lines)


def test_the_report_tables_are_the_golden_ones(tmp_path: Path):
    run_dir = copy_smoke_run(tmp_path / "run")
    build_report(run_dir, ("html",))
    actual = report_tables((run_dir / REPORT_HTML).read_text())
    if os.environ.get(UPDATE_ENV):
        GOLDEN.write_text(actual)
    expected = GOLDEN.read_text()
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                fromfile=str(GOLDEN.name),
                tofile="report.html now",
                lineterm="",
            )
        )
        raise AssertionError(
            f"the report's tables changed (intended? regenerate with {UPDATE_ENV}=1):\n{diff}"
        )
