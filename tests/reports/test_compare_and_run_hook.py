from __future__ import annotations

import json
from pathlib import Path

from bs4 import BeautifulSoup
from rich.console import Console
from typer.testing import CliRunner

from contract.results import RUN_FILE, SUMMARY_FILE, load_run
from reports.build import REPORT_HTML
from tbench.cli import app
from tests.fixtures import copy_smoke_run

runner = CliRunner()


def _slower_copy(tmp_path: Path) -> Path:
    """The smoke run again, as if sse's p99 had doubled and the run had another id."""
    run_dir = copy_smoke_run(tmp_path / "after")
    run = json.loads((run_dir / RUN_FILE).read_text())
    run["run_id"] = "after"
    run["targets"]["sse"]["metrics"]["delivery_p99_ms"] *= 2
    (run_dir / RUN_FILE).write_text(json.dumps(run))
    summary = (run_dir / SUMMARY_FILE).read_text().splitlines()
    for index, line in enumerate(summary):
        if ",sse," in line and ",delivery_p99_ms," in line:
            head, value = line.rsplit(",", 1)
            summary[index] = f"{head},{float(value) * 2}"
    (run_dir / SUMMARY_FILE).write_text("\n".join(summary) + "\n")
    return run_dir


def test_two_runs_give_a_table_of_deltas(tmp_path):
    before = copy_smoke_run(tmp_path / "before")
    after = _slower_copy(tmp_path)
    result = runner.invoke(app, ["report", str(before), str(after)])
    assert result.exit_code == 0, result.output
    path = after / f"compare-{load_run(before).run_id}.html"
    soup = BeautifulSoup(path.read_text(), "html.parser")
    row = soup.select_one('tr[data-target="sse"][data-metric="delivery_p99_ms"]')
    cells = [td.get_text(strip=True) for td in row.find_all("td")]
    assert cells[-2] == "+100.0 %"
    assert cells[-1] == "worse"
    same = soup.select_one('tr[data-target="websocket"][data-metric="delivery_p99_ms"]')
    assert same.find_all("td")[-2].get_text(strip=True) == "+0.0 %"
    assert {tr["data-target"] for tr in soup.select("tr[data-target]")} == set(
        load_run(before).targets
    )


def test_tbench_run_writes_the_report_unless_told_not_to(tmp_path, monkeypatch):
    """The hook at the end of `tbench run`, with the measuring replaced by the fixture."""
    import tbench.runner.run as run_module

    source = copy_smoke_run(tmp_path / "source")

    class FakeRun:
        def __init__(self, options: run_module.RunOptions, console: Console) -> None:
            self.run_dir = options.out_root / (options.run_id or "x")

        def execute(self):
            copy_smoke_run(self.run_dir)
            return load_run(source)

    built: list[tuple[Path, list[str]]] = []

    def fake_build(run_dir: Path, formats: list[str], pricing_file: Path | None) -> list[Path]:
        built.append((run_dir, formats))
        return [run_dir / REPORT_HTML]

    monkeypatch.setattr(run_module, "ComparisonRun", FakeRun)
    monkeypatch.setattr("reports.command.build_report", fake_build)  # built for real elsewhere
    common = ["run", "--scenario", "smoke", "--out", str(tmp_path / "results"), "--run-id"]
    skipped = runner.invoke(app, [*common, "quiet", "--no-report"])
    assert skipped.exit_code == 0, skipped.output
    assert built == []
    result = runner.invoke(app, [*common, "reported"])
    assert result.exit_code == 0, result.output
    assert built == [(tmp_path / "results" / "reported", ["html", "pdf"])]
    assert "report:" in result.output
