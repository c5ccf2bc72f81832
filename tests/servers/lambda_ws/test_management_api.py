"""The lean @connections server: HTTP/1.1 parsing, keep-alive, routing, the body limit."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Iterator

import pytest
from starlette.responses import JSONResponse, Response

from servers.lambda_ws.management_api import BodyReader, close_server, serve_management_api

MAX_BODY = 16
Call = tuple[str, str, str, int, bytes]


@pytest.fixture
def server() -> Iterator[tuple[int, list[Call]]]:
    """The server on a loopback port, answering with what it was asked; the calls it made."""
    calls: list[Call] = []

    async def call(method: str, stage: str, conn: str, size: int, read: BodyReader) -> Response:
        calls.append((method, stage, conn, size, await read()))
        if conn == "gone":
            return JSONResponse({"message": None}, 410, {"x-amzn-ErrorType": "GoneException"})
        return Response(status_code=200)

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[asyncio.Server] = []

    async def run() -> None:
        holder.append(await serve_management_api(call, MAX_BODY, sock))
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(run(), loop).result(5)
    assert started.wait(5)
    yield port, calls
    asyncio.run_coroutine_threadsafe(close_server(holder[0]), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def client(server: tuple[int, list[Call]]) -> Iterator[http.client.HTTPConnection]:
    """A keep-alive HTTP/1.1 client of the server, closed afterwards."""
    connection = http.client.HTTPConnection("127.0.0.1", server[0], timeout=5)
    yield connection
    connection.close()


def test_requests_on_one_kept_alive_connection_are_answered_in_order(server, client):
    _, calls = server
    for connection_id, status in [("abc", 200), ("gone", 410), ("a%3Db", 200)]:
        client.request("POST", f"/local/@connections/{connection_id}", body=b"hello")
        response = client.getresponse()
        body = response.read()
        assert response.status == status
        if status == 410:
            assert response.getheader("x-amzn-ErrorType") == "GoneException"
            assert body == b'{"message":null}'
    assert calls == [
        ("POST", "local", "abc", 5, b"hello"),
        ("POST", "local", "gone", 5, b"hello"),
        ("POST", "local", "a=b", 5, b"hello"),  # the id percent-decoded, as boto3 encodes it
    ]


def test_a_body_over_the_limit_is_counted_whole_but_kept_only_past_the_limit(server, client):
    _, calls = server
    client.request("POST", "/local/@connections/abc", body=b"x" * 100)
    assert client.getresponse().status == 200
    assert calls == [("POST", "local", "abc", 100, b"x" * (MAX_BODY + 1))]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/local/other/abc", 404),
        ("POST", "/local/@connections/", 404),
        ("GET", "/healthz", 404),
        ("PUT", "/local/@connections/abc", 405),
    ],
)
def test_other_paths_and_methods_are_refused(server, client, method, path, status):
    _, calls = server
    client.request(method, path, body=b"")
    assert client.getresponse().status == status
    assert calls == []


def test_a_malformed_request_is_answered_400_and_closed(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert sock.recv(4096) == b""  # closed
