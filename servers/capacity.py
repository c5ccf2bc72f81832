"""The connection cap (`--max-connections`): past it, new subscribers are refused, not served.

Counted, on every target alike: WebSocket sessions and GET requests in progress (event
streams, held polls, polls), i.e. what a subscriber holds open. Publishes (POST) and the
service endpoints (`/healthz`, `/openapi.json`, `/_admin/...`) are neither counted nor
refused: at the cap the members already in keep talking, and monitoring keeps working.

At the cap, HTTP answers `503 {"error", "kind": "over_capacity"}` with `Retry-After`; a
WebSocket handshake is accepted, then closed 1013 "try again later: N connections open", so
the client sees the code and the reason (docs/protocol.md).

A short-polling subscriber holds its keep-alive connection between polls, not a request: its
cap counts the server's open connections too (less the caller's own), or an overload would
queue ahead of the app, where requests in progress never show it.

Members come first: a subscriber resuming with a cursor (a poll or a WebSocket with `since`,
an event stream with `Last-Event-ID`) is a member coming back, refused only at twice the cap.
Without that, a long poll's every re-poll and a short poll's every poll would compete with
the newcomers the cap turns away, and an overload would refuse the members it should keep.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import CloseCode

from contract import codec

OVER_CAPACITY = "over_capacity"
RETRY_AFTER_S = 5
UNCOUNTED_PATHS = frozenset({"/healthz", "/openapi.json"})
UNCOUNTED_PREFIX = "/_admin/"
MEMBER_HEADROOM = 2  # a member resuming with a cursor is refused only at this many times the cap


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


def is_member(scope: Scope) -> bool:
    """Whether a subscriber resumes with a cursor: `since=` in the query, or Last-Event-ID."""
    query: bytes = scope.get("query_string", b"")
    if any(part.startswith(b"since=") for part in query.split(b"&")):
        return True
    return any(name == b"last-event-id" for name, _ in scope.get("headers", ()))


class ConnectionCap:
    """ASGI middleware: at most `max_connections` subscriber requests and sessions at once."""

    def __init__(
        self, app: ASGIApp, max_connections: int, connections: Callable[[], int] | None = None
    ) -> None:
        self.app = app
        self.max_connections = max_connections
        self.open = 0  # one event loop: no lock needed
        self.connections = connections  # the server's open connections, where they count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not is_subscriber(scope):
            await self.app(scope, receive, send)
            return
        limit = self.max_connections
        held = self.open if self.connections is None else max(self.open, self.connections() - 1)
        if held >= limit and (not is_member(scope) or held >= limit * MEMBER_HEADROOM):
            await refuse(scope, receive, send, held)
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
