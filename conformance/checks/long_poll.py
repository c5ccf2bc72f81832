"""A long poll is held until a message exists, and answered empty when its wait runs out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conformance.checks.common import numbered
from conformance.context import CheckContext
from conformance.polling import get_messages
from conformance.result import Outcome, failed, passed, skipped, warned
from conformance.subscriber import post_publish

HOLD_S = 10.0  # long enough that a poll answered early is clearly not a timeout
SETTLE_S = 0.5  # how long a held poll must stay unanswered before the publish
SHORT_WAIT_S = 1.0


def _keys(body: dict[str, Any]) -> list[str]:
    return [f"{m.get('sender')}#{m.get('seq')}" for m in body["messages"]]


async def check_long_poll(ctx: CheckContext) -> Outcome:
    """Hold with `since`, wake on publish, time out empty, and wait without `since`."""
    if ctx.spec.family != "long-polling":
        return skipped("applies to long polling only")
    room = ctx.new_room("longpoll")
    last_id = (await get_messages(ctx.http, ctx.base_url, room))["last_id"]

    held = asyncio.create_task(get_messages(ctx.http, ctx.base_url, room, last_id, HOLD_S))
    await asyncio.sleep(SETTLE_S)
    if held.done():
        return failed(f"a poll with wait={HOLD_S:g} answered at once with {_keys(held.result())}")
    await post_publish(ctx.http, ctx.base_url, numbered(room, "u1", 1), ctx.spec)
    woken = await held
    if _keys(woken) != ["u1#1"]:
        return failed(f"the held poll was answered with {_keys(woken)} instead of [u1#1]")

    started = time.monotonic()
    idle = await get_messages(ctx.http, ctx.base_url, room, woken["last_id"], SHORT_WAIT_S)
    waited_s = time.monotonic() - started
    if idle["messages"]:
        return failed(f"a poll with nothing new answered {_keys(idle)}")
    if waited_s < SHORT_WAIT_S * 0.9:
        return failed(f"an empty poll with wait={SHORT_WAIT_S:g} answered after {waited_s:.2f} s")

    no_cursor = asyncio.create_task(get_messages(ctx.http, ctx.base_url, room, None, HOLD_S))
    await asyncio.sleep(SETTLE_S)
    if no_cursor.done():
        return failed(f"a poll without since answered at once with {_keys(no_cursor.result())}")
    await post_publish(ctx.http, ctx.base_url, numbered(room, "u1", 2), ctx.spec)
    next_new = await no_cursor
    if _keys(next_new) != ["u1#2"]:
        # Without a cursor the poll may not have been registered yet on a loaded machine.
        return warned(f"a held poll without since answered {_keys(next_new)} instead of [u1#2]")
    return passed(
        f"held until the publish, answered empty after {waited_s:.1f} s of wait="
        f"{SHORT_WAIT_S:g}, and without since waited for the next message"
    )
