"""The connection cap (`--max-connections`): past it, new subscribers are refused, not served.

Counted, on every target alike: WebSocket sessions and GET requests in progress (event
streams, held polls, polls), i.e. what a subscriber holds open. Publishes (POST) and the
service endpoints (`/healthz`, `/openapi.json`, `/_admin/...`) are neither counted nor
refused: at the cap the members already in keep talking, and monitoring keeps working.

At the cap, HTTP answers `503 {"error", "kind": "over_capacity"}` with `Retry-After`; a
WebSocket handshake is accepted, then closed 1013 "try again later: N connections open", so
the client sees the code and the reason (docs/protocol.md).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import CloseCode

from contract import codec

OVER_CAPACITY = "over_capacity"
RETRY_AFTER_S = 5
UNCOUNTED_PATHS = frozenset({"/healthz", "/openapi.json"})
UNCOUNTED_PREFIX = "/_admin/"


def over_capacity_reason(open_connections: int) -> str:
    """The close reason (and HTTP error text) at the cap."""
    return f"try again later: {open_connections} connections open"


def is_subscriber(scope: Scope) -> bool:
    """Whether a request or session counts against the cap."""
    path: str = scope.get("path", "")
    if path in UNCOUNTED_PATHS or path.startswith(UNCOUNTED_PREFIX):
        return False
    if scope["type"] == "websocket":
        return True
    return scope["type"] == "http" and scope["method"] in ("GET", "HEAD")


class ConnectionCap:
    """ASGI middleware: at most `max_connections` subscriber requests and sessions at once."""

    def __init__(self, app: ASGIApp, max_connections: int) -> None:
        self.app = app
        self.max_connections = max_connections
        self.open = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not is_subscriber(scope):
            await self.app(scope, receive, send)
            return
        if self.open >= self.max_connections:
            await refuse(scope, receive, send, self.open)
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1


async def refuse(scope: Scope, receive: Receive, send: Send, open_connections: int) -> None:
    """503 with Retry-After over HTTP; over WebSocket, accept and close 1013 with the reason."""
    reason = over_capacity_reason(open_connections)
    if scope["type"] == "websocket":
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            await send(
                {"type": "websocket.close", "code": CloseCode.TRY_AGAIN_LATER, "reason": reason}
            )
        return
    body = codec.dumps({"error": reason, "kind": OVER_CAPACITY, "field": None})
    response = Response(
        body,
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
    await response(scope, receive, send)
