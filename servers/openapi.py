"""What the HTTP targets publish at `/openapi.json`: parameters, bodies and every answer.

Documentation only: the handlers read raw bodies and query strings themselves (for the exact
errors of docs/protocol.md, and no per-request model validation on the hot path), so nothing
here runs on a request. The schemas describe what the handlers do; tests/fuzz holds them to it
with schemathesis.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contract.messages import MAX_MESSAGE_BYTES, MAX_SENDER_CHARS, ROOM_PATTERN
from servers.capacity import RETRY_AFTER_S

ROOM_REGEX = f"^{ROOM_PATTERN.pattern}$"
MAX_CURSOR = 10**19 - 1  # 19 digits: fits a 64-bit id
# JSON numbers are parsed as 64-bit floats and integers (contract.codec): larger ones are not
# the numbers they look like (an integer past 2**64 - 1 becomes a float, 1e400 is refused).
MAX_SEQ = 2**64 - 1
MAX_DOUBLE = 1.7976931348623157e308

Responses = dict[int | str, dict[str, Any]]


class DeliveredMessage(BaseModel):
    """A message as every target delivers it (docs/protocol.md)."""

    id: int | None = Field(description="per-room id, strictly increasing; the resume cursor")
    room: str
    sender: str
    seq: int
    body: str
    sent_at: float
    server_at: float


class HistoryLost(BaseModel):
    """Messages after `since` and before `oldest_id` are no longer kept (docs/protocol.md)."""

    since: int = Field(ge=0, description="the cursor resumed from (0 for one ahead of the room)")
    oldest_id: int = Field(ge=1, description="the oldest id kept; the newest + 1 if none is")


class MessagesPage(BaseModel):
    """A poll's answer: messages after the cursor, oldest first, and the room's newest id."""

    messages: list[DeliveredMessage]
    last_id: int = Field(ge=0)
    # Absent unless the cursor was older than what the room keeps: never null.
    history_lost: HistoryLost | SkipJsonSchema[None] = None


class ErrorBody(BaseModel):
    """Every HTTP error's body."""

    error: str = Field(min_length=1, description="what was wrong, for people")
    kind: str = Field(description="invalid_room, empty, not_utf8, not_json, ... (machine-read)")
    field: str | None = Field(description="the field at fault, if one is")


class Health(BaseModel):
    """`GET /healthz`."""

    status: Literal["ok"]
    target: str
    connections: int = Field(ge=0, description="open subscriber connections / held polls")
    history_size: int = Field(ge=1, description="messages each room keeps for resume, at most")
    history_max_age_s: float = Field(gt=0, description="age past which a kept message is dropped")
    retained: int | None = Field(
        ge=0, description="messages held in this process's history now (null: kept in Redis)"
    )
    queue_size: int | None = Field(
        None, ge=1, description="a push target's send queue per subscriber, in messages"
    )
    sse_ping_s: float | None = Field(None, gt=0, description="the SSE target's keep-alive interval")


class Dropped(BaseModel):
    """`POST /_admin/drop`: what the drop fault ended."""

    dropped: int = Field(ge=0, description="subscriptions and held polls ended")
    connections: int = Field(
        ge=0, description="client TCP connections closed (all but the caller's own)"
    )


ROOM_PARAMETER: dict[str, Any] = {
    "name": "room",
    "in": "path",
    "required": True,
    "description": "the room; any other name is refused 400 invalid_room",
    "schema": {"type": "string", "pattern": ROOM_REGEX},
}
SINCE_PARAMETER: dict[str, Any] = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "resume cursor: the last id seen; without it the client starts now",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR},
}
WAIT_PARAMETER: dict[str, Any] = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": "hold the poll up to this many seconds for a newer message (capped, 30 s)",
    "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DOUBLE},
}
LAST_EVENT_ID_PARAMETER: dict[str, Any] = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "resume cursor sent by a reconnecting EventSource; wins over `since`",
    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
}

PUBLISH_BODY: dict[str, Any] = {
    "required": True,
    "description": f"the publish payload, at most {MAX_MESSAGE_BYTES} bytes",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["sender", "seq", "body", "sent_at"],
                "properties": {
                    "sender": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_SENDER_CHARS,
                    },
                    "seq": {"type": "integer", "minimum": 1, "maximum": MAX_SEQ},
                    "body": {"type": "string"},
                    "sent_at": {
                        "type": "number",
                        "minimum": -MAX_DOUBLE,
                        "maximum": MAX_DOUBLE,
                        "description": "the publisher's wall clock at send (epoch seconds)",
                    },
                    # Optional; if given it must equal the URL's room (else 422). A schema cannot
                    # say "equal to the path parameter", so only its own constraint is written.
                    "room": {"type": "string", "pattern": ROOM_REGEX},
                },
            }
        }
    },
}

_ERRORS: dict[int, str] = {
    400: "invalid_room, empty, not_utf8, not_json, or a bad query parameter (invalid_field)",
    404: "not_found: no such path (e.g. a room name holding a '/')",
    413: f"too_large: a body over {MAX_MESSAGE_BYTES} bytes",
    422: "invalid_field: a missing field, a wrong type, not an object, another room",
    503: "over_capacity: the server's connection cap is reached; retry after Retry-After",
}


def error_responses(*statuses: int) -> Responses:
    """`responses=` entries for these error statuses, all with the JSON error body."""
    responses: Responses = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _ERRORS[status]}
        if status == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": f"seconds to wait before trying again ({RETRY_AFTER_S})",
                    "schema": {"type": "integer"},
                }
            }
        responses[status] = entry
    return responses


def publish_docs() -> dict[str, Any]:
    """Decorator arguments documenting `POST /rooms/{room}/messages`."""
    return {
        "status_code": 201,
        "responses": {
            201: {"model": DeliveredMessage, "description": "the message as stored"},
            **error_responses(400, 404, 413, 422),
        },
        "openapi_extra": {"parameters": [ROOM_PARAMETER], "requestBody": PUBLISH_BODY},
    }


def poll_docs(*, with_wait: bool) -> dict[str, Any]:
    """Decorator arguments documenting `GET /rooms/{room}/messages` (short or long poll)."""
    parameters = [ROOM_PARAMETER, SINCE_PARAMETER, *([WAIT_PARAMETER] if with_wait else [])]
    return {
        "responses": {
            200: {"model": MessagesPage, "description": "messages after the cursor"},
            **error_responses(400, 404, 503),
        },
        "openapi_extra": {"parameters": parameters},
    }


def events_docs() -> dict[str, Any]:
    """Decorator arguments documenting `GET /rooms/{room}/events` (the SSE stream); the route
    gives its response class (text/event-stream) itself."""
    return {
        "responses": {
            200: {
                "description": "`id: N` / `data: <message JSON>` events, `: ping` comments",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **error_responses(400, 404, 503),
        },
        "openapi_extra": {"parameters": [ROOM_PARAMETER, SINCE_PARAMETER, LAST_EVENT_ID_PARAMETER]},
    }
