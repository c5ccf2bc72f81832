"""Messages stay in their room: members of one room never see another room's messages."""

from __future__ import annotations

import asyncio

from conformance.checks.common import (
    delivery_verdict,
    member_troubles,
    publish_series,
    wait_all,
)
from conformance.context import CheckContext
from conformance.result import Outcome, Status, failed, passed

PER_ROOM = 10


async def check_isolation(ctx: CheckContext) -> Outcome:
    """Two rooms whose names share a prefix, published to concurrently."""
    room_a = ctx.new_room("isolation")
    room_b = f"{room_a}-b"  # a prefix of room_b: catches prefix-matching routing bugs
    async with (
        ctx.members(room_a, ["a1", "a2"]) as in_a,
        ctx.members(room_b, ["b1", "b2"]) as in_b,
    ):
        keys_a, keys_b = await asyncio.gather(
            publish_series(in_a[0], "ua", PER_ROOM), publish_series(in_b[0], "ub", PER_ROOM)
        )
        await wait_all([*in_a, *in_b], PER_ROOM)
        await asyncio.sleep(0.2)  # a stray cross-room delivery would arrive about now
        verdict = delivery_verdict(ctx.spec, in_a, keys_a) or delivery_verdict(
            ctx.spec, in_b, keys_b
        )
        problem = member_troubles([*in_a, *in_b])
    if verdict is not None and verdict.status is Status.FAIL:
        return verdict  # loss first: it is what a reader of the report needs most
    if problem:
        return failed(problem)
    if verdict is not None:
        return verdict
    return passed(f"rooms {room_a!r} and {room_b!r}: each member got only its room's {PER_ROOM}")
