"""A member resuming from a cursor older than what the room keeps is told what was lost."""

from __future__ import annotations

import asyncio
import contextlib
import time

from conformance import endpoints
from conformance.checks.common import (
    IDLE_TIMEOUT_S,
    delivery_failure,
    member_troubles,
    numbered,
    publish_series,
)
from conformance.context import CheckContext
from conformance.polling import LONG_POLL_WAIT_S, get_messages
from conformance.result import Outcome, failed, passed, skipped
from conformance.subscriber import Subscriber
from contract import codec
from contract.messages import HISTORY_SIZE_DEFAULT

EARLY = 5  # published before the cursor is taken: the cursor is the first of them
PAST_BOUND = 10  # published beyond the bound, so the messages after the cursor are gone
BATCH = 32  # published at once, then waited for: below any send queue (verify's is 64)


async def publish_batches(member: Subscriber, sender: str, count: int, received: int) -> None:
    """Publish `count` messages as `sender`, BATCH at a time, each batch received by `member`
    (who already has `received`) before the next: its own subscription never lags."""
    for first in range(1, count + 1, BATCH):
        seqs = range(first, min(first + BATCH, count + 1))
        await asyncio.gather(*(member.publish(numbered(member.room, sender, s)) for s in seqs))
        received += len(seqs)
        await member.wait_for(received, IDLE_TIMEOUT_S)


def lost_problem(resumed: Subscriber, cursor: int, newest_id: int, bound: int) -> str | None:
    """Why what a member resuming from `cursor` got is not the specified answer, or None."""
    if len(resumed.history_lost) != 1:
        return f"expected one history_lost answer, got {len(resumed.history_lost)}"
    before, notice = resumed.history_lost[0]
    if before:
        return f"history_lost came after {before} messages, not before the backlog"
    if notice["since"] != cursor:
        return f"history_lost says since {notice['since']}, the cursor was {cursor}"
    ids = [message.id for message in resumed.received]
    oldest_id = notice["oldest_id"]
    if oldest_id <= cursor + 1:
        return f"history_lost says oldest_id {oldest_id}: nothing lost after {cursor}"
    if ids != list(range(oldest_id, newest_id + 1)):
        shown = f"{ids[:3]}...{ids[-3:]}" if len(ids) > 6 else str(ids)
        return (
            f"history_lost says oldest_id {oldest_id}: expected ids {oldest_id}..{newest_id} "
            f"after it, got {len(ids)}: {shown}"
        )
    if len(ids) > bound:
        return f"{len(ids)} messages kept, over the history bound of {bound}"
    return None


async def held_poll_problem(ctx: CheckContext, room: str, cursor: int) -> str | None:
    """A held long poll from the old cursor must answer at once, with history_lost too."""
    started = time.monotonic()
    body = await get_messages(ctx.http, ctx.base_url, room, cursor, LONG_POLL_WAIT_S)
    waited = time.monotonic() - started
    if "history_lost" not in body:
        return "a held poll (wait) from the old cursor answered without history_lost"
    if waited > LONG_POLL_WAIT_S / 2:
        return f"a held poll from the old cursor was held {waited:.1f} s"
    return None


async def history_bound(ctx: CheckContext) -> int:
    """The history count the server keeps: as verify started it, else as its `/healthz`
    says (a server at a URL), else the protocol's default."""
    if ctx.facts.history_size is not None:
        return ctx.facts.history_size
    response = await ctx.http.get(endpoints.health_url(ctx.base_url), timeout=5.0)
    with contextlib.suppress(codec.JSONDecodeError):
        body = codec.loads(response.content)
        size = body.get("history_size") if isinstance(body, dict) else None
        if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            return size
    return HISTORY_SIZE_DEFAULT


async def check_history_lost(ctx: CheckContext) -> Outcome:
    """Publish past the history bound, resume from a cursor before it, expect the answer."""
    if not ctx.spec.supports_resume:
        return skipped("not supported by this architecture (the target keeps no history)")
    bound = await history_bound(ctx)
    room = ctx.new_room("lost")
    async with ctx.members(room, ["publisher"]) as (publisher,):
        reader = ctx.subscriber("reader")
        await reader.connect(room)
        try:
            early = await publish_series(publisher, "early", EARLY)
            await reader.wait_for(EARLY, IDLE_TIMEOUT_S)
        finally:
            await reader.close()
        problem = delivery_failure([reader], early) or member_troubles([reader])
        if problem:
            return failed(f"before the cursor was taken: {problem}")
        cursor = reader.received[0].id
        assert cursor is not None  # a target with resume assigns ids
        flood = bound + PAST_BOUND
        await publish_batches(publisher, "flood", flood, EARLY)
        newest_id = cursor + EARLY - 1 + flood
        resumed = ctx.subscriber("resumed")
        await resumed.connect(room, cursor)
        try:
            await resumed.wait_for(bound, IDLE_TIMEOUT_S, deadline_s=60.0)
        finally:
            await resumed.close()
        problem = (
            member_troubles([resumed])
            or lost_problem(resumed, cursor, newest_id, bound)
            or member_troubles([publisher])
        )
        if problem is None and ctx.spec.family == "long-polling":
            problem = await held_poll_problem(ctx, room, cursor)
        if problem:
            return failed(f"resumed from id {cursor} after {flood} more messages: {problem}")
    oldest_id = resumed.history_lost[0][1]["oldest_id"]
    return passed(
        f"resumed from id {cursor} after {flood} more messages (history bound {bound}): "
        f"history_lost since {cursor}, oldest_id {oldest_id}, then ids {oldest_id}..{newest_id}"
    )
