"""What every target's HTTP side shares: app factory, healthz, publish, JSON errors, cursors."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp

from contract import codec
from contract.messages import (
    InvalidInput,
    Problem,
    decode_object,
    parse_publish,
    validate_room,
)
from servers.brokers.factory import make_broker
from servers.brokers.seam import Broker, History
from servers.capacity import ConnectionCap
from servers.client_connections import ClientConnections
from servers.cross_origin import OriginPolicy
from servers.lean_routes import Endpoint, LeanRoutes, SocketEndpoint, room_resource
from servers.openapi import Dropped, Health, publish_docs
from servers.settings import Settings

JSON = "application/json"
MESSAGES_PATH = "/rooms/{room}/messages"
ADMIN_DROP_PATH = "/_admin/drop"
DECIMAL_PATTERN = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

# the transport settings `/healthz` may report (create_app's `told`), named as in Settings
HealthSetting = Literal["queue_size", "sse_ping_s"]


class InvalidQuery(InvalidInput):
    """A bad query parameter or header: always 400, whatever its kind (docs/protocol.md)."""

    http_status = 400


def json_response(body: object, status_code: int = 200) -> Response:
    """A JSON response serialized with the shared codec."""
    return Response(codec.dumps(body), status_code=status_code, media_type=JSON)


def error_response(status_code: int, error: str, kind: str, field: str | None = None) -> Response:
    """The `{"error", "kind", "field"}` body every HTTP error carries."""
    return json_response({"error": error, "kind": kind, "field": field}, status_code)


def parse_cursor(raw: str | None, field: str = "since") -> int | None:
    """A resume cursor (`since` / Last-Event-ID): absent, or an integer >= 0."""
    if raw is None:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:  # fits a 64-bit id
        return int(raw)
    raise InvalidQuery(Problem.INVALID_FIELD, field, "must be an integer >= 0")


def parse_wait(raw: str | None, max_wait_s: float) -> float:
    """A long poll's `wait`: absent (0), or seconds > 0, clamped to `max_wait_s`."""
    if raw is None:
        return 0.0
    # A decimal number only: float() alone also takes "1_0", " 1" and non-ASCII digits ("٣").
    value = float(raw) if DECIMAL_PATTERN.fullmatch(raw) else math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidQuery(Problem.INVALID_FIELD, "wait", "must be a number of seconds > 0")
    return min(value, max_wait_s)


def messages_response(history: History) -> Response:
    """`{"messages": [...], "last_id": N}` built from the already-encoded messages, plus
    `"history_lost": {...}` when messages after the cursor were no longer kept."""
    body = b'{"messages":[%s],"last_id":%d' % (
        b",".join(delivery.data for delivery in history.deliveries),
        history.last_id,
    )
    if history.lost is not None:
        body += b',"history_lost":%s' % history.lost.data
    return Response(body + b"}", media_type=JSON)


async def read_body_limited(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) past `max_bytes` without buffering more than that."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(f"{int(declared)} bytes", max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:  # chunked, or longer than it declared: stop reading
            raise _too_large(f"more than {max_bytes} bytes", max_bytes)
    return bytes(body)


def _too_large(size: str, max_bytes: int) -> InvalidInput:
    return InvalidInput(Problem.TOO_LARGE, None, f"message of {size} exceeds {max_bytes}")


async def _invalid_input(request: Request, exc: InvalidInput) -> Response:
    status = exc.http_status if isinstance(exc, InvalidQuery) else exc.problem.http_status
    return json_response(exc.to_json(), status)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    phrase = HTTPStatus(exc.status_code).phrase
    kind = phrase.lower().replace(" ", "_").replace("-", "_")  # 404 not_found, 405 ...
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    response = error_response(exc.status_code, detail, kind)
    if exc.headers:
        response.headers.update(exc.headers)  # e.g. Allow on 405
    return response


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ())]
    return error_response(
        422, str(first.get("msg", "invalid request")), "invalid_field", loc[-1] if loc else None
    )


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # The client left mid-body (or its request timed out): nobody reads this answer, and it
    # is no server error (the catch-all below would log a traceback for it).
    return error_response(400, "client disconnected", "client_disconnected")


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal server error", "internal")


class TargetApp(FastAPI):
    """FastAPI with the hot routes served in front of its per-request layers.

    Outermost the origin policy (so a 503 at the cap still carries the CORS headers), then the
    connection cap, then `LeanRoutes` for the routes added with `add_hot_route`, then FastAPI's
    own stack for everything else.
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot_routes: dict[tuple[str, str], Endpoint] = {}
        self.hot_sockets: dict[str, SocketEndpoint] = {}
        self.target_settings = settings
        # the server's open connections, where the cap counts them (short polling)
        self.cap_counts: Callable[[], int] | None = None

    def add_hot_route(
        self, method: str, path: str, endpoint: Endpoint, **docs: Any
    ) -> Callable[..., Any]:
        """Serve `endpoint` at `path` (`/rooms/{room}/...`) for `method`, described by `docs`."""
        self.hot_routes[(method, room_resource(path))] = endpoint
        self.add_api_route(path, endpoint, methods=[method], **docs)
        return endpoint

    def add_hot_socket_route(self, path: str, endpoint: SocketEndpoint) -> SocketEndpoint:
        """Serve WebSocket sessions at `path` with `endpoint`.

        Also a plain Starlette route (behind a root path, say): FastAPI's would solve (empty)
        dependencies on every handshake, and a WebSocket route is not in the OpenAPI schema.
        """
        self.hot_sockets[path] = endpoint
        self.router.add_websocket_route(path, endpoint)
        return endpoint

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack behind the hot routes, the connection cap and the origin policy."""
        stack: ASGIApp = LeanRoutes(
            super().build_middleware_stack(),
            self.hot_routes,
            self.exception_handlers,
            self.hot_sockets,
        )
        stack = ConnectionCap(
            stack, max_connections=self.target_settings.max_connections, connections=self.cap_counts
        )
        if self.target_settings.cors_origin is not None:
            stack = OriginPolicy(stack, origin=self.target_settings.cors_origin)
        return stack


def create_app(
    target: str,
    settings: Settings | None = None,
    broker: Broker | None = None,
    *,
    http_publish: bool = True,
    told: tuple[HealthSetting, ...] = (),
) -> TargetApp:
    """A target's app: healthz, optionally HTTP publish, JSON errors, `/openapi.json`.

    `told`: the settings of this target's transport that `/healthz` reports beside the history
    bounds, so that a check of a server at a URL knows them (the push targets' queue size).

    The connection cap always; CORS (one origin) and the `/_admin/drop` fault only when the
    settings ask for them.
    """
    settings = settings if settings is not None else Settings.from_env()
    broker = broker if broker is not None else make_broker(settings)
    app = TargetApp(
        settings,
        title=f"transport-bench {target}",
        # No OpenTelemetry: nothing is exported from a target, and FastAPI would otherwise look
        # up the global providers on every request (measured ~3% of a poll's CPU, issue 16).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url=None,  # the schema only: no pages that load scripts from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",  # read-only description; schemathesis tests against it
        exception_handlers={
            InvalidInput: _invalid_input,
            ClientDisconnect: _client_gone,
            HTTPException: _http_error,
            RequestValidationError: _validation_error,
            Exception: _internal_error,
        },
    )
    app.state.target = target
    app.state.settings = settings
    app.state.broker = broker  # servers.launch closes it first on shutdown
    # servers.launch attaches its uvicorn server, so the drop fault can close connections.
    client_connections = app.state.client_connections = ClientConnections()

    @app.get("/healthz", responses={200: {"model": Health, "description": "alive"}})
    async def healthz() -> Response:
        """Liveness, the open subscriber connections / held polls of this process, the
        history bounds its broker applies and the `told` settings (so a check of a server at a
        URL knows them), and the messages it holds in history now (the runner subtracts their
        memory from RSS)."""
        body: dict[str, object] = {
            "status": "ok",
            "target": target,
            "connections": broker.connection_count(),
            "history_size": broker.history_size,
            "history_max_age_s": broker.history_max_age_s,
            "retained": broker.kept_count(),
        }
        body.update((name, getattr(settings, name)) for name in told)
        return json_response(body)

    if settings.admin:

        @app.post(ADMIN_DROP_PATH, responses={200: {"model": Dropped, "description": "ended"}})
        async def drop(request: Request) -> Response:
            """The "drop" fault: end every subscription and held poll, close every connection.

            `dropped` counts the subscriptions and held polls ended, `connections` the client
            TCP connections closed (all but the caller's own).
            """
            dropped = await broker.drop_all()
            closed = client_connections.close_all(keep=request.scope.get("client"))
            return json_response({"dropped": dropped, "connections": closed})

    if http_publish:

        async def publish(request: Request) -> Response:
            """Validate and publish one message; 201 with the message as stored."""
            room = validate_room(request.path_params["room"])
            raw = await read_body_limited(request, settings.max_message_bytes)
            delivery = await broker.publish(parse_publish(decode_object(raw), room=room))
            return Response(delivery.data, status_code=201, media_type=JSON)

        app.add_hot_route("POST", MESSAGES_PATH, publish, **publish_docs())

    return app
