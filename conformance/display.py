"""How verify shows itself: live progress per target, then one table of verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from conformance.checks import CHECKS
from conformance.result import CheckResult, Status
from contract.registry import TargetSpec

STATUS_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
}


def results_table(results: dict[str, list[CheckResult]]) -> Table:
    """One row per (target, check): status and reason."""
    table = Table(title="tbench verify", show_lines=False, expand=False)
    table.add_column("target", style="bold", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for target, target_results in results.items():
        for result in target_results:
            style = STATUS_STYLE[result.status]
            table.add_row(target, result.check, f"[{style}]{result.status.value}[/]", result.reason)
    return table


class VerifyProgress:
    """A progress bar per target, naming the check that is running."""

    def __init__(self, console: Console, specs: Sequence[TargetSpec]) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[target]:<14}[/]"),
            BarColumn(bar_width=20),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {
            spec.name: self.progress.add_task("starting", total=len(CHECKS), target=spec.name)
            for spec in specs
        }

    def __call__(self, spec: TargetSpec, check: str, result: CheckResult | None) -> None:
        """Progress callback of the runner."""
        task = self.tasks[spec.name]
        if result is None:
            self.progress.update(task, description=check)
        else:
            self.progress.advance(task)
            if result.status is Status.FAIL:
                self.progress.console.print(
                    f"[bold red]fail[/] {spec.name} {check}: {result.reason}", highlight=False
                )
