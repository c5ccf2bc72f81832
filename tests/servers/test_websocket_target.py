from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from contract import codec
from contract.messages import MAX_MESSAGE_BYTES, SEND_ACTION
from tbench.process import TargetProcess
from tests.servers.helpers import connections, new_room
from tests.waiting import wait_until

RECV_TIMEOUT_S = 10.0


def ws_url(server: TargetProcess, room: str | None, since: int | None = None) -> str:
    query = [f"room={room}"] if room is not None else []
    if since is not None:
        query.append(f"since={since}")
    return f"{server.url}?{'&'.join(query)}"


@contextmanager
def opened(
    server: TargetProcess, room: str | None, since: int | None = None
) -> Iterator[ClientConnection]:
    with connect(
        ws_url(server, room, since), open_timeout=10, close_timeout=5, max_size=None
    ) as ws:
        yield ws


def frame(room: str, seq: int = 1, **overrides: Any) -> str:
    fields = {
        "action": SEND_ACTION,
        "room": room,
        "sender": "ws-user",
        "seq": seq,
        "body": f"message {seq}",
        "sent_at": time.time(),
        **overrides,
    }
    return codec.dumps_str(fields)


def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = codec.loads(ws.recv(timeout=RECV_TIMEOUT_S))
    return message


def read_until_closed(ws: ClientConnection, got: list[int] | None = None) -> tuple[int, str]:
    """Read (collecting message ids in `got`) until the server closes; its code and reason."""
    while True:
        try:
            message = ws.recv(timeout=RECV_TIMEOUT_S)
        except ConnectionClosed as closed:
            received = closed.rcvd
            break
        if got is not None:
            got.append(codec.loads(message)["id"])
    assert received is not None, "the server did not send a close frame"
    return received.code, received.reason


def test_own_frame_is_echoed_as_the_stored_message(websocket: TargetProcess):
    room = new_room()
    with opened(websocket, room) as ws:
        before = time.time()
        ws.send(frame(room, seq=1))
        message = receive(ws)
    assert list(message) == ["id", "room", "sender", "seq", "body", "sent_at", "server_at"]
    assert (message["id"], message["room"], message["seq"]) == (1, room, 1)
    assert message["server_at"] >= before - 1


def test_every_member_receives_every_message_in_order(websocket: TargetProcess):
    room = new_room()
    with opened(websocket, room) as alice, opened(websocket, room) as bob:
        wait_until(lambda: connections(websocket) >= 2)
        for seq in range(1, 6):
            alice.send(frame(room, seq, sender="alice"))
        bob.send(frame(room, 1, sender="bob"))
        for ws in (alice, bob):
            got = [receive(ws) for _ in range(6)]
            assert [m["id"] for m in got] == [1, 2, 3, 4, 5, 6]
            assert {(m["sender"], m["seq"]) for m in got} == {
                *(("alice", seq) for seq in range(1, 6)),
                ("bob", 1),
            }
    wait_until(lambda: connections(websocket) == 0)


def test_reconnect_with_since_resumes_without_gap(websocket: TargetProcess):
    room = new_room()
    with opened(websocket, room) as ws:
        for seq in range(1, 5):
            ws.send(frame(room, seq))
        assert [receive(ws)["id"] for _ in range(4)] == [1, 2, 3, 4]
    with opened(websocket, room, since=2) as ws:
        assert [receive(ws)["id"] for _ in range(2)] == [3, 4]
        ws.send(frame(room, 5))
        assert receive(ws)["id"] == 5
    with opened(websocket, room, since=99) as ws:  # stale cursor: from the start
        assert receive(ws)["id"] == 1


def test_exactly_128_kib_frame_is_accepted(websocket: TargetProcess):
    room = new_room()
    unpadded = len(frame(room, body="", sent_at=1.5).encode())
    big = frame(room, body="x" * (MAX_MESSAGE_BYTES - unpadded), sent_at=1.5)
    assert len(big.encode()) == MAX_MESSAGE_BYTES
    with opened(websocket, room) as ws:
        ws.send(big)
        assert receive(ws)["id"] == 1


BAD_FRAMES: list[tuple[str, Any, int, str]] = [
    ("binary frame", b'{"action": "sendMessage"}', CloseCode.UNSUPPORTED_DATA, "binary"),
    ("not UTF-8 text", "invalid-utf8", CloseCode.INVALID_DATA, "UTF-8"),
    ("malformed JSON", '{"action": "sendMessage", ', CloseCode.INVALID_DATA, "malformed JSON"),
    ("empty", "  ", CloseCode.INVALID_DATA, "empty"),
    ("not an object", "[1, 2]", CloseCode.INVALID_DATA, "object"),
    ("missing field", "missing-body", CloseCode.INVALID_DATA, "body"),
    ("wrong type", "seq-as-string", CloseCode.INVALID_DATA, "seq"),
    ("invalid room in frame", "bad-room", CloseCode.POLICY_VIOLATION, "room"),
    ("other room in frame", "other-room", CloseCode.POLICY_VIOLATION, "room"),
    ("unknown action", "unknown-action", CloseCode.POLICY_VIOLATION, "action"),
    ("over 128 KiB", "too-big", CloseCode.MESSAGE_TOO_BIG, "exceeds"),
]


def _bad_frame(kind: Any, room: str) -> str | bytes:
    builders: dict[str, Any] = {
        "missing-body": lambda: codec.dumps_str(
            {"action": SEND_ACTION, "room": room, "sender": "u", "seq": 1, "sent_at": 1.0}
        ),
        "seq-as-string": lambda: frame(room, seq="1"),
        "bad-room": lambda: frame("bad.room"),
        "other-room": lambda: frame(f"{room}-other"),
        "unknown-action": lambda: frame(room, action="sendmessage"),
        "too-big": lambda: frame(room, body="x" * MAX_MESSAGE_BYTES),
    }
    return builders[kind]() if kind in builders else kind  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "kind", "code", "reason_part"), BAD_FRAMES)
def test_bad_frames_close_with_the_protocol_code(
    websocket: TargetProcess, name: str, kind: Any, code: int, reason_part: str
):
    room = new_room()
    with opened(websocket, room) as ws:
        if kind == "invalid-utf8":
            ws.send(b'{"action": "\xff"}', text=True)
        else:
            ws.send(_bad_frame(kind, room))
        got_code, reason = read_until_closed(ws)
    assert got_code == code, (name, reason)
    assert reason_part in reason
    # The server survives, nothing was published, and bad input is no error in its log.
    with opened(websocket, room, since=0) as ws:
        ws.send(frame(room))
        assert receive(ws)["id"] == 1
    assert "Traceback" not in websocket.log_tail()


@pytest.mark.parametrize(
    ("query_room", "since", "code", "field"),
    [
        (None, None, CloseCode.POLICY_VIOLATION, "room"),
        ("bad.room", None, CloseCode.POLICY_VIOLATION, "room"),
        ("ok", "x", CloseCode.INVALID_DATA, "since"),
    ],
)
def test_bad_query_is_accepted_then_closed_with_a_reason(
    websocket: TargetProcess, query_room: str | None, since: Any, code: int, field: str
):
    with opened(websocket, query_room, since=since) as ws:
        got_code, reason = read_until_closed(ws)
    assert got_code == code
    assert reason.startswith(f"{field}:")
