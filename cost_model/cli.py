"""`tbench cost ...`: monthly AWS bills from workload figures, with default or your own prices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from contract import codec
from cost_model.apigw import apigw_ws_bill, connection_minutes
from cost_model.chat import ChatWorkload, chat_bill
from cost_model.containers import fargate_bill, hours_in_month
from cost_model.init_phase import INIT_BILLED_SINCE, InitBilling
from cost_model.lambda_cost import (
    ColdStarts,
    LambdaFunction,
    estimate_lambda,
    throughput_from_concurrency,
    throughput_from_monthly_requests,
)
from cost_model.measured import (
    Load,
    MeasuredRunError,
    PricingTerms,
    TaskSize,
    load_of_run,
    measure_run,
    price_run,
)
from cost_model.measured_render import describe_durations, render_run_pricing
from cost_model.pricing import Architecture, Pricing, PricingError, load_pricing
from cost_model.render import (
    bill_json,
    render_apigw,
    render_chat,
    render_fargate,
    render_lambda,
    render_prices,
)

cost_app = typer.Typer(
    help="Monthly AWS cost of a workload (Lambda, API Gateway WebSocket, chat, Fargate).",
    no_args_is_help=True,
    add_completion=False,
)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise typer.BadParameter(f"{text!r} must be a finite number >= 0")
    return value


def _positive(value: Decimal | None, option: str) -> None:
    if value is not None and value <= 0:
        raise typer.BadParameter(f"must be greater than 0, got {value}", param_hint=option)


def _number(text: str, *names: str) -> Any:
    """An option read by `_decimal` (a finite number >= 0), with `text` as its help."""
    return typer.Option(*names, parser=_decimal, help=text)


PricingFile = Annotated[
    Path | None,
    typer.Option(
        "--pricing",
        help="TOML price file, same schema as the default; only the fields given are replaced.",
        exists=True,
        dir_okay=False,
    ),
]
Rates = Annotated[
    list[str] | None,
    typer.Option(
        "--rate",
        metavar="PATH=VALUE",
        help="Override one rate, e.g. lambda.requests.price=0.25 (see `tbench cost prices`).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the bill as JSON.")]
MonthDays = Annotated[Decimal, _number("Days in the billed month.")]
FreeTier = Annotated[
    bool,
    typer.Option("--free-tier/--no-free-tier", help="Subtract Lambda's monthly free tier."),
]
Arch = Annotated[Architecture, typer.Option("--arch", help="Lambda architecture.")]
InitBillingRule = Annotated[
    InitBilling,
    typer.Option(
        "--init-billing",
        help=f"Cold starts' INIT phase: billed (AWS's rule since {INIT_BILLED_SINCE}) or free"
        " (the rule before, for ZIP functions on managed runtimes).",
    ),
]
MessageBytes = Annotated[
    int, typer.Option(min=0, help="Average message size in bytes (metered per 32 KB).")
]
HoursPerDay = Annotated[Decimal, _number("Hours each user stays connected per day.")]


def _pricing(pricing_file: Path | None, rates: list[str] | None) -> Pricing:
    try:
        return load_pricing(pricing_file, rates or [])
    except PricingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _emit(as_json: bool, kind: str, bill: Any, pricing: Pricing, text: str) -> None:
    typer.echo(codec.dumps_str(bill_json(kind, bill, pricing)) if as_json else text)


@cost_app.command("lambda")
def lambda_cost(  # noqa: PLR0913 -- a typer command: its parameters are its options
    duration_ms: Annotated[Decimal, _number("Average billed duration of one request, in ms.")],
    concurrency: Annotated[
        Decimal | None, _number("Executions in flight on average (Little's law).")
    ] = None,
    requests_per_month: Annotated[
        Decimal | None, _number("Requests per month, instead of --concurrency.")
    ] = None,
    memory_mb: Annotated[int, typer.Option(min=128, max=10_240, help="Memory, MB.")] = 128,
    ephemeral_mb: Annotated[
        int, typer.Option(min=512, max=10_240, help="Ephemeral storage (/tmp), MB.")
    ] = 512,
    arch: Arch = "x86_64",
    free_tier: FreeTier = True,
    cold_start_percent: Annotated[
        Decimal, _number("Share of requests that are cold starts, in % (AWS: often under 1).")
    ] = Decimal(0),
    init_duration_ms: Annotated[
        Decimal, _number("Billed INIT ms of one cold start (REPORT's Init Duration).")
    ] = Decimal(0),
    init_billing: InitBillingRule = "billed",
    month_days: MonthDays = Decimal(30),
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """Lambda: throughput from concurrency and duration, then the monthly bill."""
    _positive(duration_ms, "--duration-ms")
    _positive(month_days, "--month-days")
    if cold_start_percent > 100:
        raise typer.BadParameter(
            "a share of requests is at most 100", param_hint="--cold-start-percent"
        )
    if (concurrency is None) == (requests_per_month is None):
        raise typer.BadParameter(
            "give exactly one of them", param_hint="--concurrency / --requests-per-month"
        )
    pricing = _pricing(pricing_file, rate)
    if concurrency is not None:
        _positive(concurrency, "--concurrency")
        throughput = throughput_from_concurrency(concurrency, duration_ms, month_days)
    else:
        assert requests_per_month is not None  # exactly one was given (checked above)
        throughput = throughput_from_monthly_requests(requests_per_month, duration_ms, month_days)
    estimate = estimate_lambda(
        throughput,
        LambdaFunction(
            memory_mb=Decimal(memory_mb), architecture=arch, ephemeral_mb=Decimal(ephemeral_mb)
        ),
        pricing,
        free_tier=free_tier,
        cold_starts=ColdStarts(
            percent=cold_start_percent, init_duration_ms=init_duration_ms, billing=init_billing
        ),
    )
    _emit(as_json, "lambda", estimate, pricing, render_lambda(estimate, pricing))


@cost_app.command("apigw-ws")
def apigw_ws_cost(  # noqa: PLR0913 -- a typer command: its parameters are its options
    messages: Annotated[Decimal, _number("Messages per month, in and out together.")],
    message_bytes: MessageBytes = 512,
    connection_minutes_: Annotated[
        Decimal | None, _number("Connection-minutes/month.", "--connection-minutes")
    ] = None,
    users: Annotated[
        Decimal | None, _number("Connected users, instead of --connection-minutes.")
    ] = None,
    hours_per_day: Annotated[
        Decimal | None, _number("Hours each user is connected per day (with --users).")
    ] = None,
    month_days: MonthDays = Decimal(30),
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """API Gateway WebSocket: messages in 32 KB units and connection-minutes, monthly."""
    _positive(month_days, "--month-days")
    by_users = users is not None or hours_per_day is not None
    if (connection_minutes_ is None) == (not by_users):
        raise typer.BadParameter(
            "give --connection-minutes, or --users with --hours-per-day",
            param_hint="--connection-minutes / --users",
        )
    if by_users and (users is None or hours_per_day is None):
        raise typer.BadParameter("--users and --hours-per-day go together", param_hint="--users")
    pricing = _pricing(pricing_file, rate)
    if users is not None and hours_per_day is not None:
        minutes = connection_minutes(users, hours_per_day, month_days)
    else:
        assert connection_minutes_ is not None  # one of the two forms was given (checked above)
        minutes = connection_minutes_
    bill = apigw_ws_bill(messages, message_bytes, minutes, pricing)
    text = render_apigw(
        bill,
        pricing,
        users=users,
        hours_per_day=hours_per_day,
        month_days=month_days if by_users else None,
    )
    _emit(as_json, "apigw-ws", bill, pricing, text)


@cost_app.command("chat")
def chat_cost(  # noqa: PLR0913 -- a typer command: its parameters are its options
    users: Annotated[Decimal, _number("Users.")],
    hours_per_day: HoursPerDay,
    messages_per_user_per_day: Annotated[Decimal, _number("Messages each user sends per day.")],
    room_size: Annotated[
        int, typer.Option(min=1, help="Members receiving each message, the sender included.")
    ],
    message_bytes: MessageBytes = 512,
    sessions_per_user_per_day: Annotated[
        Decimal | None,
        _number("Connections opened per user per day (default: hours / 2 h limit, rounded up)."),
    ] = None,
    memory_mb: Annotated[int, typer.Option(min=128, max=10_240, help="Lambda memory, MB.")] = 256,
    arch: Arch = "x86_64",
    send_duration_ms: Annotated[
        Decimal, _number("Billed ms of sendMessage (query + fan-out).")
    ] = Decimal(100),
    connect_duration_ms: Annotated[Decimal, _number("Billed ms of $connect.")] = Decimal(20),
    disconnect_duration_ms: Annotated[Decimal, _number("Billed ms of $disconnect.")] = Decimal(20),
    connection_item_bytes: Annotated[
        int, typer.Option(min=1, help="Size of one connection item in DynamoDB, bytes.")
    ] = 100,
    free_tier: FreeTier = True,
    month_days: MonthDays = Decimal(30),
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """Serverless chat: API Gateway messages and minutes, Lambda, DynamoDB -> monthly total."""
    _positive(hours_per_day, "--hours-per-day")
    if hours_per_day > 24:
        raise typer.BadParameter("a day has 24 hours", param_hint="--hours-per-day")
    _positive(month_days, "--month-days")
    _positive(sessions_per_user_per_day, "--sessions-per-user-per-day")
    pricing = _pricing(pricing_file, rate)
    workload = ChatWorkload(
        users=users,
        hours_per_day=hours_per_day,
        messages_per_user_per_day=messages_per_user_per_day,
        room_size=room_size,
        message_bytes=message_bytes,
        month_days=month_days,
        sessions_per_user_per_day=sessions_per_user_per_day,
        memory_mb=Decimal(memory_mb),
        architecture=arch,
        send_duration_ms=send_duration_ms,
        connect_duration_ms=connect_duration_ms,
        disconnect_duration_ms=disconnect_duration_ms,
        connection_item_bytes=connection_item_bytes,
        free_tier=free_tier,
    )
    bill = chat_bill(workload, pricing)
    _emit(as_json, "chat", bill, pricing, render_chat(bill, pricing))


@cost_app.command("fargate")
def fargate_cost(  # noqa: PLR0913 -- a typer command: its parameters are its options
    vcpu: Annotated[Decimal, _number("vCPU per task.")],
    memory_gb: Annotated[Decimal, _number("Memory per task, GB.")],
    tasks: Annotated[int, typer.Option(min=1, help="Tasks running all month.")] = 1,
    month_days: MonthDays = Decimal(30),
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """Fargate: always-on tasks priced per vCPU-hour and GB-hour, monthly."""
    _positive(vcpu, "--vcpu")
    _positive(memory_gb, "--memory-gb")
    _positive(month_days, "--month-days")
    pricing = _pricing(pricing_file, rate)
    bill = fargate_bill(
        vcpu, memory_gb, pricing, tasks=Decimal(tasks), hours=hours_in_month(month_days)
    )
    _emit(as_json, "fargate", bill, pricing, render_fargate(bill, pricing))


@cost_app.command("prices")
def prices(
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """List every rate in effect with its --rate path, unit, source and as-of date."""
    pricing = _pricing(pricing_file, rate)
    if as_json:
        typer.echo(codec.dumps_str(pricing.model_dump(mode="json", by_alias=True)))
    else:
        typer.echo(render_prices(pricing))


@cost_app.command("run")
def run_cost(  # noqa: PLR0913 -- a typer command: its parameters are its options
    results_dir: Annotated[
        Path,
        typer.Argument(help="A run directory (results/<run-id>/).", exists=True, file_okay=False),
    ],
    users: Annotated[Decimal | None, _number("Users (default: the run's own).")] = None,
    messages_per_user_per_day: Annotated[
        Decimal | None,
        _number(
            "Messages each user sends per day (default: the run's rate, all day).",
            "--msgs-per-user-per-day",
        ),
    ] = None,
    hours_per_day: HoursPerDay = Decimal(24),
    task_vcpu: Annotated[Decimal, _number("vCPU of one Fargate task.")] = TaskSize.vcpu,
    task_memory_gb: Annotated[
        Decimal, _number("Memory of one Fargate task, GB.")
    ] = TaskSize.memory_gb,
    free_tier: FreeTier = False,
    init_billing: InitBillingRule = "billed",
    month_days: MonthDays = Decimal(30),
    pricing_file: PricingFile = None,
    rate: Rates = None,
    as_json: AsJson = False,
) -> None:
    """Price a measured run: each target's month and cost per million delivered messages,
    and the rate where API Gateway + Lambda becomes dearer than containers."""
    for value, option in (
        (users, "--users"),
        (task_vcpu, "--task-vcpu"),
        (task_memory_gb, "--task-memory-gb"),
        (month_days, "--month-days"),
        (hours_per_day, "--hours-per-day"),
    ):
        _positive(value, option)
    if hours_per_day > 24:
        raise typer.BadParameter("a day has 24 hours", param_hint="--hours-per-day")
    pricing = _pricing(pricing_file, rate)
    try:
        measured = measure_run(results_dir)
    except MeasuredRunError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    own = load_of_run(measured)
    load = Load(
        users=users if users is not None else own.users,
        messages_per_user_per_day=(
            messages_per_user_per_day
            if messages_per_user_per_day is not None
            else own.messages_per_user_per_day
        ),
        room_size=own.room_size,
        hours_per_day=hours_per_day,
        month_days=month_days,
    )
    task = TaskSize(vcpu=task_vcpu, memory_gb=task_memory_gb)
    terms = PricingTerms(task=task, free_tier=free_tier, init_billing=init_billing)
    try:
        priced = price_run(measured, pricing, load, terms)
    except ValueError as exc:  # e.g. a task too small for the server's own memory
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _emit(as_json, "run", priced, pricing, render_run_pricing(priced, pricing))
    if not as_json:
        for line in describe_durations(measured):
            typer.echo(line)
