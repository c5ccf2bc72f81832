"""What `tbench report` and the end of `tbench run` do, with progress shown on a console."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from reports.build import build_report, parse_formats
from reports.compare import build_comparison


def write_report(
    console: Console, run_dir: Path, formats: str = "html,pdf", pricing_file: Path | None = None
) -> list[Path]:
    """Build a run's report with a spinner, then say where it is."""
    wanted = parse_formats(formats)
    with console.status(f"building the report ({', '.join(wanted)}) of {run_dir} …"):
        written = build_report(run_dir, wanted, pricing_file)
    for path in written:
        console.print(f"report: [bold]{path}[/]", soft_wrap=True)
    return written


def write_comparison(console: Console, before: Path, after: Path) -> Path:
    """Build the two-run comparison (HTML) and say where it is."""
    with console.status(f"comparing {before} with {after} …"):
        path = build_comparison(before, after)
    console.print(f"comparison: [bold]{path}[/]", soft_wrap=True)
    return path
