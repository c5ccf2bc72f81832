"""Lambda handlers behind an API Gateway WebSocket API: the chat workload, deployable as is.

Runs on AWS unchanged, so this module imports only boto3 and the standard library (tbench is
not installed there). The few contract values it needs are copied below; a test keeps them
equal to `contract.messages`. The connections table is named by `CONNECTIONS_TABLE`; the
management endpoint comes from the event (`https://{domainName}/{stage}`) unless
`AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` points boto3 elsewhere (the local emulator).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

    # For type checking only: on AWS this module is top-level `handlers`, without the package.
    from servers.lambda_ws.event_types import HandlerResponse, RequestContext, WebSocketEvent

# Copies of contract.messages' contract (tests/servers/lambda_ws/test_handlers.py compares them).
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MESSAGE_BYTES = 128 * 1024
MAX_SENDER_CHARS = 128
SEND_ACTION = "sendMessage"
# How contract.codec (orjson) reads numbers and strings, which a frame must satisfy here too.
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

ROOM_INDEX = "room-index"  # the table's GSI on `room` (template.yaml)
MAX_CONNECTION_S = 2 * 60 * 60  # API Gateway closes every connection after 2 h
FANOUT_THREADS = 32  # concurrent post_to_connection calls per invocation
ENDPOINT_ENV = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
# Lambda's runtime gives the root logger a handler into CloudWatch (runtime.py: into the log).
logger = logging.getLogger(__name__)


class FrameError(ValueError):
    """A frame the chat contract refuses; `kind` and `field` as in contract.messages.Problem."""

    def __init__(self, kind: str, field: str | None, reason: str) -> None:
        self.kind = kind
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    def to_json(self) -> dict[str, Any]:
        """The error frame sent back to the client (the HTTP targets' error body)."""
        return {"error": str(self), "kind": self.kind, "field": self.field}


# Init phase: created once per execution environment and reused by every warm invocation.
TABLE_NAME = os.environ["CONNECTIONS_TABLE"]
_dynamodb = boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))
_fanout_pool = ThreadPoolExecutor(max_workers=FANOUT_THREADS, thread_name_prefix="fanout")
_management_clients: dict[str, ApiGatewayManagementApiClient] = {}


def connect(event: WebSocketEvent, context: object) -> HandlerResponse:
    """`$connect`: remember the connection and its room; a bad room rejects the handshake (400)."""
    request = event["requestContext"]
    room = (event.get("queryStringParameters") or {}).get("room")
    if not isinstance(room, str) or ROOM_PATTERN.fullmatch(room) is None:
        return {"statusCode": 400, "body": "room must match ^[A-Za-z0-9_-]{1,64}$"}
    connected_at_ms = int(request.get("connectedAt") or time.time() * 1000)
    _dynamodb.put_item(
        TableName=TABLE_NAME,
        Item={
            "connectionId": {"S": request["connectionId"]},
            "room": {"S": room},
            "connectedAt": {"N": str(connected_at_ms)},
            # DynamoDB's TTL sweeps records whose $disconnect never ran.
            "expiresAt": {"N": str(connected_at_ms // 1000 + MAX_CONNECTION_S + 60)},
        },
    )
    return {"statusCode": 200}


def disconnect(event: WebSocketEvent, context: object) -> HandlerResponse:
    """`$disconnect`: forget the connection."""
    connection_id = event["requestContext"]["connectionId"]
    _dynamodb.delete_item(TableName=TABLE_NAME, Key={"connectionId": {"S": connection_id}})
    return {"statusCode": 200}


def send_message(event: WebSocketEvent, context: object) -> HandlerResponse:
    """`sendMessage`: validate the frame, stamp it, post it to every connection in its room."""
    server_at = time.time()
    request = event["requestContext"]
    sender_id: str = request["connectionId"]
    management = _management_client(request)
    try:
        publish = parse_frame(event.get("body"), bool(event.get("isBase64Encoded")))
        data = encode({"id": None, **publish, "server_at": server_at})
        if len(data) > MAX_MESSAGE_BYTES:
            # The delivered message carries id and server_at: API Gateway would refuse it.
            raise FrameError(
                "too_large",
                None,
                f"delivered message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}",
            )
        recipients = _room_connections(publish["room"])
        if sender_id not in recipients:
            _check_sender_room(sender_id, publish["room"])
            recipients.append(sender_id)  # the index lags the table: the sender is a member
    except FrameError as exc:
        _post_quietly(management, sender_id, encode(exc.to_json()))
        return {"statusCode": 400, "body": str(exc)}
    result = fan_out(management, recipients, data)
    for connection_id in result.gone:
        _dynamodb.delete_item(TableName=TABLE_NAME, Key={"connectionId": {"S": connection_id}})
    for connection_id in result.stalled:
        # Slow consumer policy (docs/protocol.md): drop and disconnect. $disconnect then
        # removes its record; a client already gone needs its record removed here.
        try:
            management.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _status(exc) != 410:
                raise
            _dynamodb.delete_item(TableName=TABLE_NAME, Key={"connectionId": {"S": connection_id}})
    return {"statusCode": 200}


def default(event: WebSocketEvent, context: object) -> HandlerResponse:
    """`$default`: a frame no route matched; tell the sender what was wrong with it."""
    request = event["requestContext"]
    try:
        data = decode_object(event.get("body"), bool(event.get("isBase64Encoded")))
        action = data.get("action")
        error = FrameError(
            "unknown_action", "action", f"unknown action {action!r}; expected {SEND_ACTION!r}"
        )
    except FrameError as exc:
        error = exc
    _post_quietly(_management_client(request), request["connectionId"], encode(error.to_json()))
    return {"statusCode": 400, "body": str(error)}


class FanOut(NamedTuple):
    """Who could not be reached: gone (410) and stalled (429 after retries: not reading)."""

    gone: list[str]
    stalled: list[str]


def fan_out(
    management: ApiGatewayManagementApiClient, connection_ids: list[str], data: bytes
) -> FanOut:
    """Post `data` to every connection concurrently; report the gone and the stalled.

    Any other failure is logged and skipped: one bad recipient must not cost the rest of
    the room its message.
    """

    def post(connection_id: str) -> int | None:
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            status = _status(exc)
            if status not in (410, 429):
                logger.warning("post_to_connection %s failed: %s", connection_id, exc)
            return status
        return None

    outcomes = list(zip(connection_ids, _fanout_pool.map(post, connection_ids), strict=True))
    return FanOut(
        gone=[connection_id for connection_id, status in outcomes if status == 410],
        stalled=[connection_id for connection_id, status in outcomes if status == 429],
    )


def parse_frame(body: str | None, is_base64: bool) -> dict[str, Any]:
    """Validate a `sendMessage` frame as contract.messages.parse_action_frame does."""
    data = decode_object(body, is_base64)
    action = data.get("action")
    if action != SEND_ACTION:
        raise FrameError(
            "unknown_action", "action", f"unknown action {action!r}; expected {SEND_ACTION!r}"
        )
    if "room" not in data:
        raise FrameError("invalid_field", "room", "missing")
    room = data["room"]
    if not isinstance(room, str) or ROOM_PATTERN.fullmatch(room) is None:
        raise FrameError("invalid_room", "room", "must match ^[A-Za-z0-9_-]{1,64}$")
    sender = data.get("sender")
    if not isinstance(sender, str) or not 1 <= len(sender) <= MAX_SENDER_CHARS:
        raise FrameError(
            "invalid_field", "sender", f"must be a string of 1..{MAX_SENDER_CHARS} chars"
        )
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise FrameError("invalid_field", "seq", "must be an integer >= 1")
    text = data.get("body")
    if not isinstance(text, str):
        raise FrameError("invalid_field", "body", "must be a string")
    sent_at = data.get("sent_at")
    if (
        not isinstance(sent_at, int | float)
        or isinstance(sent_at, bool)
        or not math.isfinite(sent_at)
    ):
        raise FrameError("invalid_field", "sent_at", "must be a finite number (epoch s)")
    return {"room": room, "sender": sender, "seq": seq, "body": text, "sent_at": float(sent_at)}


def decode_object(body: str | None, is_base64: bool) -> dict[str, Any]:
    """Size-check, UTF-8-check and parse the frame into a JSON object, or raise FrameError."""
    if is_base64:
        # API Gateway base64-encodes binary frames; the chat protocol is text only.
        raise FrameError("binary", None, "binary frames are not accepted; send text")
    raw = (body or "").encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise FrameError(
            "too_large", None, f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}"
        )
    if not raw.strip():
        raise FrameError("empty", None, "empty body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError("not_utf8", None, f"not valid UTF-8 at byte {exc.start}") from None
    try:
        # Read as the suite's codec (orjson) reads JSON: from text, so a byte order mark is an
        # error; numbers as 64-bit ints and doubles; no NaN, no lone surrogate escapes.
        data = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_codec_int,
        )
        if SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(data):
            raise ValueError("lone surrogate in a string")
    except ValueError as exc:
        raise FrameError("not_json", None, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_field", None, "must be a JSON object")
    return data


def encode(obj: object) -> bytes:
    """Compact JSON, as the suite's codec writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # strict JSON, like the suite's codec


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):  # 1e400: the codec refuses what a double cannot hold
        raise ValueError(f"number {literal[:20]} is out of range")
    return value


def _codec_int(literal: str) -> int | float:
    value = int(literal)
    if INT64_MIN <= value <= UINT64_MAX:
        return value
    return _finite_float(literal)  # as the codec: a larger integer is read as a double


def _holds_lone_surrogate(value: object) -> bool:
    """Whether a decoded string holds a surrogate (valid pairs were joined by the decoder)."""
    if isinstance(value, str):
        return LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def _room_connections(room: str) -> list[str]:
    """Every connection id in `room`, from the room index (eventually consistent)."""
    ids: list[str] = []
    query: dict[str, Any] = {
        "TableName": TABLE_NAME,
        "IndexName": ROOM_INDEX,
        "KeyConditionExpression": "#room = :room",
        "ExpressionAttributeNames": {"#room": "room"},
        "ExpressionAttributeValues": {":room": {"S": room}},
    }
    while True:
        page = _dynamodb.query(**query)
        ids.extend(item["connectionId"]["S"] for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return ids
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _check_sender_room(sender_id: str, room: str) -> None:
    """Refuse a frame whose room is not the sender's (read from the table, not the index)."""
    item = _dynamodb.get_item(
        TableName=TABLE_NAME, Key={"connectionId": {"S": sender_id}}, ConsistentRead=True
    ).get("Item")
    if item is None or item["room"]["S"] != room:
        raise FrameError("invalid_room", "room", "is not the room this connection joined")


def _management_client(request: RequestContext) -> ApiGatewayManagementApiClient:
    """The @connections client for this API and stage, made once per environment."""
    endpoint = None if os.environ.get(ENDPOINT_ENV) else management_endpoint(request)
    key = endpoint or ""
    client = _management_clients.get(key)
    if client is None:
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,  # None: boto3 takes AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI
            config=Config(max_pool_connections=FANOUT_THREADS, retries={"mode": "standard"}),
        )
        _management_clients[key] = client
    return client


def management_endpoint(request: RequestContext) -> str:
    """`https://{domainName}/{stage}`, where API Gateway serves this API's @connections."""
    return f"https://{request['domainName']}/{request['stage']}"


def _post_quietly(
    management: ApiGatewayManagementApiClient, connection_id: str, data: bytes
) -> None:
    """Post an error frame; a sender that already left is not an error."""
    try:
        management.post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as exc:
        if _status(exc) != 410:
            raise


def _status(exc: ClientError) -> int | None:
    """The HTTP status of a failed AWS call."""
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
