"""The API Gateway WebSocket data plane, locally: client connections, routes, @connections.

`WS /{stage}?room=R`: `$connect` runs before the handshake completes (a non-2xx answer
rejects it with that status); each frame is routed by its JSON `action` (falling back to
`$default`); closing runs `$disconnect`. `/{stage}/@connections/{id}` is the management API
boto3's `apigatewaymanagementapi` client speaks (POST / GET / DELETE, 410, 413). Quotas:
idle timeout, maximum connection duration, new-connection rate, message and frame sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.frames import CloseCode

from contract import codec
from contract.messages import MAX_MESSAGE_BYTES
from servers.capacity import over_capacity_reason
from servers.lambda_ws.environments import Invocation, LambdaService
from servers.lambda_ws.events import (
    ApiInfo,
    ClientInfo,
    connect_event,
    disconnect_event,
    message_event,
    new_id,
)
from servers.lambda_ws.frames import ACTIVITY_EXTENSION, Activity
from servers.lambda_ws.management_api import BodyReader, close_server, serve_management_api

TARGET_NAME = "lambda"
ADMIN_DROP_PATH = "/_admin/drop"  # as on every target (servers.http_common)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The API's stage and id, and API Gateway's WebSocket quotas (configurable for tests)."""

    stage: str = "local"
    api_id: str = "tbenchlocal"
    idle_timeout_s: float = 10 * 60.0
    max_connection_s: float = 2 * 60 * 60.0
    new_connections_per_s: float = 500.0  # per account and region
    max_message_bytes: int = MAX_MESSAGE_BYTES
    # Not an AWS quota: this process's cap (`--max-connections`), as on every target.
    max_connections: int = 10_000


@dataclass
class GatewayStats:
    """What the data plane did (the runner reads these from /_stats)."""

    connections_opened: int = 0
    connections_rejected: int = 0  # $connect answered non-2xx
    connections_rate_limited: int = 0  # over the new-connection rate (429)
    connections_over_capacity: int = 0  # over --max-connections (accepted, closed 1013)
    connect_failures: int = 0  # $connect throttled or failed (500)
    messages_received: int = 0
    integration_failures: int = 0  # "Internal server error" frames sent to clients
    posts: int = 0  # @connections POSTs delivered
    posts_gone: int = 0  # ... answered 410
    posts_too_large: int = 0  # ... answered 413
    posts_limited: int = 0  # ... answered 429: the client is not reading, its buffer is full
    closed_idle: int = 0
    closed_max_duration: int = 0
    closed_by_delete: int = 0
    closed_by_drop: int = 0  # POST /_admin/drop (--admin): the "drop" fault


class TokenBucket:
    """A rate limit with a burst of one second's worth."""

    def __init__(self, rate_per_s: float) -> None:
        self.rate = rate_per_s
        self.tokens = rate_per_s
        self.updated = time.monotonic()

    def take(self) -> bool:
        """Spend a token if one is left."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class ClientConnection:
    """An open client connection."""

    websocket: WebSocket
    info: ClientInfo
    api: ApiInfo
    activity: Activity
    headers: list[tuple[str, str]]  # the handshake's, for the $connect event
    query: str
    buffer_full: Callable[[], bool]  # the client stopped reading (see frames.py)
    opened: float = field(default_factory=time.monotonic)
    close_code: int | None = None  # set when the gateway (not the client) closes it
    close_reason: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Gateway:
    """The emulated WebSocket API: one stage, its routes, and the functions behind them."""

    def __init__(
        self, config: GatewayConfig, lambdas: LambdaService, routes: Mapping[str, str]
    ) -> None:
        self.config = config
        self.lambdas = lambdas
        self.routes = dict(routes)  # route key -> function name
        self.connections: dict[str, ClientConnection] = {}
        self.stats = GatewayStats()
        self.closing = False
        self._new_connections = TokenBucket(config.new_connections_per_s)
        self._sessions = 0  # client connections from handshake to $disconnect (the cap's count)

    def app(
        self, *, admin: bool = False, management_socket: socket.socket | None = None
    ) -> Starlette:
        """The ASGI app; with `admin`, also `POST /_admin/drop` (as every target's `--admin`).

        With `management_socket` (bound, listening), the functions' @connections API is also
        served there, lean, beside the app's own route (see management_api.py).
        """

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            management = None
            if management_socket is not None:
                management = await serve_management_api(
                    self.management_call, self.config.max_message_bytes, management_socket
                )
            await self.lambdas.start()
            try:
                yield
            finally:
                self.closing = True
                await self.lambdas.close()
                if management is not None:
                    await close_server(management)

        admin_routes = [Route(ADMIN_DROP_PATH, self.drop, methods=["POST"])] if admin else []
        return Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/_stats", self.stats_endpoint),
                *admin_routes,
                Route(
                    "/{stage}/@connections/{connection_id}",
                    self.manage_connection,
                    methods=["GET", "POST", "DELETE"],
                ),
                WebSocketRoute("/{stage}", self.client_connection),
            ],
            lifespan=lifespan,
        )

    # --- plain HTTP ------------------------------------------------------------------------

    async def healthz(self, request: Request) -> JSONResponse:
        """`GET /healthz`, like every target."""
        return JSONResponse(
            {"status": "ok", "target": TARGET_NAME, "connections": len(self.connections)}
        )

    async def stats_endpoint(self, request: Request) -> JSONResponse:
        """`GET /_stats`: gateway and Lambda counters, and the limits in force."""
        return JSONResponse(
            {
                "target": TARGET_NAME,
                "connections": len(self.connections),
                "gateway": asdict(self.stats),
                "lambda": self.lambdas.snapshot(),
                "limits": {**asdict(self.config), **asdict(self.lambdas.limits)},
            }
        )

    async def drop(self, request: Request) -> JSONResponse:
        """`POST /_admin/drop`: close every client connection at once, 1001 "Going away".

        What API Gateway does at a deployment or its connection limits; each connection's
        `$disconnect` runs as on any close. Handshakes still in `$connect` are not dropped.
        """
        dropped = list(self.connections.values())
        self.stats.closed_by_drop += len(dropped)
        await asyncio.gather(
            *(self._close(connection, CloseCode.GOING_AWAY, "Going away") for connection in dropped)
        )
        return JSONResponse({"dropped": len(dropped), "connections": len(dropped)})

    # --- the @connections management API -------------------------------------------------

    async def manage_connection(self, request: Request) -> Response:
        """POST (send), GET (describe) or DELETE (disconnect) one connection."""
        declared = int(request.headers.get("content-length") or 0)
        return await self.management_call(
            request.method,
            request.path_params["stage"],
            request.path_params["connection_id"],
            declared,
            request.body,
        )

    async def management_call(
        self,
        method: str,
        stage: str,
        connection_id: str,
        body_bytes: int,
        read_body: BodyReader,
    ) -> Response:
        """One @connections request, from this app's route or the workers' lean server."""
        if stage != self.config.stage:
            return _aws_error(403, "ForbiddenException", "Forbidden")
        connection = self.connections.get(connection_id)
        if method == "POST":
            return await self._post(body_bytes, read_body, connection)
        if connection is None:
            return _gone()
        if method == "GET":
            return JSONResponse(
                {
                    "connectedAt": _iso8601(connection.info.connected_at_ms / 1000),
                    "identity": {
                        "sourceIp": connection.info.source_ip,
                        "userAgent": connection.info.user_agent or "",
                    },
                    "lastActiveAt": _iso8601(connection.activity.wall),
                }
            )
        self.stats.closed_by_delete += 1
        await self._close(connection, CloseCode.NORMAL_CLOSURE, "Connection Closed Normally")
        return Response(status_code=204)

    async def _post(
        self,
        declared: int,
        read_body: BodyReader,
        connection: ClientConnection | None,
    ) -> Response:
        data = b"" if declared > self.config.max_message_bytes else await read_body()
        if declared > self.config.max_message_bytes or len(data) > self.config.max_message_bytes:
            self.stats.posts_too_large += 1
            return _aws_error(413, "PayloadTooLargeException", "Message too long")
        if connection is not None and connection.buffer_full():
            self.stats.posts_limited += 1
            return _aws_error(429, "LimitExceededException", "Client-side buffer is full")
        if connection is None or not await _send(connection, data):
            self.stats.posts_gone += 1
            return _gone()
        self.stats.posts += 1
        return Response(status_code=200)

    # --- client connections ---------------------------------------------------------------

    async def client_connection(self, websocket: WebSocket) -> None:
        """One client, from `$connect` to `$disconnect`."""
        if websocket.path_params["stage"] != self.config.stage:
            await _deny(websocket, 403, "Forbidden")
            return
        if self._sessions >= self.config.max_connections:
            # Before $connect and the rate limit: no invocation, no record, no token spent.
            self.stats.connections_over_capacity += 1
            await websocket.accept()
            await websocket.close(CloseCode.TRY_AGAIN_LATER, over_capacity_reason(self._sessions))
            return
        self._sessions += 1
        try:
            await self._serve_client(websocket)
        finally:
            self._sessions -= 1

    async def _serve_client(self, websocket: WebSocket) -> None:
        """Rate limit, `$connect`, the message loop, `$disconnect`."""
        if not self._new_connections.take():
            self.stats.connections_rate_limited += 1
            await _deny(websocket, 429, "Too Many Requests")
            return
        connection = self._new_connection(websocket)
        if not await self._run_connect(connection):
            return
        await websocket.accept()
        # The idle and duration clocks start once the connection is established.
        connection.opened = time.monotonic()
        connection.activity.touch()
        self.connections[connection.info.connection_id] = connection
        self.stats.connections_opened += 1
        watchdog = asyncio.create_task(self._enforce_timeouts(connection))
        try:
            code, reason = await self._receive_until_closed(connection)
        finally:
            watchdog.cancel()
            self.connections.pop(connection.info.connection_id, None)
        if connection.close_code is not None:
            code, reason = connection.close_code, connection.close_reason
        await self._run_disconnect(connection, code, reason)

    def _new_connection(self, websocket: WebSocket) -> ClientConnection:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in websocket.scope["headers"]
        ]
        lowered = {name.lower(): value for name, value in headers}
        client = websocket.client
        info = ClientInfo(
            connection_id=new_id(),
            connected_at_ms=int(time.time() * 1000),
            source_ip=client.host if client else "127.0.0.1",
            user_agent=lowered.get("user-agent"),
        )
        api = ApiInfo(self.config.api_id, self.config.stage, lowered.get("host", "localhost"))
        extension = websocket.scope.get("extensions", {}).get(ACTIVITY_EXTENSION) or {}
        activity = extension.get("activity") or Activity()
        buffer_full = extension.get("buffer_full") or (lambda: False)
        query = websocket.scope.get("query_string", b"").decode("latin-1")
        return ClientConnection(websocket, info, api, activity, headers, query, buffer_full)

    async def _run_connect(self, connection: ClientConnection) -> bool:
        """Invoke `$connect`; deny the handshake unless it answers 2xx."""
        function = self.routes.get("$connect")
        if function is None:
            return True
        websocket = connection.websocket
        query = urllib.parse.parse_qsl(connection.query, keep_blank_values=True)
        server = websocket.scope.get("server") or ("127.0.0.1", 0)
        event = connect_event(
            connection.api, connection.info, connection.headers, query, server[1] or 0
        )
        outcome = await self.lambdas.invoke(function, event)
        if not outcome.ok:
            self.stats.connect_failures += 1
            await _deny(websocket, 500, "Internal server error")
            return False
        status, body = _proxy_response(outcome)
        if not 200 <= status < 300:
            self.stats.connections_rejected += 1
            await _deny(websocket, status, body)
            return False
        return True

    async def _receive_until_closed(self, connection: ClientConnection) -> tuple[int, str]:
        """Route each client message until the connection closes; the close code and reason."""
        websocket = connection.websocket
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or CloseCode.NO_STATUS_RCVD)
                return code, message.get("reason") or _default_reason(code)
            connection.activity.touch()
            data = message.get("text")
            payload: str | bytes = data if data is not None else message.get("bytes") or b""
            self.stats.messages_received += 1
            task = asyncio.create_task(self._route_message(connection, payload))
            connection.tasks.add(task)
            task.add_done_callback(connection.tasks.discard)

    async def _route_message(self, connection: ClientConnection, payload: str | bytes) -> None:
        """Route selection on `$request.body.action`, then the integration."""
        route = self.select_route(payload)
        function = self.routes.get(route)
        if function is None:
            await _send(connection, _gateway_message("Forbidden", connection, new_id()))
            return
        event = message_event(connection.api, connection.info, route, payload)
        outcome = await self.lambdas.invoke(function, event)
        if not outcome.ok:
            # What API Gateway tells a client when the integration fails or is throttled.
            self.stats.integration_failures += 1
            message = _gateway_message("Internal server error", connection, outcome.request_id)
            await _send(connection, message)

    def select_route(self, payload: str | bytes) -> str:
        """The route whose key equals the frame's JSON `action`, else `$default`."""
        if isinstance(payload, str):
            try:
                data = codec.loads(payload)
            except codec.JSONDecodeError:
                data = None
            action = data.get("action") if isinstance(data, dict) else None
            if isinstance(action, str) and not action.startswith("$") and action in self.routes:
                return action
        return "$default"

    async def _run_disconnect(self, connection: ClientConnection, code: int, reason: str) -> None:
        function = self.routes.get("$disconnect")
        if function is None or self.closing:
            return
        event = disconnect_event(connection.api, connection.info, code, reason)
        await self.lambdas.invoke(function, event)  # best effort, as on AWS

    async def _enforce_timeouts(self, connection: ClientConnection) -> None:
        """Close the connection when it idles too long or reaches the maximum duration."""
        while True:
            now = time.monotonic()
            idle_deadline = connection.activity.monotonic + self.config.idle_timeout_s
            max_deadline = connection.opened + self.config.max_connection_s
            if now >= max_deadline:
                self.stats.closed_max_duration += 1
                break
            if now >= idle_deadline:
                self.stats.closed_idle += 1
                break
            await asyncio.sleep(min(idle_deadline, max_deadline) - now)
        await self._close(connection, CloseCode.GOING_AWAY, "Going away")

    async def _close(self, connection: ClientConnection, code: int, reason: str) -> None:
        connection.close_code, connection.close_reason = code, reason
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await connection.websocket.close(code, reason)


async def _send(connection: ClientConnection, data: bytes) -> bool:
    """Send one message to the client (text if UTF-8); False if it is gone."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        if text is not None:
            await connection.websocket.send_text(text)
        else:
            await connection.websocket.send_bytes(data)
    except (RuntimeError, WebSocketDisconnect, OSError):
        return False
    return True


async def _deny(websocket: WebSocket, status: int, body: str) -> None:
    """Refuse the handshake with an HTTP status (the client never gets a WebSocket)."""
    await websocket.send_denial_response(
        Response(body, status_code=status, media_type="text/plain")
    )


def _proxy_response(outcome: Invocation) -> tuple[int, str]:
    """statusCode and body of a Lambda proxy response (200 if the function returned none)."""
    result = outcome.result if isinstance(outcome.result, dict) else {}
    status = result.get("statusCode", 200)
    body = result.get("body")
    return (status if isinstance(status, int) else 500), (body if isinstance(body, str) else "")


def _gateway_message(message: str, connection: ClientConnection, request_id: str) -> bytes:
    """The JSON frame API Gateway itself sends a client when a route fails."""
    return codec.dumps(
        {
            "message": message,
            "connectionId": connection.info.connection_id,
            "requestId": request_id,
        }
    )


def _default_reason(code: int) -> str:
    if code == CloseCode.NO_STATUS_RCVD:
        return "Client-side close frame status not set"
    if code == CloseCode.ABNORMAL_CLOSURE:
        return "Connection closed abnormally"
    return ""


def _aws_error(status: int, error_type: str, message: str | None) -> JSONResponse:
    """A REST-JSON AWS error: botocore reads the type from `x-amzn-ErrorType`."""
    return JSONResponse(
        {"message": message}, status_code=status, headers={"x-amzn-ErrorType": error_type}
    )


def _gone() -> JSONResponse:
    return _aws_error(410, "GoneException", None)


def _iso8601(epoch_s: float) -> str:
    """`2024-12-12T09:15:40.120Z`."""
    whole = int(epoch_s)
    millis = int((epoch_s - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
