"""`tbench plan --users N`: the plan at the user's scale, as a table or as JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contract.results import RUN_FILE, RunFileError, RunResult, TargetStatus, load_run
from cost_model.at_scale import PlanError, Scale
from cost_model.measured import MeasuredLambda, MeasuredRunError, measured_from
from cost_model.plan import Plan, measured_transports, plan
from cost_model.pricing import PricingError, load_pricing

console = Console()
err_console = Console(stderr=True)


def _runs(results: Path) -> list[tuple[Path, RunResult]]:
    """Every readable run under `results`, newest first (damaged ones are passed over)."""
    runs = []
    for run_file in sorted(results.glob(f"**/{RUN_FILE}"), reverse=True):
        try:
            runs.append((run_file.parent, load_run(run_file)))
        except (OSError, RunFileError):
            continue
    return sorted(runs, key=lambda pair: pair[1].started_at, reverse=True)


def _read(run_dir: Path) -> RunResult:
    try:
        return load_run(run_dir)
    except OSError as exc:
        raise PlanError(f"{run_dir}: no readable run.json ({exc.strerror})") from None
    except RunFileError as exc:
        raise PlanError(str(exc)) from None


def _has_capacity(run: RunResult) -> bool:
    return any(result.capacity is not None for result in run.targets.values())


def _has_lambda(run_dir: Path, run: RunResult) -> bool:
    return any(
        result.status is TargetStatus.OK and (run_dir / name / "lambda-reports.log").exists()
        for name, result in run.targets.items()
    )


def find_runs(
    results: Path, capacity_run: Path | None, lambda_run: Path | None
) -> tuple[tuple[Path, RunResult], tuple[Path, RunResult] | None]:
    """The capacity run and the run with a measured lambda target: given, or the newest."""
    found = _runs(results) if capacity_run is None or lambda_run is None else []
    if capacity_run is not None:
        capacity = (capacity_run, _read(capacity_run))
    else:
        newest = next(((d, r) for d, r in found if _has_capacity(r)), None)
        if newest is None:
            raise PlanError(
                f"no run under {results} measured capacity: run `make bench`, or "
                "`tbench run --scenario capacity`, or name one with --run"
            )
        capacity = newest
    if lambda_run is not None:
        return capacity, (lambda_run, _read(lambda_run))
    return capacity, next(((d, r) for d, r in found if _has_lambda(d, r)), None)


def serverless_of(pair: tuple[Path, RunResult] | None) -> MeasuredLambda | None:
    """The lambda target a run measured, if any."""
    if pair is None:
        return None
    try:
        measured = measured_from(pair[1], pair[0])
    except MeasuredRunError:
        return None
    return measured.serverless[0] if measured.serverless else None


def plan_json(result: Plan, sources: dict[str, str]) -> str:
    """The plan as one JSON document: the scale, one row per transport, the cheapest."""
    cheapest = result.cheapest
    document = {
        "scale": {
            **{key: str(value) for key, value in vars(result.scale).items()},
            "deliveries_per_s": str(result.scale.deliveries_per_s),
        },
        "runs": sources,
        "rows": [
            {
                "transport": row.transport,
                "kind": row.kind,
                "servers": row.servers,
                "p99_ms": row.p99_ms,
                "meets_slo": row.meets_slo,
                "monthly_usd": {name: str(usd) for name, usd in row.lines.items()},
                "total_usd": None if row.total_usd is None else str(row.total_usd),
                "notes": row.notes,
            }
            for row in result.rows
        ],
        "cheapest": cheapest.transport if cheapest else None,
        "warnings": result.warnings,
    }
    return json.dumps(document, indent=1)


def plan_table(result: Plan) -> Table:
    """The plan as a table: one row per transport."""
    scale = result.scale
    table = Table(
        title=(
            f"At {scale.users:,} users ({scale.deliveries_per_s:,.0f} deliveries/s), "
            f"p99 ≤ {scale.slo_p99_ms:g} ms — USD a month"
        )
    )
    names = list(dict.fromkeys(name for row in result.rows for name in row.lines))
    table.add_column("transport")
    table.add_column("servers")
    table.add_column("p99 ms", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right", style="bold")
    cheapest = result.cheapest
    for row in result.rows:
        lines = [f"{row.lines[name]:,.2f}" if name in row.lines else "" for name in names]
        p99 = "-" if row.p99_ms is None else f"{row.p99_ms:.0f}"
        name = f"{row.transport} (cheapest)" if row is cheapest else row.transport
        total = "-" if row.total_usd is None else f"{row.total_usd:,.2f}"
        table.add_row(name, row.servers, p99, *lines, total)
    return table


def plan_command(  # noqa: PLR0913 -- a typer command: its parameters are its options
    users: Annotated[int, typer.Option("--users", help="Users connected at once.")],
    users_per_room: Annotated[int, typer.Option(help="Members of each room.")] = 10,
    publisher_fraction: Annotated[float, typer.Option(help="Share of users who post.")] = 0.2,
    publish_rate: Annotated[float, typer.Option(help="Messages a second per poster.")] = 0.2,
    payload_bytes: Annotated[int, typer.Option(help="Message body size.")] = 256,
    slo_p99_ms: Annotated[
        float, typer.Option(help="Delivery p99 every transport must meet.")
    ] = 100.0,
    session_minutes: Annotated[float, typer.Option(help="How long a user stays connected.")] = 60.0,
    run: Annotated[Path | None, typer.Option("--run", help="A run with capacity figures.")] = None,
    lambda_run: Annotated[
        Path | None, typer.Option("--lambda-run", help="A run that measured the lambda target.")
    ] = None,
    results: Annotated[Path, typer.Option(help="Where to look for runs.")] = Path("results"),
    pricing_file: Annotated[Path | None, typer.Option("--pricing", help="A price file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Servers, expected p99 and the monthly bill of every transport at your own scale."""
    try:
        scale = Scale(
            users=users,
            users_per_room=users_per_room,
            publisher_fraction=Decimal(str(publisher_fraction)),
            publish_rate_per_s=Decimal(str(publish_rate)),
            payload_bytes=payload_bytes,
            slo_p99_ms=slo_p99_ms,
            session_minutes=Decimal(str(session_minutes)),
        )
        pricing = load_pricing(pricing_file)
        capacity, lambda_pair = find_runs(results, run, lambda_run)
        result = plan(scale, measured_transports(capacity[1]), serverless_of(lambda_pair), pricing)
    except (PlanError, PricingError) as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    sources = {"capacity": str(capacity[0])}
    if lambda_pair is not None:
        sources["lambda"] = str(lambda_pair[0])
    if as_json:
        console.out(plan_json(result, sources), highlight=False)
        return
    console.print(plan_table(result))
    for row in result.rows:
        for note in row.notes:
            console.print(f"[dim]{row.transport}:[/] {note}", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]quota:[/] {warning}", highlight=False)
    cheapest = result.cheapest
    verdict = cheapest.transport if cheapest else "none meets the SLO at a measured load"
    console.print(f"cheapest that meets p99 ≤ {slo_p99_ms:g} ms: [bold]{verdict}[/]")
    console.print(f"capacity from {sources['capacity']}", highlight=False)
