"""A test-only stand-in for the API Gateway + Lambda target's wire shape.

The real WebSocket app behind `ws://host:port/dev?room=R` (a stage path), delivering `id: null`
and ignoring cursors: what the conformance client must handle from capabilities alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import codec
from servers.websocket import WS_PATH
from servers.websocket import app as websocket_app
from servers.ws_protocol import DIRECT_SEND_EXTENSION

STAGE_PATH = "/dev"


class ApiGatewayShape:
    """ASGI middleware: stage path in, ids out, no resume."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.state = getattr(inner, "state", None)  # the launcher closes the broker through it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        # Every frame must pass through `without_ids`: no direct-send fast path.
        extensions = dict(scope.get("extensions") or {})
        extensions.pop(DIRECT_SEND_EXTENSION, None)
        scope = {**scope, "extensions": extensions}
        if scope["path"] == STAGE_PATH:
            query = b"&".join(
                part
                for part in scope.get("query_string", b"").split(b"&")
                if not part.startswith(b"since=")
            )
            scope = {**scope, "path": WS_PATH, "raw_path": WS_PATH.encode(), "query_string": query}

        async def without_ids(message: Message) -> None:
            if message["type"] == "websocket.send" and message.get("text"):
                delivered = codec.loads(message["text"])
                if isinstance(delivered, dict) and "id" in delivered:
                    message = {**message, "text": codec.dumps_str({**delivered, "id": None})}
            await send(message)

        await self.inner(scope, receive, without_ids)


app = ApiGatewayShape(websocket_app)
