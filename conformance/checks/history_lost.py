"""A member resuming from a cursor older than what the room keeps is told what was lost."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

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
from contract.messages import HISTORY_SIZE_DEFAULT

EARLY = 5  # published before the cursor is taken: the cursor is the first of them
PAST_BOUND = 10  # published beyond the bound, so the messages after the cursor are gone
BATCH = 32  # published at once, then waited for: below any send queue (verify's is 64)
# Waiting out the age bound is chosen only when it is this short (a check has 90 s) and
# quicker than publishing past the count; a second more, so the youngest is surely older.
AGE_ROUTE_MAX_S = 70.0
AGE_MARGIN_S = 1.0


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


@dataclass(frozen=True)
class Bounds:
    """The history the server keeps: at most `size` messages, none older than `max_age_s`."""

    size: int
    max_age_s: float | None  # None: not told (verify assumes only the count)


async def history_bounds(ctx: CheckContext) -> Bounds:
    """The bounds as verify started the server, else as its `/healthz` says (a server at a
    URL), else the protocol's default count."""
    facts = await ctx.known_facts()
    return Bounds(facts.history_size or HISTORY_SIZE_DEFAULT, facts.history_max_age_s)


@dataclass(frozen=True)
class Passed:
    """How history was pushed past its bound: messages published, how many the room still
    keeps after the cursor, and in words."""

    published: int
    kept: int
    how: str


async def publish_past(publisher: Subscriber, bounds: Bounds, received: int) -> Passed:
    """Publish until messages after the cursor have left history, the quicker way: past the
    count, or (when that would take longer than the age bound) wait out the age and publish a
    few more."""
    started = time.monotonic()
    await publish_batches(publisher, "flood", BATCH, received)
    per_message_s = (time.monotonic() - started) / BATCH
    age = bounds.max_age_s
    if age is not None and age <= AGE_ROUTE_MAX_S and per_message_s * bounds.size > age:
        # The sleep is what is tested: every message after the cursor grows older than the
        # age bound, and the server must drop them by age.
        await asyncio.sleep(age + AGE_MARGIN_S)
        await publish_batches(publisher, "after-age", PAST_BOUND, received + BATCH)
        return Passed(BATCH + PAST_BOUND, PAST_BOUND, f"after the age bound of {age:g} s passed")
    rest = max(bounds.size + PAST_BOUND - BATCH, 0)
    await publish_batches(publisher, "flood-rest", rest, received + BATCH)
    return Passed(BATCH + rest, bounds.size, f"history bound {bounds.size}")


async def check_history_lost(ctx: CheckContext) -> Outcome:
    """Publish past the history bound, resume from a cursor before it, expect the answer."""
    if not ctx.spec.supports_resume:
        return skipped("not supported by this architecture (the target keeps no history)")
    bounds = await history_bounds(ctx)
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
        passed_bound = await publish_past(publisher, bounds, EARLY)
        published = passed_bound.published
        newest_id = cursor + EARLY - 1 + published
        resumed = ctx.subscriber("resumed")
        await resumed.connect(room, cursor)
        try:
            await resumed.wait_for(passed_bound.kept, IDLE_TIMEOUT_S, deadline_s=60.0)
        finally:
            await resumed.close()
        problem = (
            member_troubles([resumed])
            or lost_problem(resumed, cursor, newest_id, bounds.size)
            or member_troubles([publisher])
        )
        if problem is None and ctx.spec.family == "long-polling":
            problem = await held_poll_problem(ctx, room, cursor)
        if problem:
            return failed(f"resumed from id {cursor} after {published} more messages: {problem}")
    oldest_id = resumed.history_lost[0][1]["oldest_id"]
    return passed(
        f"resumed from id {cursor} after {published} more messages ({passed_bound.how}): "
        f"history_lost since {cursor}, oldest_id {oldest_id}, then ids {oldest_id}..{newest_id}"
    )
