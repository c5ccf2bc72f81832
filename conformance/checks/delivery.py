"""Every member receives every message exactly once, in order, its own included."""

from __future__ import annotations

import asyncio

from conformance.checks.common import (
    delivery_verdict,
    id_disagreements,
    member_troubles,
    publish_series,
    wait_all,
)
from conformance.context import CheckContext
from conformance.result import Outcome, Status, failed, passed

MEMBERS = ("m1", "m2", "m3", "m4")
PUBLISHERS = 3  # the first three members publish, concurrently
PER_PUBLISHER = 20


async def check_delivery(ctx: CheckContext) -> Outcome:
    """Several members, several concurrent publishers; detection by sender + seq."""
    room = ctx.new_room("delivery")
    async with ctx.members(room, list(MEMBERS)) as members:
        series = await asyncio.gather(
            *(
                publish_series(member, f"u{number}", PER_PUBLISHER)
                for number, member in enumerate(members[:PUBLISHERS], start=1)
            )
        )
        expected = [key for keys in series for key in keys]
        await wait_all(members, len(expected))
        verdict = delivery_verdict(ctx.spec, members, expected)
        problem = member_troubles(members) or id_disagreements(members)
    if verdict is not None and verdict.status is Status.FAIL:
        return verdict  # loss first: it is what a reader of the report needs most
    if problem:
        return failed(problem)
    if verdict is not None:
        return verdict
    return passed(
        f"{len(MEMBERS)} members × {len(expected)} messages from {PUBLISHERS} concurrent "
        "publishers: each exactly once, in order, own included"
    )
