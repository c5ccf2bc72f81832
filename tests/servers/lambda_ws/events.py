"""API Gateway WebSocket events for handler tests, built from the fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures")
DOMAIN = "k3x9q2w7ze.execute-api.us-east-1.amazonaws.com"


def fixture(kind: str) -> dict[str, Any]:
    """A fixture event: "connect", "message" or "disconnect"."""
    event: dict[str, Any] = json.loads((FIXTURES / f"{kind}.json").read_text())
    return event


def connect_event(connection_id: str, room: str | None) -> dict[str, Any]:
    """A CONNECT event for `connection_id` asking for `?room=room` (no query if None)."""
    event = copy.deepcopy(fixture("connect"))
    event["requestContext"].update(connectionId=connection_id, domainName=DOMAIN)
    if room is None:
        del event["queryStringParameters"], event["multiValueQueryStringParameters"]
    else:
        event["queryStringParameters"] = {"room": room}
        event["multiValueQueryStringParameters"] = {"room": [room]}
    return event


def message_event(connection_id: str, body: str, route: str = "sendMessage") -> dict[str, Any]:
    """A MESSAGE event carrying `body` from `connection_id` on `route`."""
    event = copy.deepcopy(fixture("message"))
    event["requestContext"].update(connectionId=connection_id, domainName=DOMAIN, routeKey=route)
    event["body"] = body
    return event


def disconnect_event(connection_id: str) -> dict[str, Any]:
    """A DISCONNECT event for `connection_id`."""
    event = copy.deepcopy(fixture("disconnect"))
    event["requestContext"].update(connectionId=connection_id, domainName=DOMAIN)
    return event


def frame(room: str = "lobby", sender: str = "alice", seq: int = 1, **extra: Any) -> str:
    """A sendMessage frame as a client sends it."""
    payload = {"action": "sendMessage", "room": room, "sender": sender, "seq": seq}
    payload |= {"body": "hello", "sent_at": 1733994952.25} | extra
    return json.dumps(payload)
