"""A deliberately broken SSE target: the real SSE app, minus every tenth message.

Test-only: it must FAIL verification with a reason naming the lost messages.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servers.sse import app as sse_app

EVENT_ID = re.compile(rb"^id: (\d+)\n")
EVENT_END = b"\n\n"
DROP_EVERY = 10


def without_every_tenth(body: bytes) -> bytes:
    """`body` minus the events whose id is a multiple of ten.

    The target joins whatever queued during a send into one chunk, so a chunk may hold
    several events: each is judged on its own.
    """
    events = body.split(EVENT_END)
    kept = [
        event
        for event in events[:-1]
        if not ((match := EVENT_ID.match(event)) and int(match.group(1)) % DROP_EVERY == 0)
    ]
    return b"".join(event + EVENT_END for event in kept) + events[-1]


class DropEveryTenthEvent:
    """ASGI middleware that swallows SSE events whose id is a multiple of ten."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.state = getattr(inner, "state", None)  # the launcher closes the broker through it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def lossy_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": without_every_tenth(message.get("body", b""))}
            await send(message)

        await self.inner(scope, receive, lossy_send)


app = DropEveryTenthEvent(sse_app)
