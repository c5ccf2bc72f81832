"""The opt-in cross-origin policy: exactly one browser origin may use a target (`--cors-origin`).

Off by default (no CORS headers at all). When set, for every target alike:
- HTTP: Starlette's CORSMiddleware with that origin only, methods GET/POST, request headers
  Content-Type and Last-Event-ID, no credentials; plus `Timing-Allow-Origin` for that origin,
  so the page's Resource Timing can see response header sizes (its bytes counters).
- Any request or WebSocket handshake whose `Origin` is present and is another origin is
  refused with 403 before it reaches the app: a browser would block reading the answer, but
  a form POST or a WebSocket from another page would otherwise still publish or subscribe.
Clients that send no `Origin` (load generators, curl) are unaffected.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.frames import CloseCode

from contract import codec

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("Content-Type", "Last-Event-ID")
PREFLIGHT_MAX_AGE_S = 600


class OriginPolicy:
    """ASGI middleware letting exactly one origin in, over HTTP and WebSocket."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.origin = origin
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin],
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        if origin is not None and origin != self.origin:
            await _refuse(scope, receive, send, origin)
        elif scope["type"] == "websocket":
            await self.app(scope, receive, send)
        else:
            await self.cors(scope, receive, self._with_timing_allow_origin(send))

    def _with_timing_allow_origin(self, send: Send) -> Send:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"timing-allow-origin", self.origin.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_header


async def _refuse(scope: Scope, receive: Receive, send: Send, origin: str) -> None:
    """403 with the protocol's JSON error; for a handshake, as its HTTP answer if supported."""
    body = codec.dumps(
        {"error": f"origin {origin!r} is not allowed", "kind": "forbidden_origin", "field": None}
    )
    response = Response(body, status_code=403, media_type="application/json")
    if scope["type"] == "http":
        await response(scope, receive, send)
    elif "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)  # Starlette prefixes the messages with websocket.
    else:
        # the server answers 403 itself
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
