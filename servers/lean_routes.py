"""The hot routes (poll, publish, event stream, socket) served in front of FastAPI's layers.

Every request of a run is one of `/rooms/{room}/messages` or `/rooms/{room}/events`, or the
WebSocket handshake at `/ws`. FastAPI
still registers them (it describes them at `/openapi.json`, answers 405 with `Allow` for
another method, serves HEAD and any path they do not match), but a GET or POST that matches
is handed to the same endpoint here directly: no routing over every route, no dependency
solving, no exception and exit-stack middlewares, no wrapper around every `send` — measured,
those cost a poll more CPU than the endpoint itself (issue 16). The endpoint and the error
handlers are FastAPI's own, so the answers are the same bytes either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

Endpoint = Callable[[Request], Awaitable[Response]]
SocketEndpoint = Callable[[WebSocket], Awaitable[None]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

ROOM_PREFIX = "/rooms/"


def room_resource(path: str) -> str:
    """The last segment of a `/rooms/{room}/...` route path (`messages`, `events`)."""
    prefix, _, resource = path.rpartition("/")
    if prefix != ROOM_PREFIX + "{room}" or not resource:
        raise ValueError(f"not a /rooms/{{room}}/RESOURCE path: {path!r}")
    return resource


class LeanRoutes:
    """ASGI middleware: `(method, resource)` of `/rooms/{room}/{resource}` → its endpoint, and
    a WebSocket session's exact path → its socket endpoint.

    A room matches as Starlette's `{room}` does (one non-empty segment, already
    percent-decoded); anything else goes on to `app`. Exceptions map to responses through
    `handlers` as in Starlette (the nearest class in the exception's MRO); one mapped from
    `Exception` is answered and re-raised, as ServerErrorMiddleware does, so the server logs it.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[tuple[str, str], Endpoint],
        handlers: Mapping[Any, Callable[..., Any]],
        sockets: Mapping[str, SocketEndpoint] | None = None,
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.handlers = handlers
        self.sockets = dict(sockets or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope.get("root_path"):
            if scope["type"] == "http":
                path: str = scope["path"]
                if path.startswith(ROOM_PREFIX):
                    _, _, room, resource = [*path.split("/", 3), "", ""][:4]
                    endpoint = self.routes.get((scope["method"], resource))
                    if endpoint is not None and room:
                        scope["path_params"] = {"room": room}
                        await self._serve(endpoint, scope, receive, send)
                        return
            elif scope["type"] == "websocket":
                socket_endpoint = self.sockets.get(scope["path"])
                if socket_endpoint is not None:
                    await socket_endpoint(WebSocket(scope, receive, send))
                    return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            if handler is self.handlers.get(Exception):
                await response(scope, receive, send)
                raise
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            handler = self.handlers.get(cls)
            if handler is not None:
                return handler
        return None
