"""Bills as text a reader can follow line by line (the AWS Pricing Calculator's layout), and JSON.

Nothing here computes a price: every number shown comes from the bill objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from cost_model.apigw import ApiGatewayWsBill, metering_unit_bytes
from cost_model.charges import FlatCharge, TieredCharge, whole
from cost_model.chat import MAX_CONNECTION_HOURS, ChatBill
from cost_model.containers import FargateBill
from cost_model.dynamodb import DynamoDbBill
from cost_model.init_phase import describe_rule
from cost_model.lambda_cost import InitCharge, LambdaBill, LambdaEstimate
from cost_model.pricing import Pricing, TieredRate, iter_rates
from cost_model.units import GB_PER_MB, MINUTES_PER_HOUR, MS_PER_SECOND

INDENT = "  "
DEFAULT_CONCURRENCY_QUOTA = 1000  # Lambda's default concurrent executions per account and region


def count(value: Decimal | int) -> str:
    """A quantity with thousands separators: whole numbers bare, others to two places."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):,f}"
    return f"{value:,.2f}"


def fixed(value: Decimal, places: int = 2) -> str:
    """A quantity to a fixed number of places, with thousands separators."""
    return f"{value:,.{places}f}"


def plain(value: Decimal) -> str:
    """A size or rate exactly as it is, without exponent or trailing zeros (0.0000002)."""
    return f"{value.normalize():,f}"


def usd(value: Decimal) -> str:
    """Money to the cent."""
    return f"{value:,.2f} USD"


def _tier_lines(
    charge: TieredCharge, unit: str, depth: int = 1, quantity: Callable[[Decimal], str] = fixed
) -> list[str]:
    pad = INDENT * depth
    lines = [f"{pad}Tiered price for: {quantity(charge.quantity)} {unit}"]
    lines += [
        f"{pad}{INDENT}{quantity(tier.quantity)} {unit} x {plain(tier.unit_price)} USD"
        f" = {fixed(tier.exact_usd, 4)} USD"
        for tier in charge.tiers
    ]
    parts = " + ".join(f"{fixed(tier.exact_usd, 4)} USD" for tier in charge.tiers)
    total = f"{fixed(charge.exact_usd, 4)} USD"
    lines.append(
        f"{pad}Total tier cost = {total if len(charge.tiers) == 1 else parts + ' = ' + total}"
    )
    return lines


def _flat_line(charge: FlatCharge, unit: str) -> str:
    return f"{count(charge.quantity)} {unit} x {plain(charge.unit_price)} USD = {usd(charge.usd)}"


def init_summary(bill: LambdaBill) -> str:
    """The INIT line in one sentence: cold starts, their GB-s, what they cost and by which rule."""
    init, invocations = bill.init, bill.requests.requests
    share = init.invocations / invocations * 100 if invocations > 0 else Decimal(0)
    return (
        f"INIT phase: {count(whole(init.invocations))} of {count(invocations)} invocations"
        f" with INIT ({fixed(share)} %), {fixed(init.gb_seconds)} GB-s, {usd(init.usd)}"
        f" ({describe_rule(init.rule)})"
    )


def init_lines(init: InitCharge, memory_gb: Decimal, depth: int = 1) -> list[str]:
    """The INIT phase's lines: cold starts, billed INIT seconds, GB-s, the charge."""
    pad = INDENT * depth
    lines = [
        f"{pad}INIT phase (cold starts): {count(whole(init.invocations))} invocations with INIT,"
        f" {plain(memory_gb)} GB x {fixed(init.seconds)} seconds"
        f" = {fixed(init.gb_seconds)} INIT GB-s",
    ]
    # Billed: what the INIT GB-s add to the compute tiers, after what the free tier leaves.
    charge = f"{fixed(init.exact_usd, 4)} USD = " if init.rule == "billed" else ""
    lines.append(f"{pad}Monthly INIT charges ({describe_rule(init.rule)}): {charge}{usd(init.usd)}")
    return lines


def lambda_bill_lines(bill: LambdaBill, depth: int = 1) -> list[str]:
    """The Pricing calculations section of a Lambda bill: compute, requests, /tmp, total."""
    pad = INDENT * depth
    compute, requests, storage = bill.compute, bill.requests, bill.ephemeral_storage
    lines = [
        f"{pad}{plain(compute.memory_gb)} GB x {fixed(compute.compute_seconds)} seconds"
        f" = {fixed(compute.gb_seconds)} total compute (GB-s)",
    ]
    if bill.free_tier:
        lines += [
            f"{pad}{fixed(compute.gb_seconds)} GB-s - {count(compute.free_gb_seconds)}"
            f" free tier GB-s = {fixed(compute.net_gb_seconds)} GB-s",
            f"{pad}Max ({fixed(compute.net_gb_seconds)} GB-s, 0)"
            f" = {fixed(compute.billable_gb_seconds)} total billable GB-s",
        ]
    else:
        lines.append(
            f"{pad}Free tier not applied: {fixed(compute.billable_gb_seconds)} total billable GB-s"
        )
    lines += _tier_lines(compute.charge, "GB-s", depth)
    lines.append(
        f"{pad}Monthly compute charges ({compute.architecture}): {usd(compute.charge.usd)}"
    )
    lines += ["", *init_lines(bill.init, compute.memory_gb, depth), ""]
    billable = f"{count(requests.billable_requests)} total monthly billable requests"
    if bill.free_tier:
        lines += [
            f"{pad}{count(requests.requests)} requests - {count(requests.free_requests)}"
            f" free tier requests = {count(requests.net_requests)} monthly billable requests",
            f"{pad}Max ({count(requests.net_requests)} monthly billable requests, 0) = {billable}",
        ]
    else:
        lines.append(f"{pad}Free tier not applied: {billable}")
    lines += [
        f"{pad}{billable} x {plain(requests.charge.unit_price)} USD = {usd(requests.charge.usd)}",
        f"{pad}Monthly request charges: {usd(requests.charge.usd)}",
        "",
        f"{pad}{plain(storage.ephemeral_gb)} GB - {plain(storage.included_gb)} GB"
        f" (no additional charge) = {fixed(storage.billable_gb)} GB billable ephemeral storage"
        " per function",
    ]
    if storage.billable_gb > 0:
        lines += [
            f"{pad}{fixed(storage.billable_gb)} GB x {fixed(compute.compute_seconds)} seconds"
            f" = {fixed(storage.gb_seconds)} total storage (GB-s)",
            f"{pad}{fixed(storage.gb_seconds)} GB-s x {plain(storage.charge.unit_price)} USD"
            f" = {usd(storage.charge.usd)}",
        ]
    lines.append(f"{pad}Monthly ephemeral storage charges: {usd(storage.charge.usd)}")
    return lines


def _lambda_total_line(bill: LambdaBill) -> str:
    with_free = "with free tier" if bill.free_tier else "without free tier"
    return (
        f"Lambda costs - {with_free} (monthly): {usd(bill.compute.charge.usd)} compute"
        f" + {usd(bill.init.usd)} INIT + {usd(bill.requests.charge.usd)} requests"
        f" + {usd(bill.ephemeral_storage.charge.usd)} ephemeral storage"
        f" = {usd(bill.total_usd)}"
    )


def render_lambda(estimate: LambdaEstimate, pricing: Pricing) -> str:
    """The `tbench cost lambda` bill: unit conversions, pricing calculations, total."""
    rate, bill = estimate.throughput, estimate.bill
    compute, storage = bill.compute, bill.ephemeral_storage
    seconds_per_request = rate.duration_ms / MS_PER_SECOND
    lines = [
        f"AWS Lambda ({pricing.region}, {compute.architecture}), prices in {pricing.currency}",
        "",
        "Unit conversions",
        f"{INDENT}Amount of memory allocated: {count(compute.memory_mb)} MB x {plain(GB_PER_MB)}"
        f" GB in a MB = {plain(compute.memory_gb)} GB",
        f"{INDENT}Amount of ephemeral storage allocated: {count(storage.ephemeral_mb)} MB"
        f" x {plain(GB_PER_MB)} GB in a MB = {plain(storage.ephemeral_gb)} GB",
    ]
    if rate.given == "concurrency":
        lines += [
            f"{INDENT}Requests per second (Little's law): {count(rate.concurrency)} concurrent"
            f" executions / {plain(seconds_per_request)} seconds per request"
            f" = {count(rate.per_second)} per second",
            f"{INDENT}Requests per minute: {count(rate.per_second)} x 60 seconds"
            f" = {count(rate.per_minute)} per minute",
            f"{INDENT}Requests per hour: {count(rate.per_minute)} x 60 minutes"
            f" = {count(rate.per_hour)} per hour",
            f"{INDENT}Requests per day: {count(rate.per_hour)} x 24 hours"
            f" = {count(rate.per_day)} per day",
            f"{INDENT}Number of requests: {count(rate.per_day)} per day x {plain(rate.month_days)}"
            f" days in a month = {count(rate.per_month)} per month",
        ]
    else:
        lines += [
            f"{INDENT}Number of requests: {count(rate.per_month)} per month",
            f"{INDENT}Requests per day: {count(rate.per_month)} / {plain(rate.month_days)} days"
            f" = {count(rate.per_day)} per day",
            f"{INDENT}Requests per second: {count(rate.per_day)} / 86,400 seconds"
            f" = {count(rate.per_second)} per second",
            f"{INDENT}Average concurrency (Little's law): {count(rate.per_second)} per second"
            f" x {plain(seconds_per_request)} seconds per request"
            f" = {count(rate.concurrency)} concurrent executions",
        ]
    if rate.concurrency > DEFAULT_CONCURRENCY_QUOTA:
        lines.append(
            f"{INDENT}Note: {count(rate.concurrency)} concurrent executions exceeds Lambda's"
            f" default quota of {DEFAULT_CONCURRENCY_QUOTA:,} per account and region"
        )
    lines += [
        "",
        "Pricing calculations",
        f"{INDENT}{count(rate.per_month)} requests x {plain(rate.duration_ms)} ms x 0.001 ms to sec"
        f" conversion factor = {fixed(compute.compute_seconds)} total compute (seconds)",
    ]
    if estimate.cold_start_percent > 0:
        init = bill.init
        lines.append(
            f"{INDENT}{count(rate.per_month)} requests x {plain(estimate.cold_start_percent)} %"
            f" cold starts = {count(whole(init.invocations))} invocations with INIT x"
            f" {plain(estimate.init_duration_ms)} ms x 0.001 = {fixed(init.seconds)} INIT seconds"
        )
    lines += [
        *lambda_bill_lines(bill),
        "",
        _lambda_total_line(bill),
    ]
    return "\n".join(lines)


def apigw_lines(bill: ApiGatewayWsBill, pricing: Pricing, depth: int = 1) -> list[str]:
    """API Gateway WebSocket lines: metering, message tiers, connection-minutes."""
    pad = INDENT * depth
    unit_kb = pricing.apigw_websocket.metered_in_kb
    return [
        f"{pad}{count(bill.messages)} messages x {bill.units_per_message} metered message(s)"
        f" each ({bill.message_bytes:,} bytes; one per started {unit_kb} KB ="
        f" {metering_unit_bytes(pricing):,} bytes) = {count(bill.metered_messages)}"
        " metered messages",
        *_tier_lines(bill.message_charge, "messages", depth, quantity=count),
        f"{pad}Monthly message charges: {usd(bill.message_charge.usd)}",
        f"{pad}{_flat_line(bill.connection_charge, 'connection-minutes')}",
        f"{pad}Monthly connection charges: {usd(bill.connection_charge.usd)}",
    ]


def render_apigw(
    bill: ApiGatewayWsBill,
    pricing: Pricing,
    *,
    users: Decimal | None = None,
    hours_per_day: Decimal | None = None,
    month_days: Decimal | None = None,
) -> str:
    """The `tbench cost apigw-ws` bill."""
    lines = [
        f"API Gateway WebSocket ({pricing.region}), prices in {pricing.currency}",
        "",
        "Unit conversions",
    ]
    if users is not None and hours_per_day is not None and month_days is not None:
        lines.append(
            f"{INDENT}Connection-minutes: {count(users)} users x {plain(hours_per_day)} hours per"
            f" day x {MINUTES_PER_HOUR} minutes x {plain(month_days)} days"
            f" = {count(bill.connection_minutes)}"
        )
    else:
        lines.append(f"{INDENT}Connection-minutes: {count(bill.connection_minutes)} per month")
    lines += [
        "",
        "Pricing calculations",
        *apigw_lines(bill, pricing),
        "",
        f"API Gateway costs (monthly): {usd(bill.message_charge.usd)} messages"
        f" + {usd(bill.connection_charge.usd)} connection-minutes = {usd(bill.total_usd)}",
    ]
    return "\n".join(lines)


def dynamodb_lines(bill: DynamoDbBill, depth: int = 1) -> list[str]:
    """DynamoDB on-demand lines: write units, read units."""
    pad = INDENT * depth
    return [
        f"{pad}{_flat_line(bill.write_charge, 'write request units')}",
        f"{pad}{_flat_line(bill.read_charge, 'read request units')}",
    ]


def render_chat(bill: ChatBill, pricing: Pricing) -> str:
    """The `tbench cost chat` bill: workload, then every service's lines, then the total."""
    load = bill.workload
    days = plain(load.month_days)
    sessions_note = (
        "as given"
        if load.sessions_per_user_per_day is not None
        else f"{plain(load.hours_per_day)} hours / {plain(MAX_CONNECTION_HOURS)} hours maximum"
        " connection, rounded up"
    )
    lines = [
        f"Serverless chat on AWS ({pricing.region}): API Gateway WebSocket + Lambda + DynamoDB,"
        f" per month of {days} days, prices in {pricing.currency}",
        "",
        "Workload",
        f"{INDENT}Sessions per user per day: {plain(bill.sessions_per_user_per_day)}"
        f" ({sessions_note})",
        f"{INDENT}Sessions: {count(load.users)} users x {plain(bill.sessions_per_user_per_day)}"
        f" x {days} days = {count(bill.sessions)}",
        f"{INDENT}Messages sent: {count(load.users)} users x"
        f" {plain(load.messages_per_user_per_day)} per day x {days} days"
        f" = {count(bill.messages_sent)}",
        f"{INDENT}Connection-minutes: {count(load.users)} users x {plain(load.hours_per_day)} hours"
        f" x {MINUTES_PER_HOUR} minutes x {days} days = {count(bill.apigw.connection_minutes)}",
        "",
        "API Gateway WebSocket",
        f"{INDENT}Messages in: {count(bill.messages_in)} sendMessage frames",
        f"{INDENT}Messages out: {count(bill.messages_sent)} x {load.room_size:,} room members"
        f" (sender included) = {count(bill.messages_out)} @connections POSTs",
        *apigw_lines(bill.apigw, pricing),
        f"{INDENT}API Gateway total: {usd(bill.apigw.total_usd)}",
        "",
        f"AWS Lambda ({count(load.memory_mb)} MB = {plain(bill.lambda_.compute.memory_gb)} GB,"
        f" {load.architecture})",
    ]
    for fn in bill.functions:
        lines.append(
            f"{INDENT}{fn.name}: {count(fn.invocations)} invocations x {plain(fn.duration_ms)} ms"
            f" = {fixed(fn.compute_seconds)} seconds"
        )
        if fn.cold_starts > 0:
            lines.append(
                f"{INDENT * 2}with INIT (cold starts): {count(fn.cold_starts)} invocations,"
                f" {fixed(fn.init_seconds)} seconds of INIT"
            )
    lines += [
        f"{INDENT}Invocations: {' + '.join(count(fn.invocations) for fn in bill.functions)}"
        f" = {count(bill.lambda_.requests.requests)}",
        f"{INDENT}Compute: {' + '.join(fixed(fn.compute_seconds) for fn in bill.functions)}"
        f" = {fixed(bill.lambda_.compute.compute_seconds)} seconds",
        *lambda_bill_lines(bill.lambda_),
        f"{INDENT}{_lambda_total_line(bill.lambda_)}",
        "",
        "DynamoDB on-demand (connections table with a room index)",
        f"{INDENT}Room index query: {load.room_size:,} items x {load.connection_item_bytes:,} bytes"
        f" = {bill.room_query_bytes:,} bytes, eventually consistent (half a unit per started"
        f" {pricing.dynamodb.read_request_units.unit_kb} KB)",
    ]
    lines += [
        f"{INDENT}{op.name}: {count(op.count)} x {plain(op.units_each)} write units"
        f" (item of {load.connection_item_bytes:,} bytes, table + room index) = {count(op.units)}"
        for op in bill.writes
    ]
    lines += [
        f"{INDENT}{op.name}: {count(op.count)} x {plain(op.units_each)} read units"
        f" = {count(op.units)}"
        for op in bill.reads
    ]
    lines += [
        *dynamodb_lines(bill.dynamodb),
        f"{INDENT}DynamoDB total: {usd(bill.dynamodb.total_usd)}",
        "",
        f"Serverless chat total (monthly): {usd(bill.apigw.total_usd)} API Gateway"
        f" + {usd(bill.lambda_.total_usd)} Lambda + {usd(bill.dynamodb.total_usd)} DynamoDB"
        f" = {usd(bill.total_usd)}",
    ]
    return "\n".join(lines)


def render_fargate(bill: FargateBill, pricing: Pricing) -> str:
    """The `tbench cost fargate` bill."""
    return "\n".join(
        [
            f"AWS Fargate, Linux x86 ({pricing.region}), prices in {pricing.currency}",
            "",
            "Unit conversions",
            f"{INDENT}Hours: {count(bill.hours)} per task per month (always on)",
            f"{INDENT}vCPU-hours: {count(bill.tasks)} tasks x {plain(bill.vcpu_per_task)} vCPU"
            f" x {count(bill.hours)} hours = {count(bill.vcpu_hours)}",
            f"{INDENT}GB-hours: {count(bill.tasks)} tasks x {plain(bill.memory_gb_per_task)} GB"
            f" x {count(bill.hours)} hours = {count(bill.gb_hours)}",
            "",
            "Pricing calculations",
            f"{INDENT}{_flat_line(bill.vcpu_charge, 'vCPU-hours')}",
            f"{INDENT}{_flat_line(bill.memory_charge, 'GB-hours')}",
            "",
            f"Fargate costs (monthly): {usd(bill.vcpu_charge.usd)} vCPU"
            f" + {usd(bill.memory_charge.usd)} memory = {usd(bill.total_usd)}",
        ]
    )


def render_prices(pricing: Pricing) -> str:
    """Every rate with its `--rate` path, price, unit, source and as-of date."""
    lines = [f"Prices for {pricing.region} in {pricing.currency}"]
    for path, rate in iter_rates(pricing):
        per = (
            f"USD per {rate.per:,} {rate.unit}" if rate.per != 1 else f"USD per unit ({rate.unit})"
        )
        if isinstance(rate, TieredRate):
            tiers = "; ".join(
                f"{plain(tier.price)} up to {tier.up_to:,}"
                if tier.up_to is not None
                else f"{plain(tier.price)} above"
                for tier in rate.tiers
            )
            price = f"{tiers} ({per}; paths {path}.tiers.N.price)"
        else:
            price = f"{plain(rate.price)} {per}"
        lines.append(f"{INDENT}{path}: {price}  [{rate.source}, as of {rate.as_of.isoformat()}]")
    return "\n".join(lines)


def to_jsonable(value: Any) -> Any:
    """Bills as plain JSON values: whole Decimals become ints, the rest floats, dates ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name.rstrip("_"): to_jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [to_jsonable(item) for item in value]
    return value


def bill_json(kind: str, bill: Any, pricing: Pricing) -> dict[str, Any]:
    """One machine-readable document: what was priced, where, in which currency, and the bill."""
    return {
        "service": kind,
        "region": pricing.region,
        "currency": pricing.currency,
        **to_jsonable(bill),
    }
