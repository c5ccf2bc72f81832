"""The Lambda handlers against moto's in-process AWS (DynamoDB and @connections)."""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from contract import messages
from contract.messages import InvalidInput, Message, parse_action_frame

from .conftest import TABLE
from .events import connect_event, disconnect_event, frame, message_event

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def stored_rooms() -> dict[str, str]:
    """connectionId -> room, straight from the table."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {item["connectionId"]["S"]: item["room"]["S"] for item in items}


def posted() -> dict[str, bytes]:
    """What the handlers posted to each connection (moto concatenates posts)."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return {cid: conn.data for cid, conn in backend.connections.items()}


def join(handlers: ModuleType, **members: str) -> None:
    """Connect each connection id to its room."""
    for connection_id, room in members.items():
        assert handlers.connect(connect_event(connection_id, room), None) == {"statusCode": 200}


def test_contract_copies_equal_tbench(handlers: ModuleType) -> None:
    assert handlers.ROOM_PATTERN.pattern == messages.ROOM_PATTERN.pattern
    assert handlers.MAX_MESSAGE_BYTES == messages.MAX_MESSAGE_BYTES
    assert handlers.MAX_SENDER_CHARS == messages.MAX_SENDER_CHARS
    assert handlers.SEND_ACTION == messages.SEND_ACTION


FRAMES: list[str] = [
    frame(),
    frame(seq=7, sent_at=3),
    frame(body="é ünïcødé ✓"),
    frame(room="bad room"),
    frame(room=""),
    frame(room=5),
    frame(sender=""),
    frame(sender="s" * 129),
    frame(seq=0),
    frame(seq=True),
    frame(seq=1.5),
    frame(body=3),
    frame(sent_at="now"),
    frame(sent_at=False),
    frame(action="shout"),
    json.dumps({"action": "sendMessage", "sender": "a", "seq": 1, "body": "", "sent_at": 1}),
    '{"action":"sendMessage","room":"r","sender":"a","seq":1,"body":"","sent_at":NaN}',
    "not json",
    "[1, 2]",
    "   ",
    "",
    frame(body="x" * (128 * 1024)),
]


@pytest.mark.parametrize("body", FRAMES)
def test_frame_validation_agrees_with_tbench(handlers: ModuleType, body: str) -> None:
    expected: Any
    try:
        publish = parse_action_frame(body)
        expected = ("ok", publish.room, publish.sender, publish.seq, publish.body, publish.sent_at)
    except InvalidInput as exc:
        expected = ("error", exc.problem.code, exc.field)
    try:
        data = handlers.parse_frame(body, False)
        got = ("ok", data["room"], data["sender"], data["seq"], data["body"], data["sent_at"])
    except handlers.FrameError as exc:
        got = ("error", exc.kind, exc.field)
    assert got == expected


def test_binary_frames_are_refused(handlers: ModuleType) -> None:
    with pytest.raises(handlers.FrameError) as caught:
        handlers.parse_frame("aGk=", True)
    assert caught.value.kind == messages.Problem.BINARY.code


def test_encoding_matches_the_suite_codec(handlers: ModuleType) -> None:
    message = Message(None, "lobby", "alice", 3, "héllo ✓", 1733994952.25, 1733994952.2571)
    assert handlers.encode(message.to_json()) == message.encode()


def test_connect_stores_the_room(handlers: ModuleType) -> None:
    join(handlers, c1="lobby")
    assert stored_rooms() == {"c1": "lobby"}


@pytest.mark.parametrize("room", [None, "", "no spaces", "x" * 65])
def test_connect_rejects_an_invalid_room_with_400(handlers: ModuleType, room: str | None) -> None:
    assert handlers.connect(connect_event("c1", room), None)["statusCode"] == 400
    assert stored_rooms() == {}


def test_disconnect_deletes_the_connection(handlers: ModuleType) -> None:
    join(handlers, c1="lobby", c2="lobby")
    assert handlers.disconnect(disconnect_event("c1"), None) == {"statusCode": 200}
    assert stored_rooms() == {"c2": "lobby"}


def test_send_message_reaches_every_member_of_the_room_and_only_them(
    handlers: ModuleType,
) -> None:
    join(handlers, a="lobby", b="lobby", c="kitchen")
    result = handlers.send_message(message_event("a", frame(seq=4, body="hi all")), None)
    assert result == {"statusCode": 200}
    deliveries = posted()
    assert set(deliveries) == {"a", "b"}  # the sender's own echo included; not the other room
    for data in deliveries.values():
        delivered = json.loads(data)
        assert list(delivered) == ["id", "room", "sender", "seq", "body", "sent_at", "server_at"]
        assert delivered["id"] is None
        assert (delivered["room"], delivered["seq"], delivered["body"]) == ("lobby", 4, "hi all")
        assert delivered["server_at"] >= delivered["sent_at"]


def test_send_message_answers_a_bad_frame_with_an_error_frame(handlers: ModuleType) -> None:
    join(handlers, a="lobby", b="lobby")
    result = handlers.send_message(message_event("a", frame(seq=0)), None)
    assert result["statusCode"] == 400
    deliveries = posted()
    assert set(deliveries) == {"a"}
    error = json.loads(deliveries["a"])
    assert (error["kind"], error["field"]) == ("invalid_field", "seq")


def test_send_message_refuses_a_room_the_sender_did_not_join(handlers: ModuleType) -> None:
    join(handlers, a="lobby", b="kitchen")
    handlers.send_message(message_event("a", frame(room="kitchen")), None)
    deliveries = posted()
    assert set(deliveries) == {"a"}
    assert json.loads(deliveries["a"])["kind"] == "invalid_room"


def test_default_route_tells_the_sender_what_was_wrong(handlers: ModuleType) -> None:
    join(handlers, a="lobby")
    handlers.default(message_event("a", '{"action": "shout"}', route="$default"), None)
    handlers.default(message_event("b", "plain text", route="$default"), None)
    deliveries = posted()
    assert json.loads(deliveries["a"])["kind"] == "unknown_action"
    assert json.loads(deliveries["b"])["kind"] == "not_json"


def test_a_frame_whose_delivered_message_exceeds_128_kib_is_refused(handlers: ModuleType) -> None:
    join(handlers, a="lobby", b="lobby")
    empty = frame(body="")
    at_the_limit = frame(body="x" * (messages.MAX_MESSAGE_BYTES - len(empty.encode())))
    assert len(at_the_limit.encode()) == messages.MAX_MESSAGE_BYTES  # a valid publish...
    handlers.send_message(message_event("a", at_the_limit), None)
    deliveries = posted()
    assert set(deliveries) == {"a"}  # ...whose delivery (id, server_at added) cannot fit
    assert json.loads(deliveries["a"])["kind"] == "too_large"


def test_a_post_failing_otherwise_than_gone_or_stalled_is_logged_as_a_warning(
    handlers: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    management = boto3.client("apigatewaymanagementapi", endpoint_url="http://127.0.0.1:1")
    with Stubber(management) as stub:
        stub.add_client_error("post_to_connection", "InternalServerError", http_status_code=500)
        with caplog.at_level(logging.WARNING, logger=handlers.__name__):
            outcome = handlers.fan_out(management, ["c1"], b"hi")
    assert (outcome.gone, outcome.stalled) == ([], [])
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "post_to_connection c1 failed" in caplog.records[0].getMessage()
