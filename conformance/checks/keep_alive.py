"""The SSE stream carries keep-alive comments between events."""

from __future__ import annotations

import asyncio
import time

from conformance.context import CheckContext
from conformance.result import Outcome, failed, passed, skipped, warned
from conformance.sse import open_event_stream

DEFAULT_SSE_PING_S = 15.0  # docs/protocol.md: `--sse-ping-s` default
GRACE_S = 3.0


async def check_sse_keep_alive(ctx: CheckContext) -> Outcome:
    """A comment line (`: ping`) arrives within the ping interval on an idle stream."""
    if ctx.spec.family != "sse":
        return skipped("applies to SSE only")
    ping_s = (await ctx.known_facts()).sse_ping_s
    limit_s = (ping_s if ping_s is not None else DEFAULT_SSE_PING_S) + GRACE_S
    response = await open_event_stream(ctx.http, ctx.base_url, ctx.new_room("keepalive"))
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit_s):
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    waited_s = time.monotonic() - started
                    return passed(f"comment {line!r} after {waited_s:.1f} s on an idle stream")
        return failed("the stream ended before any keep-alive comment")
    except TimeoutError:
        if ping_s is None:
            return warned(
                f"no keep-alive comment within {limit_s:.0f} s (the server does not say its "
                f"interval; the protocol's default is {DEFAULT_SSE_PING_S:g} s)"
            )
        return failed(f"no keep-alive comment within {limit_s:.0f} s with a {ping_s:g} s interval")
    finally:
        await response.aclose()
