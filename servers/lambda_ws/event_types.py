"""The API Gateway WebSocket event a function receives and the response it returns, typed.

Shared by the emulator (events.py builds the event, environments.py and runtime.py carry it
to the worker process) and the handlers (handlers.py). Standard library only. handlers.py
and runtime.py import it for type checking only: on AWS handlers.py is a top-level module,
without this package, and neither may need more than the standard library and boto3.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

# A JSON value as json.loads returns it: what a function that is not behind API Gateway
# (the environments' tests and benchmarks) is invoked with.
JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


class Identity(TypedDict):
    """requestContext.identity: the client's address, and its User-Agent when it sent one."""

    sourceIp: str
    userAgent: NotRequired[str]


class RequestContext(TypedDict):
    """The requestContext every WebSocket event carries; AWS adds some keys per event type."""

    routeKey: str  # "$connect", "$disconnect", "$default" or a route such as "sendMessage"
    messageId: NotRequired[str]  # MESSAGE only
    disconnectStatusCode: NotRequired[int]  # DISCONNECT only: the close code
    eventType: str  # "CONNECT", "MESSAGE" or "DISCONNECT"
    extendedRequestId: str
    requestTime: str  # "12/Dec/2024:09:15:40 +0000"
    messageDirection: str  # always "IN"
    disconnectReason: NotRequired[str]  # DISCONNECT only
    stage: str
    connectedAt: int  # epoch ms
    requestTimeEpoch: int  # epoch ms
    identity: Identity
    requestId: str
    domainName: str
    connectionId: str
    apiId: str


class WebSocketEvent(TypedDict):
    """A CONNECT, MESSAGE or DISCONNECT event; which keys AWS sends depends on the type."""

    headers: NotRequired[dict[str, str]]  # CONNECT, DISCONNECT
    multiValueHeaders: NotRequired[dict[str, list[str]]]  # CONNECT, DISCONNECT
    queryStringParameters: NotRequired[dict[str, str]]  # CONNECT with a query string
    multiValueQueryStringParameters: NotRequired[dict[str, list[str]]]  # ... the same
    requestContext: RequestContext
    body: NotRequired[str]  # MESSAGE: the frame, base64 if binary
    isBase64Encoded: bool


# What the emulator invokes a function with: API Gateway's event, or any JSON object for a
# function that is not behind API Gateway (tests/servers/lambda_ws/tiny_handlers.py).
LambdaEvent = WebSocketEvent | dict[str, JsonValue]


class HandlerResponse(TypedDict):
    """A Lambda proxy integration's response: the status, and a body for the client."""

    statusCode: int
    body: NotRequired[str]
