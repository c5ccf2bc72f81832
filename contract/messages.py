"""The chat message contract (docs/design.md "Messages"): validation, delivered shape, errors."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

from websockets.frames import CloseCode

from contract import codec

ROOM_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit; held equal everywhere
MAX_FRAME_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit: larger messages go fragmented
MAX_SENDER_CHARS = 128
SEND_ACTION = "sendMessage"


class Problem(enum.Enum):
    """Kinds of bad input, each with its HTTP status and WebSocket close code."""

    TOO_LARGE = ("too_large", 413, CloseCode.MESSAGE_TOO_BIG)
    NOT_UTF8 = ("not_utf8", 400, CloseCode.INVALID_DATA)
    NOT_JSON = ("not_json", 400, CloseCode.INVALID_DATA)
    EMPTY = ("empty", 400, CloseCode.INVALID_DATA)
    INVALID_FIELD = ("invalid_field", 422, CloseCode.INVALID_DATA)
    INVALID_ROOM = ("invalid_room", 400, CloseCode.POLICY_VIOLATION)
    UNKNOWN_ACTION = ("unknown_action", 400, CloseCode.POLICY_VIOLATION)
    BINARY = ("binary", 415, CloseCode.UNSUPPORTED_DATA)

    def __init__(self, code: str, http_status: int, ws_close_code: CloseCode) -> None:
        self.code = code
        self.http_status = http_status
        self.ws_close_code = ws_close_code


class InvalidInput(ValueError):
    """Bad input from a client; carries the field at fault and the kind of problem."""

    def __init__(self, problem: Problem, field: str | None, reason: str) -> None:
        self.problem = problem
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def to_json(self) -> dict[str, Any]:
        """The `{"error": ...}` body every HTTP target answers with."""
        return {"error": str(self), "kind": self.problem.code, "field": self.field}

    def close_reason(self) -> str:
        """A WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5)."""
        return str(self).encode()[:123].decode(errors="ignore")


@dataclass(frozen=True, slots=True)
class Publish:
    """What a publishing client sends: room, sender, seq, body and its own clock at send."""

    room: str
    sender: str
    seq: int
    body: str
    sent_at: float

    def to_message(self, message_id: int | None, server_at: float) -> Message:
        """The delivered message, once the server has stamped id and receipt time."""
        return Message(
            message_id, self.room, self.sender, self.seq, self.body, self.sent_at, server_at
        )

    def to_json(self, *, action: str | None = None) -> dict[str, Any]:
        """The publish payload: a POST body, or a WebSocket frame when `action` is given."""
        payload: dict[str, Any] = {
            "room": self.room,
            "sender": self.sender,
            "seq": self.seq,
            "body": self.body,
            "sent_at": self.sent_at,
        }
        if action is not None:
            payload = {"action": action, **payload}
        return payload


@dataclass(frozen=True, slots=True)
class Message:
    """A message as every target delivers it (docs/design.md "Messages")."""

    id: int | None
    room: str
    sender: str
    seq: int
    body: str
    sent_at: float
    server_at: float

    def to_json(self) -> dict[str, Any]:
        """The delivered JSON object, keys in contract order."""
        return {
            "id": self.id,
            "room": self.room,
            "sender": self.sender,
            "seq": self.seq,
            "body": self.body,
            "sent_at": self.sent_at,
            "server_at": self.server_at,
        }

    def encode(self) -> bytes:
        """Serialize with the shared codec."""
        return codec.dumps(self.to_json())


def validate_room(room: object, field: str = "room") -> str:
    """Return the room name, or raise InvalidInput if it is not `^[A-Za-z0-9_-]{1,64}$`."""
    if not isinstance(room, str) or ROOM_PATTERN.fullmatch(room) is None:
        raise InvalidInput(Problem.INVALID_ROOM, field, "must match ^[A-Za-z0-9_-]{1,64}$")
    return room


def decode_object(payload: bytes | str) -> dict[str, Any]:
    """Size-check, UTF-8-check and parse a JSON object, or raise InvalidInput."""
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidInput(
            Problem.TOO_LARGE, None, f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}"
        )
    if not raw.strip():
        raise InvalidInput(Problem.EMPTY, None, "empty body")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem.NOT_UTF8, None, f"not valid UTF-8 at byte {exc.start}") from None
    try:
        data = codec.loads(raw)
    except codec.JSONDecodeError as exc:
        raise InvalidInput(Problem.NOT_JSON, None, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(Problem.INVALID_FIELD, None, "must be a JSON object")
    return data


def parse_publish(data: dict[str, Any], *, room: str | None = None) -> Publish:
    """Validate a decoded publish payload. `room` is the room from the URL, if any."""
    body_room = data.get("room")
    if room is None:
        if "room" not in data:
            raise InvalidInput(Problem.INVALID_FIELD, "room", "missing")
        room = validate_room(body_room)
    elif body_room is not None and body_room != room:
        raise InvalidInput(Problem.INVALID_FIELD, "room", "does not match the room in the URL")
    sender = data.get("sender")
    if not isinstance(sender, str) or not 1 <= len(sender) <= MAX_SENDER_CHARS:
        raise InvalidInput(
            Problem.INVALID_FIELD, "sender", f"must be a string of 1..{MAX_SENDER_CHARS} chars"
        )
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise InvalidInput(Problem.INVALID_FIELD, "seq", "must be an integer >= 1")
    body = data.get("body")
    if not isinstance(body, str):
        raise InvalidInput(Problem.INVALID_FIELD, "body", "must be a string")
    sent_at = data.get("sent_at")
    if (
        not isinstance(sent_at, int | float)
        or isinstance(sent_at, bool)
        or not math.isfinite(sent_at)
    ):
        raise InvalidInput(Problem.INVALID_FIELD, "sent_at", "must be a finite number (epoch s)")
    return Publish(room, sender, seq, body, float(sent_at))


def parse_action_frame(payload: bytes | str) -> Publish:
    """Validate a WebSocket frame `{"action": "sendMessage", ...}` (API Gateway route protocol)."""
    data = decode_object(payload)
    action = data.get("action")
    if action != SEND_ACTION:
        raise InvalidInput(
            Problem.UNKNOWN_ACTION, "action", f"unknown action {action!r}; expected {SEND_ACTION!r}"
        )
    return parse_publish(data)


def decode_message(data: bytes | str | dict[str, Any]) -> Message:
    """Parse a delivered message (client side); raises ValueError if it is not one."""
    obj = codec.loads(data) if not isinstance(data, dict) else data
    try:
        return Message(
            obj["id"],
            obj["room"],
            obj["sender"],
            obj["seq"],
            obj["body"],
            obj["sent_at"],
            obj["server_at"],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a delivered message: {exc}") from None


def padded_body(payload_bytes: int, prefix: str = "") -> str:
    """A body of exactly `payload_bytes` ASCII bytes (or the prefix, if longer)."""
    return prefix + "x" * max(0, payload_bytes - len(prefix))


HISTORY_LOST_FIELDS = {"since", "oldest_id"}
# What a room keeps for resume unless a server is told otherwise (docs/protocol.md "History").
HISTORY_SIZE_DEFAULT = 10_000
HISTORY_MAX_AGE_S_DEFAULT = 60.0


def is_history_lost(payload: object) -> bool:
    """Whether a payload is the "history lost" answer: a WebSocket `{"history_lost": ...}`
    frame, or the data of an SSE `history_lost` event (docs/protocol.md)."""
    return isinstance(payload, dict) and (
        "history_lost" in payload or set(payload) == HISTORY_LOST_FIELDS
    )
