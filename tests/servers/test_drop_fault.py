"""`--admin`: `POST /_admin/drop` ends every subscriber connection at once; off by default."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.sync.client import connect

from contract import codec
from contract.registry import ASGI_LAUNCHER, TARGETS
from servers.brokers.fanout import DROP_REASON
from tbench.process import TargetProcess
from tests.servers.helpers import (
    TIMEOUT,
    connections,
    event_stream,
    http_root,
    new_room,
    payload,
    publish,
)
from tests.waiting import wait_until

LAUNCHED = [name for name, spec in TARGETS.items() if spec.launcher == ASGI_LAUNCHER]


def drop_fault(server: TargetProcess) -> dict[str, int]:
    """Trigger the fault; its answer."""
    response = httpx.post(f"{http_root(server)}/_admin/drop", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    answer: dict[str, int] = response.json()
    assert set(answer) == {"dropped", "connections"}
    return answer


def drop(server: TargetProcess) -> int:
    """Trigger the fault; how many subscriptions and held polls it ended."""
    return drop_fault(server)["dropped"]


def raw_get(client: socket.socket, server: TargetProcess, path: str) -> bytes:
    """One keep-alive GET on an open socket; the response head and body (Content-Length)."""
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = client.recv(65536)
        assert chunk, "the server closed before answering"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = client.recv(65536)
        assert chunk, "the server closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("name", LAUNCHED)
def test_there_is_no_admin_endpoint_unless_asked(name: str, request: pytest.FixtureRequest):
    server: TargetProcess = request.getfixturevalue(name.replace("-", "_"))
    response = httpx.post(f"{http_root(server)}/_admin/drop", timeout=TIMEOUT)
    assert response.status_code == 404


@pytest.mark.parametrize("name", LAUNCHED)
def test_drop_with_nobody_connected_ends_nothing(
    name: str, opted_in: Callable[[str], TargetProcess]
):
    assert drop(opted_in(name)) == 0


def test_drop_ends_sse_streams_and_last_event_id_resumes(
    opted_in: Callable[[str], TargetProcess],
):
    server = opted_in("sse")
    room = new_room()
    with event_stream(server, room) as stream:
        publish(server, room, seq=1)
        assert stream.next_event()["id"] == "1"
        assert drop(server) == 1
        with pytest.raises(EOFError):
            stream.next_event()
    publish(server, room, seq=2)  # while nobody listens
    with event_stream(server, room, headers={"Last-Event-ID": "1"}) as stream:
        assert codec.loads(stream.next_event()["data"])["seq"] == 2
    wait_until(lambda: connections(server) == 0)


def test_drop_closes_websockets_1012_and_since_resumes(opted_in: Callable[[str], TargetProcess]):
    server = opted_in("websocket")
    room = new_room()
    with connect(f"{server.url}?room={room}", open_timeout=10) as ws:
        wait_until(lambda: connections(server) == 1)
        answer = drop_fault(server)
        assert answer["dropped"] == 1
        assert answer["connections"] >= 1  # the app closes it (with its reason), not uvicorn
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        CloseCode.SERVICE_RESTART,
        DROP_REASON,
    )
    wait_until(lambda: connections(server) == 0)


def test_drop_answers_held_long_polls_at_once(opted_in: Callable[[str], TargetProcess]):
    server = opted_in("long-polling")
    room = new_room()
    answers: list[tuple[float, httpx.Response]] = []

    def hold() -> None:
        url = f"{http_root(server)}/rooms/{room}/messages?since=0&wait=25"
        response = httpx.get(url, timeout=30)
        answers.append((time.monotonic(), response))

    poller = threading.Thread(target=hold)
    poller.start()
    wait_until(lambda: connections(server) == 1)
    dropped_at = time.monotonic()
    assert drop(server) == 1
    poller.join(timeout=20)
    answered_at, response = answers[0]
    assert answered_at - dropped_at < 10  # long before the 25 s wait
    assert response.status_code == 200
    assert response.json() == {"messages": [], "last_id": 0}
    assert response.headers["connection"] == "close"  # and its connection closes after it


def test_drop_closes_idle_keep_alive_connections_and_the_server_serves_on(
    opted_in: Callable[[str], TargetProcess],
) -> None:
    server = opted_in("short-polling")
    room = new_room()
    path = f"/rooms/{room}/messages?since=0"
    with socket.create_connection((server.host, server.port), timeout=10) as client:
        assert raw_get(client, server, path).startswith(b"HTTP/1.1 200")
        assert raw_get(client, server, path).startswith(b"HTTP/1.1 200")  # kept alive
        answer = drop_fault(server)
        assert answer["dropped"] == 0  # a short poll holds nothing
        assert answer["connections"] >= 1  # this one (the caller's own is not counted)
        assert client.recv(1) == b""  # closed by the server: EOF, not a timeout
    publish(server, room, seq=1)  # HTTP publish on a new connection
    with socket.create_connection((server.host, server.port), timeout=10) as client:
        response = raw_get(client, server, path)
        assert response.startswith(b"HTTP/1.1 200")
        assert b'"last_id":1' in response
    assert httpx.get(f"{http_root(server)}/healthz", timeout=TIMEOUT).status_code == 200


def test_a_keep_alive_client_reconnects_after_a_drop(
    opted_in: Callable[[str], TargetProcess],
) -> None:
    server = opted_in("short-polling")
    room = new_room()
    with httpx.Client(base_url=http_root(server), timeout=TIMEOUT) as client:
        publish_url = f"/rooms/{room}/messages"
        assert client.post(publish_url, content=payload(1)).status_code == 201
        drop(server)
        assert client.post(publish_url, content=payload(2)).status_code == 201
        assert client.get(publish_url, params={"since": "0"}).json()["last_id"] == 2
