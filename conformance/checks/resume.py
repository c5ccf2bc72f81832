"""A member that reconnects with its cursor loses nothing and repeats nothing."""

from __future__ import annotations

from conformance.checks.common import (
    IDLE_TIMEOUT_S,
    delivery_failure,
    member_troubles,
    publish_series,
)
from conformance.context import CheckContext
from conformance.result import Outcome, failed, passed, skipped

BEFORE, WHILE_AWAY, LIVE = 10, 10, 5
CURSOR_AHEAD = 10**9  # as if the server restarted and lost its history: must count as 0


async def check_resume(ctx: CheckContext) -> Outcome:
    """Force a reconnect mid-stream, publish while away, resume from the cursor."""
    if not ctx.spec.supports_resume:
        return skipped("not supported by this architecture (the target keeps no history)")
    room = ctx.new_room("resume")
    async with ctx.members(room, ["publisher"]) as (publisher,):
        reader = ctx.subscriber("reader")
        await reader.connect(room)
        try:
            before = await publish_series(publisher, "u1", BEFORE)
            await reader.wait_for(BEFORE, IDLE_TIMEOUT_S)
        finally:
            await reader.close()  # the forced disconnect
        problem = delivery_failure([reader], before) or member_troubles([reader])
        if problem:
            return failed(f"before the reconnect: {problem}")
        cursor = reader.cursor

        away = await publish_series(publisher, "u1", WHILE_AWAY, first_seq=BEFORE + 1)
        resumed = ctx.subscriber("resumed")
        await resumed.connect(room, cursor)
        try:
            live = await publish_series(publisher, "u1", LIVE, first_seq=BEFORE + WHILE_AWAY + 1)
            await resumed.wait_for(WHILE_AWAY + LIVE, IDLE_TIMEOUT_S)
        finally:
            await resumed.close()
        problem = delivery_failure([resumed], away + live) or member_troubles([resumed])
        if problem:
            return failed(f"resumed from id {cursor}: {problem}")

        everything = before + away + live
        restarted = ctx.subscriber("cursor-ahead")
        await restarted.connect(room, CURSOR_AHEAD)
        try:
            await restarted.wait_for(len(everything), IDLE_TIMEOUT_S)
        finally:
            await restarted.close()
        problem = delivery_failure([restarted], everything) or member_troubles([restarted])
        if problem:
            return failed(f"a cursor ahead of the newest id must count as 0: {problem}")
        problem = member_troubles([publisher])
        if problem:
            return failed(problem)
        told = [member.name for member in (resumed, restarted) if member.history_lost]
        if told:
            return failed(f"history_lost answered to {', '.join(told)}, who lost nothing")
    return passed(
        f"reconnected from id {cursor}: got the {WHILE_AWAY} missed and {LIVE} live, none lost "
        f"or repeated; a cursor ahead of the newest id replayed all {len(everything)}"
    )
