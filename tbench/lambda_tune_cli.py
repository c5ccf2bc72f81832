"""`tbench lambda tune`: local power tuning of the `sendMessage` function, as a table or JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contract.results import LambdaTuneRow
from cost_model.cli import Arch
from cost_model.memory_tune import PricedTuneRow, priced_rows
from cost_model.pricing import DEFAULT_PRICING_FILE, load_pricing
from tbench.aws.compare import ModelError, aws_durations, model_errors
from tbench.lambda_tune import (
    DEFAULT_INVOCATIONS,
    DEFAULT_MEMORY_SIZES,
    ROOM_SIZE,
    WARMUP_INVOCATIONS,
    parse_memory_sizes,
    tune,
)
from tbench.process import TargetStartError

lambda_app = typer.Typer(
    help="The lambda target: local power tuning under Lambda's CPU model.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)  # progress and warnings: stdout stays clean for --json


def measure_with_progress(
    sizes: list[int], invocations: int, cpu_model: bool
) -> list[LambdaTuneRow]:
    """Run the tuning with a progress bar (on stderr) over every invocation of every size."""
    per_size = WARMUP_INVOCATIONS + invocations
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=len(sizes) * per_size)

        def step(memory_mb: int, what: str) -> None:
            progress.update(
                task, description=f"{memory_mb:,} MB: {what}", advance=what == "invoked"
            )

        return tune(sizes, invocations, cpu_model, step)


def tune_table(rows: list[PricedTuneRow], invocations: int) -> Table:
    """One row per memory size; the cheapest and the fastest marked."""
    table = Table(
        title=f"sendMessage to a room of {ROOM_SIZE}, {invocations} warm invocations per size, "
        "one at a time",
        title_justify="left",
    )
    for header in ("memory", "duration p50", "duration p95", "billed p50", "USD / 1M", ""):
        table.add_column(header, justify="right" if header else "left")
    for row in rows:
        marks = [mark for mark, on in (("cheapest", row.cheapest), ("fastest", row.fastest)) if on]
        table.add_row(
            f"{row.memory_mb:,} MB",
            f"{row.duration_p50_ms:,.1f} ms",
            f"{row.duration_p95_ms:,.1f} ms",
            f"{row.billed_duration_p50_ms:,.0f} ms",
            f"{row.usd_per_million:,.4f}",
            ", ".join(marks),
        )
    return table


def model_error_table(errors: list[ModelError], invocations: int) -> Table:
    """The emulator's p50 beside AWS's, per AWS run, and the model's error."""
    table = Table(
        title="sendMessage: the emulator (one at a time, a room of "
        f"{ROOM_SIZE}, {invocations} invocations) beside AWS (the run's own load)",
        title_justify="left",
    )
    for header in ("memory", "emulator p50", "AWS p50", "AWS p95", "model error", "AWS run"):
        table.add_column(header, justify="left" if header == "AWS run" else "right")
    for error in errors:
        aws = error.aws
        table.add_row(
            f"{aws.memory_mb:,} MB",
            f"{error.emulator.duration_p50_ms:,.1f} ms",
            f"{aws.duration_p50_ms:,.1f} ms",
            f"{aws.duration_p95_ms:,.1f} ms",
            f"{error.error_percent:+.0f} %",
            f"{aws.run_id} ({aws.architecture}, rooms of {aws.room_size}, "
            f"{aws.invocations} invocations)",
        )
    return table


@lambda_app.command("tune")
def tune_command(  # noqa: PLR0913 -- a typer command: its parameters are its options
    memory: str = typer.Option(
        ",".join(map(str, DEFAULT_MEMORY_SIZES)),
        "--memory",
        "-m",
        help="Memory sizes in MB, comma-separated (Lambda allows 128 to 10,240).",
    ),
    invocations: int = typer.Option(
        DEFAULT_INVOCATIONS, "--invocations", "-n", min=1, help="Warm invocations per size."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    cpu_model: bool = typer.Option(
        True,
        "--cpu-model/--no-cpu-model",
        help="Give each environment memory/1,769 vCPU as AWS does (off: the whole machine).",
    ),
    arch: Arch = "x86_64",
    aws_runs: Annotated[
        list[Path] | None,
        typer.Option(
            "--aws",
            metavar="RUN_DIR",
            help="A `tbench aws run` directory (repeat): tune at its memory size and put the "
            "emulator's durations beside AWS's.",
        ),
    ] = None,
) -> None:
    """Invoke the real sendMessage handler N times per memory size; duration and cost per size."""
    try:
        aws = [aws_durations(run_dir) for run_dir in aws_runs or []]
        sizes = sorted({run.memory_mb for run in aws}) if aws else parse_memory_sizes(memory)
    except ValueError as exc:
        err_console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        results = measure_with_progress(sizes, invocations, cpu_model)
    except (TargetStartError, RuntimeError, TimeoutError, OSError) as exc:
        err_console.print(f"[red]tuning failed: {exc}[/]")
        raise typer.Exit(1) from None
    rows = priced_rows(results, load_pricing(), arch)
    unmodelled = {r.unmodelled_reason for r in results if not r.cpu_modelled}
    for reason in sorted(filter(None, unmodelled)):
        err_console.print(f"[yellow]durations unmodelled (the machine's CPU): {reason}[/]")
    if as_json:
        rows_json = json.dumps([row.model_dump() for row in rows], indent=1)
        console.out(rows_json, highlight=False)  # as is: no markup, no wrap
        return
    console.print(tune_table(rows, invocations))
    if aws:
        console.print(model_error_table(model_errors(results, aws), invocations))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    console.print(
        f"cost: compute ({arch}) + requests at {DEFAULT_PRICING_FILE}, no free tier, billed p50; "
        f"load average while measured: {load}"
    )
