"""`tbench plan --users N`: the plan at the user's scale, as a table or as JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cost_model.at_scale import (
    CHAT_PAYLOAD_BYTES,
    CHAT_PUBLISH_RATE_PER_S,
    CHAT_PUBLISHER_FRACTION,
    CHAT_USERS_PER_ROOM,
    DEFAULT_SLO_P99_MS,
    PlanError,
    Scale,
)
from cost_model.plan import Plan, plan
from cost_model.plan_curve import ScaleCrossover, crossovers
from cost_model.plan_sources import find_sources
from cost_model.pricing import PricingError, load_pricing

console = Console()
err_console = Console(stderr=True)


def plan_json(result: Plan, sources: dict[str, str], crossings: list[ScaleCrossover]) -> str:
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
        "crossovers": [
            {
                "serverless": crossing.serverless,
                "containers": crossing.containers,
                "users": crossing.users,
                "dearer_from_start": crossing.dearer_from_start,
            }
            for crossing in crossings
        ],
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
    users_per_room: Annotated[int, typer.Option(help="Members of each room.")] = (
        CHAT_USERS_PER_ROOM
    ),
    publisher_fraction: Annotated[float, typer.Option(help="Share of users who post.")] = float(
        CHAT_PUBLISHER_FRACTION
    ),
    publish_rate: Annotated[float, typer.Option(help="Messages a second per poster.")] = float(
        CHAT_PUBLISH_RATE_PER_S
    ),
    payload_bytes: Annotated[int, typer.Option(help="Message body size.")] = CHAT_PAYLOAD_BYTES,
    slo_p99_ms: Annotated[
        float, typer.Option(help="Delivery p99 every transport must meet.")
    ] = DEFAULT_SLO_P99_MS,
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
        found = find_sources(results, run, lambda_run)
        containers, serverless = found.containers, found.serverless
        result = plan(scale, containers, serverless, pricing)
        crossings = crossovers(scale, containers, serverless, pricing) if serverless else []
    except (PlanError, PricingError) as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    sources = found.described()
    if as_json:
        console.out(plan_json(result, sources, crossings), highlight=False)
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
    for crossing in crossings:
        console.print(
            f"crossover (same habits, more users): {crossing.describe()}", highlight=False
        )
    console.print(f"capacity from {sources['capacity']}", highlight=False)
