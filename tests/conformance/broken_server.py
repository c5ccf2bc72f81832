"""A deliberately broken SSE target: the real SSE app, minus every tenth message.

Test-only: it must FAIL verification with a reason naming the lost messages.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servers.sse import app as sse_app

EVENT_ID = re.compile(rb"^id: (\d+)\n")
DROP_EVERY = 10


class DropEveryTenthEvent:
    """ASGI middleware that swallows SSE events whose id is a multiple of ten."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.state = getattr(inner, "state", None)  # the launcher closes the broker through it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def lossy_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                match = EVENT_ID.match(message.get("body", b""))
                if match and int(match.group(1)) % DROP_EVERY == 0:
                    message = {**message, "body": b""}
            await send(message)

        await self.inner(scope, receive, lossy_send)


app = DropEveryTenthEvent(sse_app)
