"""Serverless chat (API Gateway WebSocket + Lambda + DynamoDB): a month's bill from user habits.

The architecture priced is the one in servers/lambda_ws: a connections table keyed by
connection id with a room index (a global secondary index); `$connect` puts an item,
`$disconnect` deletes it, and `sendMessage` queries the room index and POSTs the message to
every member's connection through `@connections`, the sender's own included. Rare paths
(a sender not yet in the lagging index, 410 Gone clean-ups) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cost_model.apigw import ApiGatewayWsBill, apigw_ws_bill, connection_minutes
from cost_model.charges import ceil_whole, to_cents
from cost_model.dynamodb import (
    DynamoDbBill,
    dynamodb_bill,
    read_units_per_request,
    write_units_per_item,
)
from cost_model.init_phase import InitBilling
from cost_model.lambda_cost import (
    LambdaBill,
    LambdaFunction,
    LambdaUsage,
    compute_seconds,
    lambda_bill,
)
from cost_model.pricing import Architecture, Pricing

MAX_CONNECTION_HOURS = Decimal(2)  # API Gateway closes every WebSocket after 2 hours
ROOM_INDEX_COUNT = 1  # each connection-item write is also written to the room index


@dataclass(frozen=True)
class InitPerUse:
    """Cold starts per use of a function (a message sent, a session) and their billed INIT ms."""

    cold_starts: Decimal = Decimal(0)
    billed_ms: Decimal = Decimal(0)


NO_COLD_STARTS = InitPerUse()


@dataclass(frozen=True)
class ChatWorkload:
    """Who chats how much, and how the serverless chat's functions and table behave."""

    users: Decimal
    hours_per_day: Decimal  # hours each user stays connected per day
    messages_per_user_per_day: Decimal
    room_size: int  # members who receive each message, the sender included
    message_bytes: int = 512  # average frame size, in and out
    month_days: Decimal = Decimal(30)
    sessions_per_user_per_day: Decimal | None = None  # None: as few as the 2 h limit allows
    memory_mb: Decimal = Decimal(256)
    architecture: Architecture = "x86_64"
    send_duration_ms: Decimal = Decimal(100)  # grows with room size: one POST per member
    connect_duration_ms: Decimal = Decimal(20)
    disconnect_duration_ms: Decimal = Decimal(20)
    connection_item_bytes: int = 100  # ~75 B: connection id, room, connectedAt, expiresAt
    free_tier: bool = True
    send_init: InitPerUse = NO_COLD_STARTS  # per message sent
    connect_init: InitPerUse = NO_COLD_STARTS  # per session
    disconnect_init: InitPerUse = NO_COLD_STARTS  # per session
    init_billing: InitBilling = "billed"


@dataclass(frozen=True)
class FunctionUsage:
    """One Lambda function's month: invocations x billed duration = compute seconds, and INIT."""

    name: str
    invocations: Decimal
    duration_ms: Decimal
    compute_seconds: Decimal
    cold_starts: Decimal = Decimal(0)
    init_seconds: Decimal = Decimal(0)  # billed INIT time of those cold starts


@dataclass(frozen=True)
class TableOperation:
    """One kind of DynamoDB request in a month: count x request units each."""

    name: str
    count: Decimal
    units_each: Decimal
    units: Decimal


@dataclass(frozen=True)
class ChatBill:
    """Every quantity of the chat's month, from sessions to dollars, and the total."""

    workload: ChatWorkload
    sessions_per_user_per_day: Decimal
    sessions: Decimal
    messages_sent: Decimal
    messages_in: Decimal
    messages_out: Decimal
    apigw: ApiGatewayWsBill
    functions: tuple[FunctionUsage, ...]
    lambda_: LambdaBill
    room_query_bytes: int
    writes: tuple[TableOperation, ...]
    reads: tuple[TableOperation, ...]
    dynamodb: DynamoDbBill
    total_usd: Decimal  # the sum of the cent-rounded service lines


def sessions_per_user_per_day(hours_per_day: Decimal) -> Decimal:
    """Connections a user opens per day when each may last at most 2 hours."""
    return max(Decimal(1), ceil_whole(hours_per_day / MAX_CONNECTION_HOURS))


def chat_bill(workload: ChatWorkload, pricing: Pricing) -> ChatBill:
    """Price a month of serverless chat, keeping every intermediate quantity for display."""
    days = workload.month_days
    per_day = workload.sessions_per_user_per_day or sessions_per_user_per_day(
        workload.hours_per_day
    )
    sessions = workload.users * per_day * days
    messages_sent = workload.users * workload.messages_per_user_per_day * days
    messages_out = messages_sent * workload.room_size  # one @connections POST per member

    apigw = apigw_ws_bill(
        messages_sent + messages_out,
        workload.message_bytes,
        connection_minutes(workload.users, workload.hours_per_day, days),
        pricing,
    )

    functions = tuple(
        FunctionUsage(
            name,
            count,
            duration,
            compute_seconds(count, duration),
            count * init.cold_starts,
            compute_seconds(count, init.billed_ms),
        )
        for name, count, duration, init in (
            ("sendMessage", messages_sent, workload.send_duration_ms, workload.send_init),
            ("$connect", sessions, workload.connect_duration_ms, workload.connect_init),
            ("$disconnect", sessions, workload.disconnect_duration_ms, workload.disconnect_init),
        )
    )
    usage = LambdaUsage(
        requests=sum((f.invocations for f in functions), Decimal(0)),
        seconds=sum((f.compute_seconds for f in functions), Decimal(0)),
        init_invocations=sum((f.cold_starts for f in functions), Decimal(0)),
        init_seconds=sum((f.init_seconds for f in functions), Decimal(0)),
    )
    lambda_charges = lambda_bill(
        usage,
        LambdaFunction(memory_mb=workload.memory_mb, architecture=workload.architecture),
        pricing,
        free_tier=workload.free_tier,
        init_billing=workload.init_billing,
    )

    item_write = Decimal(write_units_per_item(workload.connection_item_bytes, pricing))
    per_item_write = item_write * (1 + ROOM_INDEX_COUNT)  # table + room index
    room_query_bytes = workload.room_size * workload.connection_item_bytes
    # A query on a global secondary index is always eventually consistent.
    per_query = read_units_per_request(room_query_bytes, pricing, eventually_consistent=True)
    writes = tuple(
        TableOperation(name, sessions, per_item_write, sessions * per_item_write)
        for name in ("put connection ($connect)", "delete connection ($disconnect)")
    )
    reads = (
        TableOperation(
            "query room index (sendMessage)", messages_sent, per_query, messages_sent * per_query
        ),
    )
    table = dynamodb_bill(
        sum((op.units for op in writes), Decimal(0)),
        sum((op.units for op in reads), Decimal(0)),
        pricing,
    )

    total = to_cents(apigw.total_usd + lambda_charges.total_usd + table.total_usd)
    return ChatBill(
        workload=workload,
        sessions_per_user_per_day=per_day,
        sessions=sessions,
        messages_sent=messages_sent,
        messages_in=messages_sent,
        messages_out=messages_out,
        apigw=apigw,
        functions=functions,
        lambda_=lambda_charges,
        room_query_bytes=room_query_bytes,
        writes=writes,
        reads=reads,
        dynamodb=table,
        total_usd=total,
    )
