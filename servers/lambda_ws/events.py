"""API Gateway WebSocket events (CONNECT, MESSAGE, DISCONNECT) in the shape AWS sends them."""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass

from servers.lambda_ws.event_types import Identity, RequestContext, WebSocketEvent

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# API Gateway passes the client's handshake headers on, less the hop-by-hop ones.
_DROPPED_HEADERS = frozenset({"connection", "upgrade"})


def new_id() -> str:
    """An id like API Gateway's connection and request ids (`BFaT_fALIAMCKug=`).

    URL-safe alphabet, as AWS's: a connection id goes into the @connections path.
    """
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")


def request_time(epoch_s: float) -> str:
    """`12/Dec/2024:09:15:40 +0000`, the requestTime format (English month, UTC)."""
    t = time.gmtime(epoch_s)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def canonical_header(name: str) -> str:
    """`sec-websocket-key` -> `Sec-WebSocket-Key`: how the captured events spell names.

    The ASGI server hands over lower-cased names; clients send (and AWS passes on) these.
    """
    return "-".join(part.capitalize() for part in name.split("-")).replace("Websocket", "WebSocket")


def trace_id(epoch_s: float) -> str:
    """An X-Amzn-Trace-Id root: version, epoch seconds in hex, 96 random bits."""
    return f"Root=1-{int(epoch_s):08x}-{os.urandom(12).hex()}"


@dataclass(frozen=True, slots=True)
class ApiInfo:
    """The API as the events name it."""

    api_id: str
    stage: str
    domain_name: str


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One client connection as the events describe it."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None


def request_context(
    api: ApiInfo, client: ClientInfo, route_key: str, event_type: str, now: float
) -> RequestContext:
    """The requestContext every WebSocket event carries."""
    request_id = new_id()
    identity: Identity = {"sourceIp": client.source_ip}
    if client.user_agent is not None:
        identity["userAgent"] = client.user_agent
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": client.connected_at_ms,
        "requestTimeEpoch": int(now * 1000),
        "identity": identity,
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": client.connection_id,
        "apiId": api.api_id,
    }


def connect_event(
    api: ApiInfo,
    client: ClientInfo,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    forwarded_port: int,
) -> WebSocketEvent:
    """The `$connect` event: the handshake's headers and query string."""
    now = time.time()
    passed = [
        (canonical_header(name), value)
        for name, value in headers
        if name.lower() not in _DROPPED_HEADERS
    ]
    passed += [
        ("X-Amzn-Trace-Id", trace_id(now)),
        ("X-Forwarded-For", client.source_ip),
        ("X-Forwarded-Port", str(forwarded_port)),
        ("X-Forwarded-Proto", "http"),  # the emulator serves ws://, API Gateway wss://
    ]
    context = request_context(api, client, "$connect", "CONNECT", now)
    if not query:
        return {
            "headers": dict(passed),
            "multiValueHeaders": _multi(passed),
            "requestContext": context,
            "isBase64Encoded": False,
        }
    return {
        "headers": dict(passed),
        "multiValueHeaders": _multi(passed),
        "queryStringParameters": dict(query),
        "multiValueQueryStringParameters": _multi(query),
        "requestContext": context,
        "isBase64Encoded": False,
    }


def message_event(
    api: ApiInfo, client: ClientInfo, route_key: str, body: str | bytes
) -> WebSocketEvent:
    """A MESSAGE event: one client frame, binary ones base64-encoded."""
    context = request_context(api, client, route_key, "MESSAGE", time.time())
    # AWS puts messageId second (after routeKey), as the captured events show.
    context = {"routeKey": route_key, "messageId": new_id(), **context}
    binary = isinstance(body, bytes)
    return {
        "requestContext": context,
        "body": base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body,
        "isBase64Encoded": binary,
    }


def disconnect_event(
    api: ApiInfo, client: ClientInfo, status_code: int, reason: str
) -> WebSocketEvent:
    """The `$disconnect` event, with the close code and reason."""
    context = request_context(api, client, "$disconnect", "DISCONNECT", time.time())
    context = {"routeKey": "$disconnect", "disconnectStatusCode": status_code, **context}
    context["disconnectReason"] = reason
    headers = [
        ("Host", api.domain_name),
        ("x-api-key", ""),
        ("X-Forwarded-For", ""),
        ("x-restapi", ""),
    ]
    return {
        "headers": dict(headers),
        "multiValueHeaders": _multi(headers),
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped
