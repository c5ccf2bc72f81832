"""`--max-connections`: at the cap new subscribers get 503 / close 1013, the server serves on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from contract import codec
from contract.messages import SEND_ACTION
from contract.registry import get_target
from servers.capacity import ConnectionCap, over_capacity_reason
from tbench.process import TargetProcess
from tests.servers.helpers import (
    TIMEOUT,
    connections,
    http_root,
    new_room,
    publish,
    started_on_first_use,
)
from tests.waiting import wait_until, wait_until_async

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

CAP = 5
RECV_S = 30.0  # generous: a Lambda cold start on a loaded 2-core machine
RETRY_FOR_S = 10.0  # a freed slot is counted free once the server has noticed the close


@pytest.fixture(scope="module")
def capped() -> Iterator[Callable[[str], TargetProcess]]:
    """Targets started with `--max-connections 5`, by name, on first use."""

    def start(name: str) -> TargetProcess:
        extra = ("--max-connections", str(CAP))
        if name == "long-polling":
            extra += ("--long-poll-max-wait-s", "120")  # held for the whole test
        return TargetProcess(get_target(name), extra_args=extra).start(60)

    with started_on_first_use(start) as get:
        yield get


# --- HTTP targets: held polls and event streams ---------------------------------------------


def _hold(server: TargetProcess, path: str) -> socket.socket:
    """Send a GET and leave it open (a held poll or a stream)."""
    sock = socket.create_connection((server.host, server.port), timeout=RECV_S)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def _subscribe_path(name: str, room: str) -> str:
    if name == "sse":
        return f"/rooms/{room}/events"
    return f"/rooms/{room}/messages?since=0&wait=120"


def _status_of_new_subscriber(server: TargetProcess, name: str) -> httpx.Response:
    """A new subscriber's answer, read no further than its head (a stream does not end)."""
    room = new_room("sixth")
    path = f"/rooms/{room}/events" if name == "sse" else f"/rooms/{room}/messages?wait=0.2"
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("GET", f"{http_root(server)}{path}") as response,
    ):
        if response.status_code != 200:
            response.read()
        return response


@pytest.mark.parametrize("name", ["long-polling", "sse"])
def test_http_subscribers_past_the_cap_get_503_and_the_server_serves_on(
    name: str, capped: Callable[[str], TargetProcess]
):
    server = capped(name)
    rooms = [new_room(f"held{i}") for i in range(CAP)]
    held = [_hold(server, _subscribe_path(name, room)) for room in rooms]
    try:
        wait_until(lambda: connections(server) == CAP)
        refused = _status_of_new_subscriber(server, name)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert refused.json() == {
            "error": over_capacity_reason(CAP),
            "kind": "over_capacity",
            "field": None,
        }
        # Healthy at the cap: health answers and publishes (never counted) go through.
        assert httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).status_code == 200
        assert publish(server, new_room("at-cap"))["id"] == 1
        # One subscriber leaves (a stream closed; a held poll answered by a message) ...
        if name == "sse":
            held.pop(0).close()
        else:
            publish(server, rooms[0])
            assert held[0].recv(4096).startswith(b"HTTP/1.1 200 ")
        # ... and a new one is served.
        wait_until(
            lambda: _status_of_new_subscriber(server, name).status_code == 200,
            "a new subscriber served once one left",
            timeout_s=RETRY_FOR_S,
            poll_s=0.1,
        )
    finally:
        for sock in held:
            sock.close()
        for room in rooms:  # answers what is still held, so the server is idle for the next test
            publish(server, room, seq=2)
    wait_until(lambda: connections(server) == 0)


# --- WebSocket targets -----------------------------------------------------------------------


def _open(server: TargetProcess, room: str) -> ClientConnection:
    return connect(f"{server.url}?room={room}", open_timeout=RECV_S, close_timeout=5)


def _echo(ws: ClientConnection, room: str, sender: str) -> dict[str, Any]:
    """Publish one frame and return the sender's own echo."""
    frame = {
        "action": SEND_ACTION,
        "room": room,
        "sender": sender,
        "seq": 1,
        "body": "hi",
        "sent_at": time.time(),
    }
    ws.send(codec.dumps_str(frame))
    echo: dict[str, Any] = codec.loads(ws.recv(timeout=RECV_S))
    return echo


def _newcomer_echo(server: TargetProcess, room: str) -> dict[str, Any] | None:
    """A new member's own echo, or None if it was refused (1013) as over capacity."""
    with _open(server, room) as ws:
        try:
            return _echo(ws, room, "newcomer")
        except ConnectionClosed as exc:
            refused = exc.rcvd.code if exc.rcvd is not None else None
    assert refused == CloseCode.TRY_AGAIN_LATER
    return None


@pytest.mark.parametrize("name", ["websocket", "lambda"])
def test_websocket_sessions_past_the_cap_are_closed_1013_and_the_server_serves_on(
    name: str, capped: Callable[[str], TargetProcess]
):
    server = capped(name)
    room = new_room("members")
    with contextlib.ExitStack() as stack:
        members = [stack.enter_context(_open(server, room)) for _ in range(CAP)]
        wait_until(lambda: connections(server) == CAP, timeout_s=RECV_S)
        with _open(server, new_room("sixth")) as sixth, pytest.raises(ConnectionClosed) as closed:
            sixth.recv(timeout=RECV_S)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            CloseCode.TRY_AGAIN_LATER,
            f"try again later: {CAP} connections open",
        )
        # Healthy at the cap: health answers and the members keep talking.
        assert httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).status_code == 200
        assert _echo(members[0], room, "at-cap")["sender"] == "at-cap"
        members.pop().close()
        # Served once the server has counted the leaver out (on lambda: after $disconnect).
        echo = wait_until(
            lambda: _newcomer_echo(server, room),
            "a newcomer served once a member left",
            timeout_s=RETRY_FOR_S,
            poll_s=0.1,
        )
        assert echo["sender"] == "newcomer"
    wait_until(lambda: connections(server) == 0, timeout_s=RECV_S)


# --- the middleware itself -------------------------------------------------------------------


def test_the_cap_counts_subscribers_only():
    """GETs and sessions count; publishes and /healthz neither count nor get refused."""
    release = asyncio.Event()

    async def held_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()

    async def scenario() -> list[Any]:
        cap = ConnectionCap(held_app, max_connections=2)
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "websocket.connect"}

        def http(method: str, path: str) -> dict[str, Any]:
            return {"type": "http", "method": method, "path": path, "headers": []}

        held = [
            asyncio.create_task(cap(http("GET", "/rooms/a/events"), receive, send)),
            asyncio.create_task(cap({"type": "websocket", "path": "/ws"}, receive, send)),
            asyncio.create_task(cap(http("POST", "/rooms/a/messages"), receive, send)),
            asyncio.create_task(cap(http("GET", "/healthz"), receive, send)),
        ]
        await wait_until_async(lambda: cap.open == 2, "the two subscribers counted")
        await cap(http("GET", "/rooms/b/messages"), receive, send)
        await cap({"type": "websocket", "path": "/ws"}, receive, send)
        release.set()
        await asyncio.gather(*held)
        assert cap.open == 0
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 503
    assert codec.loads(sent[1]["body"])["kind"] == "over_capacity"
    assert sent[2:] == [
        {"type": "websocket.accept"},
        {
            "type": "websocket.close",
            "code": CloseCode.TRY_AGAIN_LATER,
            "reason": over_capacity_reason(2),
        },
    ]


def _status_of_member(server: TargetProcess) -> int:
    """A long poll resuming with a cursor (a member coming back): its answer's status."""
    room = new_room("member")
    response = httpx.get(
        f"{http_root(server)}/rooms/{room}/messages?since=0&wait=0.2", timeout=TIMEOUT
    )
    return response.status_code


def test_members_resuming_with_a_cursor_come_first_up_to_twice_the_cap(
    capped: Callable[[str], TargetProcess],
):
    server = capped("long-polling")
    # newcomers (no cursor) fill the cap
    rooms = [new_room(f"new{i}") for i in range(2 * CAP)]
    held = [_hold(server, f"/rooms/{room}/messages?wait=120") for room in rooms[:CAP]]
    try:
        wait_until(lambda: connections(server) == CAP)
        assert _status_of_new_subscriber(server, "long-polling").status_code == 503
        assert _status_of_member(server) == 200  # at the cap a member still gets in
        # members fill the headroom: at twice the cap even a member is refused
        held += [_hold(server, f"/rooms/{room}/messages?since=0&wait=120") for room in rooms[CAP:]]
        wait_until(lambda: connections(server) == 2 * CAP)
        assert _status_of_member(server) == 503
    finally:
        for sock in held:
            sock.close()
        for room in rooms:
            publish(server, room, seq=2)
    wait_until(lambda: connections(server) == 0)


def test_short_polling_counts_the_connections_its_users_hold_between_polls(
    capped: Callable[[str], TargetProcess],
):
    server = capped("short-polling")
    # five users between polls: each holds a keep-alive connection, no request
    idle = [
        socket.create_connection((server.host, server.port), timeout=RECV_S) for _ in range(CAP)
    ]
    try:
        wait_until(lambda: _status_of_new_subscriber(server, "short-polling").status_code == 503)
        assert _status_of_member(server) == 200  # a member's next poll still gets in
    finally:
        for sock in idle:
            sock.close()
    wait_until(
        lambda: _status_of_new_subscriber(server, "short-polling").status_code == 200,
        "a new subscriber served once the idle connections closed",
        timeout_s=RETRY_FOR_S,
        poll_s=0.1,
    )
