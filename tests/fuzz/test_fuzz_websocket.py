"""Bad-input fuzzing of every WebSocket target (the lambda emulator's error frames included),
each started once for this module.

Frames, room names and cursors in the query, handshakes and frames cut off mid-way: each
answer must be the one docs/protocol.md specifies (the close code with a reason, or on an
API Gateway target an error frame of the right kind), and after all of it the server must be
healthy, serve a fresh pair of clients and hold no connection.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from conformance import endpoints
from conformance.checks.bad_input_ws import FrameCase, case_problem, websocket_case_failures
from conformance.websocket import open_websocket, send_text
from contract import codec
from contract.messages import Problem
from contract.registry import TargetSpec
from tests.fuzz.conftest import (
    WEBSOCKET_TARGETS,
    Harness,
    close_abruptly,
    connect_raw,
    serves_after_fuzzing,
    start_harness,
)
from tests.fuzz.strategies import (
    CURSORS,
    FUZZ_SETTINGS,
    INVALID_ROOMS,
    SIDE_SETTINGS,
    Payload,
    cursor_is_valid,
    frames,
)

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

ROOM = "fuzz-ws"
ECHO_TIMEOUT_S = 30.0  # generous: a Lambda cold start on a shared 2-core machine


@pytest.fixture(scope="module", params=WEBSOCKET_TARGETS, ids=lambda spec: spec.name)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The target's server, started once for all of this module's tests."""
    spec: TargetSpec = request.param
    yield from start_harness(spec)


async def echo_problem(harness: Harness, room: str, frame: bytes, url: str | None = None) -> str:
    """Send a valid frame; "" if its sender's own echo came back as sent, else what did."""
    sent = codec.loads(frame)
    ws = await open_websocket(url or endpoints.websocket_url(harness.ctx.base_url, room))
    try:
        await send_text(ws, frame)
        async with asyncio.timeout(ECHO_TIMEOUT_S):
            while True:
                echo = codec.loads(await ws.recv())
                if "error" in echo or echo.get("sender") != sent["sender"]:
                    return f"answered {codec.dumps_str(echo)[:200]}"
                got = (echo["room"], echo["seq"], echo["body"])
                want = (room, sent["seq"], sent["body"])
                return "" if got == want else f"echo {got!r}, sent {want!r}"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code if exc.rcvd else None} instead of echoing"
    except TimeoutError:
        return f"no echo within {ECHO_TIMEOUT_S:g} s"
    finally:
        await ws.close()


def _check_frame(harness: Harness, payload: Payload) -> None:
    if payload.problem is None:
        assert harness.run(echo_problem(harness, ROOM, payload.data)) == "", payload.describe()
        return
    case = FrameCase(payload.describe(), payload.data, payload.problem, as_text=not payload.binary)
    problem = harness.run(case_problem(harness.ctx, ROOM, case))
    assert problem is None, problem


@FUZZ_SETTINGS
@given(payload=frames(ROOM))
def test_frames_get_their_specified_answer(harness: Harness, payload: Payload):
    _check_frame(harness, payload)


@SIDE_SETTINGS
@given(room=INVALID_ROOMS.filter(bool))
def test_invalid_rooms_in_the_query_are_refused(harness: Harness, room: str):
    case = FrameCase(f"room {room!r} in the query", None, Problem.INVALID_ROOM, room=room)
    problem = harness.run(case_problem(harness.ctx, ROOM, case))
    assert problem is None, problem


@SIDE_SETTINGS
@given(since=CURSORS)
def test_since_in_the_query_is_an_integer_or_refused_1007(harness: Harness, since: str):
    if not harness.spec.supports_resume:
        pytest.skip("the target takes no cursor (no history to resume from)")
    quoted = urllib.parse.quote(since, safe="")
    if cursor_is_valid(since):
        room = harness.ctx.new_room("fuzz-since")  # empty: a cursor replays no older message
        url = endpoints.websocket_url(harness.ctx.base_url, room) + f"&since={quoted}"
        frame = codec.dumps(
            {
                "action": "sendMessage",
                "room": room,
                "sender": "c",
                "seq": 1,
                "body": "",
                "sent_at": 1,
            }
        )
        assert harness.run(echo_problem(harness, room, frame, url)) == ""
        return
    case = FrameCase(f"since={since!r}", None, Problem.INVALID_FIELD, since=quoted)
    problem = harness.run(case_problem(harness.ctx, ROOM, case))
    assert problem is None, problem


def _upgrade_request(harness: Harness) -> bytes:
    path = urllib.parse.urlsplit(harness.server.url).path or "/"
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path}?room={ROOM} HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked_text_frame(payload: bytes) -> bytes:
    """A client-to-server text frame (FIN, masked), as RFC 6455 §5.2 lays it out."""
    mask = os.urandom(4)
    if len(payload) < 126:
        header = bytes([0x81, 0x80 | len(payload)])
    else:
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@SIDE_SETTINGS
@given(
    stage=st.sampled_from(["handshake", "frame"]),
    fraction=st.floats(0, 1),
    reset=st.booleans(),
)
def test_handshakes_and_frames_cut_off_midway_leave_the_server_serving(
    harness: Harness, stage: str, fraction: float, reset: bool
):
    request = _upgrade_request(harness)
    sock = connect_raw(harness)
    if stage == "handshake":
        sock.sendall(request[: round(len(request) * fraction)])
    else:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, f"closed before the handshake ended: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 101 "), answer[:200]
        body = codec.dumps(
            {
                "action": "sendMessage",
                "room": ROOM,
                "sender": "cut",
                "seq": 1,
                "body": "x" * 200,
                "sent_at": time.time(),
            }
        )
        frame = masked_text_frame(body)
        sock.sendall(frame[: round(len(frame) * fraction)])  # all of it: gone mid-publish
    close_abruptly(sock, reset=reset)
    assert harness.healthy()


def test_the_conformance_cases_still_pass_after_fuzzing(harness: Harness):
    cases, failures, _ = harness.run(websocket_case_failures(harness.ctx))
    assert failures == [], failures
    assert cases > 10


def test_afterwards_the_server_is_healthy_serves_new_clients_and_holds_nothing(
    harness: Harness,
):
    serves_after_fuzzing(harness)
