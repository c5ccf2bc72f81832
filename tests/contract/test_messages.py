from __future__ import annotations

import pytest
from websockets.frames import CloseCode

from contract import codec
from contract.messages import (
    MAX_MESSAGE_BYTES,
    InvalidInput,
    Problem,
    decode_message,
    decode_object,
    padded_body,
    parse_action_frame,
    parse_publish,
    validate_room,
)

GOOD = {"room": "lobby", "sender": "u1", "seq": 1, "body": "hi", "sent_at": 1.5}


def test_valid_publish_roundtrips_to_a_delivered_message():
    publish = parse_publish(decode_object(codec.dumps(GOOD)))
    message = publish.to_message(7, 2.0)
    assert decode_message(message.encode()) == message
    assert list(message.to_json()) == [
        "id",
        "room",
        "sender",
        "seq",
        "body",
        "sent_at",
        "server_at",
    ]


@pytest.mark.parametrize("room", ["", "a" * 65, "has space", "é", "../x", 5, None])
def test_invalid_rooms_are_refused(room):
    with pytest.raises(InvalidInput) as info:
        validate_room(room)
    assert info.value.problem is Problem.INVALID_ROOM


def test_room_of_64_allowed_chars_is_accepted():
    assert validate_room("A-z_9" * 12 + "abcd") == "A-z_9" * 12 + "abcd"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", Problem.EMPTY),
        (b"{not json", Problem.NOT_JSON),
        (b'{"body": "\xff"}', Problem.NOT_UTF8),
        (b"[1, 2]", Problem.INVALID_FIELD),
        (b"x" * (MAX_MESSAGE_BYTES + 1), Problem.TOO_LARGE),
    ],
)
def test_undecodable_payloads_name_their_problem(payload, problem):
    with pytest.raises(InvalidInput) as info:
        decode_object(payload)
    assert info.value.problem is problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", ""),
        ("sender", 3),
        ("seq", 0),
        ("seq", True),
        ("seq", "1"),
        ("body", None),
        ("sent_at", "now"),
        ("sent_at", float("inf")),
    ],
)
def test_wrong_field_types_name_the_field(field, value):
    with pytest.raises(InvalidInput) as info:
        parse_publish({**GOOD, field: value})
    assert info.value.field == field
    assert info.value.problem is Problem.INVALID_FIELD


def test_missing_field_is_named():
    data = dict(GOOD)
    del data["seq"]
    with pytest.raises(InvalidInput, match="seq"):
        parse_publish(data)


def test_room_in_body_must_match_url_room():
    with pytest.raises(InvalidInput, match="room"):
        parse_publish(GOOD, room="other")
    assert parse_publish({k: v for k, v in GOOD.items() if k != "room"}, room="r").room == "r"


def test_action_frame_requires_send_message():
    frame = codec.dumps({"action": "sendMessage", **GOOD})
    assert parse_action_frame(frame).seq == 1
    with pytest.raises(InvalidInput) as info:
        parse_action_frame(codec.dumps({"action": "dance", **GOOD}))
    assert info.value.problem is Problem.UNKNOWN_ACTION
    assert info.value.problem.ws_close_code == CloseCode.POLICY_VIOLATION


def test_close_reason_fits_in_a_control_frame():
    exc = InvalidInput(Problem.INVALID_FIELD, "body", "é" * 200)
    assert len(exc.close_reason().encode()) <= 123


def test_padded_body_has_exact_size():
    assert len(padded_body(256, "u1:3:").encode()) == 256
