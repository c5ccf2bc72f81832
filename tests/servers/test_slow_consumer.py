"""Drop-and-disconnect: a reader that stops reading is cut off, then resumes from its cursor."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.frames import CloseCode
from websockets.sync.client import connect

from contract import codec
from tbench.process import TargetProcess
from tests.servers.conftest import started
from tests.servers.helpers import TIMEOUT, connections, event_stream, http_root, new_room, payload
from tests.servers.test_websocket_target import frame, read_until_closed, receive, ws_url

# Above the 32 frames uvicorn reads from one socket in a burst, which a publisher's own echo
# queue must absorb.
QUEUE_SIZE = 64
BODY = "x" * 64 * 1024
# Enough to fill the stalled reader's receive buffer, the server's socket send buffer (tcp_wmem
# max is a few MiB) and transport buffer, and then the queue, with room to spare. The reader's
# receive buffer keeps its default size: shrinking it can stall loopback TCP in zero-window
# probing for minutes, which would test the kernel, not the server.
MESSAGES = 240
SLOW_REASON = f"slow consumer: send queue of {QUEUE_SIZE} messages full"


@pytest.fixture(scope="module")
def small_queue_sse() -> Iterator[TargetProcess]:
    with started("sse", "--queue-size", str(QUEUE_SIZE)) as server:
        yield server


@pytest.fixture(scope="module")
def small_queue_websocket() -> Iterator[TargetProcess]:
    with started("websocket", "--queue-size", str(QUEUE_SIZE)) as server:
        yield server


def test_stalled_websocket_reader_is_closed_1008_and_resumes(small_queue_websocket: TargetProcess):
    server = small_queue_websocket
    room = new_room("slow")
    # max_queue=1: the client library stops reading the socket as soon as one message waits.
    with (
        connect(ws_url(server, room), max_queue=1, open_timeout=10) as stalled,
        connect(ws_url(server, room), max_queue=None, max_size=None, open_timeout=10) as fast,
    ):
        # The publisher reads its own echo before the next send, so it never has more than one
        # message queued: sending all first let a starved client thread fall 64 frames behind
        # on a loaded machine, and the server rightly cut the publisher off too.
        for seq in range(1, MESSAGES + 1):
            fast.send(frame(room, seq, body=BODY))
            assert receive(fast)["seq"] == seq
        got: list[int] = []
        assert read_until_closed(stalled, got) == (CloseCode.POLICY_VIOLATION, SLOW_REASON)
    assert 0 < len(got) < MESSAGES
    assert got == list(range(1, len(got) + 1))  # cut off, never a silent gap
    with connect(ws_url(server, room, since=got[-1]), max_size=None, open_timeout=10) as resumed:
        rest = [receive(resumed)["id"] for _ in range(MESSAGES - len(got))]
    assert rest == list(range(len(got) + 1, MESSAGES + 1))


def test_stalled_sse_reader_stream_ends_and_resumes(small_queue_sse: TargetProcess):
    server = small_queue_sse
    room = new_room("slow")
    with (
        httpx.Client(timeout=TIMEOUT) as client,  # reads the socket only when iterated
        client.stream("GET", f"{http_root(server)}/rooms/{room}/events") as stalled,
    ):
        assert stalled.status_code == 200
        with httpx.Client(base_url=http_root(server), timeout=TIMEOUT) as publisher:
            for seq in range(1, MESSAGES + 1):
                response = publisher.post(
                    f"/rooms/{room}/messages", content=payload(seq, body=BODY)
                )
                assert response.status_code == 201
        got = [
            codec.loads(line.removeprefix("data: "))["id"]
            for line in stalled.iter_lines()  # ends when the server ends the stream
            if line.startswith("data: ")
        ]
    assert 0 < len(got) < MESSAGES
    assert got == list(range(1, len(got) + 1))
    with event_stream(server, room, since=got[-1]) as resumed:
        rest = [int(resumed.next_event()["id"]) for _ in range(MESSAGES - len(got))]
    assert rest == list(range(len(got) + 1, MESSAGES + 1))
    assert connections(server) == 0


def test_pipelined_publisher_keeping_up_is_not_dropped(small_queue_websocket: TargetProcess):
    # Many small frames sent back to back arrive in a few socket reads; every member still
    # reads as fast as it can, so none of them is a slow consumer.
    server = small_queue_websocket
    room = new_room("burst")
    burst = QUEUE_SIZE * 8
    with (
        connect(ws_url(server, room), max_queue=None, open_timeout=10) as publisher,
        connect(ws_url(server, room), max_queue=None, open_timeout=10) as member,
    ):
        for seq in range(1, burst + 1):
            publisher.send(frame(room, seq, body="b"))
        for ws in (publisher, member):
            assert [receive(ws)["seq"] for _ in range(burst)] == list(range(1, burst + 1))
